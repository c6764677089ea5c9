"""report.json, typed: what a run was asked (`config`), what it used (`effective`), what it found and cost.

The flow builds one `Report` (curation/run/report.py), writes it as report.json, and hands the same
object to the command line's summary, `curate compare` and the dashboards: no reader goes
through string keys.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from curation.config import CurateConfig


class Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class Effective(Section):
    """Settings as the run used them: `auto` resolved, the model kind's defaults filled in."""

    method: str  # the method that scored: `auto` resolved, else the one asked for
    similarity: str  # embedding and blend's max or mean (`auto` chooses it)
    selection: str
    start: str  # the score's start point: theta0 or theta1
    warmup: dict[str, Any]  # the warmup config θT was trained with (the cache key hashes it)
    finetune: dict[str, Any] | None  # None with --skip-finetune
    gradcos: dict[str, Any] | None  # gradcos's own config, when it is the method


class Hashes(Section):
    validation: str
    pool: str
    warmup_key: str
    row_score_key: str


class Counts(Section):
    rows_read: int
    valid: int
    quarantined: int
    quarantine_reasons: dict[str, int]
    selected: int
    validation_rows: int
    warmup_rows: int
    eval_rows: int
    truncated: int = 0  # valid chat rows longer than --max-length, cut by --truncation


class Evaluation(Section):
    metric: str
    higher_is_better: bool
    selection: dict[str, float | None]
    random: dict[str, float | None]
    lift: float | None  # > 0: the selection did better than the random control
    rows: int
    eval_set: str  # "test" or "validation-holdout"
    finetune: dict[str, Any]


class CalibrationUse(Section):
    """How the warmup's capacity was chosen: the grid's table (one row per candidate), the winner, the cost."""

    status: str  # "hit", "miss" or "skipped" (too few validation rows to fold)
    key: str
    chosen: dict[str, Any]
    folds: int
    criterion: str
    reference_rows: int
    reference_hash: str
    table: list[dict[str, Any]]
    steps_trained: int  # by the calibration that found it (this run's cost only if status is "miss")
    seconds: float
    grid: str = ""  # the grid's name: by row kind, and `text-large-cpu` for a large causal LM on a CPU
    ruled_out: bool = False  # `--method auto`: embedding, judged first, ended the race (curation.racing)


class MethodChoiceUse(Section):
    """How `--method auto` chose: each candidate's held-out auc − ½ (mean, spread and per fold) on
    the calibration's folds against its reference sample, the winner, and what it means for a user."""

    status: str  # "hit", "miss" or "skipped" (too few validation rows to fold: the loss drop)
    key: str
    method: str
    similarity: str
    candidates: list[dict[str, Any]]
    folds: int
    outranks_percent: float | None  # the share of pool rows a held-out target row outranks (50: chance)
    separates: bool  # False: no candidate tells the target from the pool better than chance
    warning: str | None
    forward_passes: int  # θ0 passes for the embedding side (computed by the run that missed)
    seconds: float


class Damaged(Section):
    """Damaged cache entries found, set aside under <cache>/damaged/ and rebuilt."""

    pool: int = 0  # validated-pool entries
    warmup: int = 0
    row_scores: int = 0


class CacheUse(Section):
    pool: str  # the validated pool: "hit" (checked by an earlier run: no pool file read) or "miss"
    warmup: str  # "hit", "miss" or "not-used"
    calibration: str  # "hit", "miss", "skipped" or "not-used" (a fixed warmup, or a method without one)
    rows_scored: int
    rows_reused: int
    dir: str
    damaged: Damaged


class Scoring(Section):
    engine: str
    shards: int
    workers_used: int


class Cost(Section):
    """What the method cost: per-row model passes while scoring, warmup steps trained by this run,
    and the bytes it keeps per pool (the row-score cache's losses, gradcos's projected gradients)."""

    method: str
    scoring_forward_passes: int
    scoring_backward_passes: int
    warmup_steps: int
    calibration_steps: int  # trained by this run's calibration (0 on a hit)
    calibration_seconds: float
    bytes_stored: int
    score_seconds: float


class Report(Section):
    config: CurateConfig
    effective: Effective
    hashes: Hashes
    counts: Counts
    calibration: CalibrationUse | None
    method_choice: MethodChoiceUse | None  # None: the method was forced (--method NAME)
    selection_labels: dict[str, int] | None
    timings: dict[str, float]
    evaluation: Evaluation | None
    cache: CacheUse
    scoring: Scoring
    cost: Cost
    flow_run: str
    finished_at: str

    def warmup_words(self) -> str:
        """How θT was trained, in a few words: 'full, lr 0.001, 40 steps (calibrated: cache hit)'."""
        from curation.calibration import describe
        from curation.formats import kind_of

        words = describe(self.effective.warmup, kind_of(self.config.model))
        calibration = self.calibration
        if calibration is None:
            return f"{words} (fixed)"
        if calibration.status == "skipped":
            return f"{words} (not calibrated: too few validation rows)"
        if calibration.grid == "fixed":
            return f"{words} (fixed; judged on {calibration.folds} folds: cache {calibration.status})"
        if calibration.ruled_out:  # embedding's figure ended the race: the loss drop's best, on fewer folds
            judged = max((row.get("folds", 0) for row in calibration.table), default=0)
            return f"{words} (the loss drop ruled out by embedding after {judged} of {calibration.folds} folds)"
        return f"{words} (calibrated on {calibration.folds} folds: cache {calibration.status})"

    def method_words(self) -> str:
        """Which method scored and why, in a line (two with the no-separation warning)."""
        from curation.method_choice import MethodChoice

        choice = self.method_choice
        if choice is None:
            return f"method: {self.effective.method} (forced with --method)"
        fields = {"candidates": choice.candidates, "folds": choice.folds, "status": choice.status}
        return MethodChoice(choice.method, choice.similarity, **fields).words()

    def as_json(self) -> dict[str, Any]:
        """The report as report.json holds it."""
        return self.model_dump(mode="json")
