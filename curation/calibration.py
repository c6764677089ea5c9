"""Calibrating the warmup to its target: the capacity (scope, learning rate, steps) that makes θT specific.

How much the warmup may change the model decides whether the score finds the target: too little
and every row's loss barely moves, too much and θT learns what all text shares. As the seed
paper does, each candidate is trained on k−1 folds of the validation set and judged on the
held-out fold against a reference sample of the pool, by a specificity:

- `auc` (the default; zero-order, forward passes only): the chance that a held-out row's
  normalized drop beats a reference row's, minus ½. It asks what a top-k selection needs, that
  held-out target rows rank above generic ones, and does not reward a warmup merely for moving
  every loss more (benchmarks/RESULTS.md, "The score's start point and the calibrated warmup": on
  man-page text the plain difference and a standardized one picked warmups that select worse).
- `drop`: the held-out fold's mean normalized drop minus the reference's.
- `gradient` (the seed paper's): the cosine of the held-out fold's gradient with the training
  folds' minus the reference's, at the checkpoint.

Steps are checkpoints along one training run per (scope, lr) and fold. The grid is raced fold by
fold (curation.racing): a candidate that cannot reach the best figure so far (for `--method auto`,
embedding similarity's, judged first) is dropped, only the better half goes on to the next fold,
and a run past its peak on the first fold stops. The candidate with the highest mean specificity
wins; ties go to the cheaper one (fewer steps, then the smaller scope, then the smaller lr). The
winner is then trained on the whole validation set as θT (curation.cache.warmups).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from curation.grids import Grid
from curation.models import ModelAdapter, WarmupConfig
from curation.racing import Race
from curation.rows import HASH_COLUMN
from curation.signals import score_formula

MIN_FOLD_ROWS = 4  # a held-out fold smaller than this says nothing: fewer rows, fewer folds
SCOPE_COST = {"attention": 0, "wide": 1, "full": 2}
TIE = 1e-9


@dataclass
class Calibration:
    """The chosen warmup, the grid's table (one row per candidate) and what finding it cost."""

    config: WarmupConfig
    table: list[dict[str, Any]]
    folds: int
    steps_trained: int
    seconds: float
    criterion: str
    reference_rows: int
    reference_hash: str = ""
    grid: str = ""  # the grid's name (GRIDS)
    # The winner's normalized drops on each fold: {"held": [...], "reference": [...]}, what
    # `--method auto` ranks against embedding similarity (curation.method_choice).
    fold_scores: list[dict[str, list[float]]] = dataclasses.field(default_factory=list)
    ruled_out: bool = False  # the rival's figure ended the race: no loss-drop candidate could reach it
    fold_similarities: list = dataclasses.field(default_factory=list)  # the rival's rows (method_choice)
    status: str = "miss"  # "hit" (read from the cache), "miss" (computed by this run), "skipped" (too few rows)
    key: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("status", "key")}

    @classmethod
    def skipped(cls, config: WarmupConfig, folds: int, criterion: str) -> Calibration:
        """No calibration: too few validation rows to fold; `config` is used as it is."""
        return cls(
            config, [], folds, steps_trained=0, seconds=0.0, criterion=criterion, reference_rows=0, status="skipped"
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], status: str) -> Calibration:
        fields = {k: v for k, v in data.items() if k not in ("config", "key")}
        return cls(config=WarmupConfig(**data["config"]), status=status, **fields)


def describe(config: dict[str, Any], kind: str) -> str:
    """A warmup config in a few words: 'full, lr 0.001, 40 steps' ('all weights' for a classifier)."""
    scope = config["scope"] + (f" rank {config['lora_rank']}" if config["scope"] != "full" else "")
    return f"{scope if kind == 'text' else 'all weights'}, lr {config['lr']:g}, {config['steps']} steps"


def fold_count(rows: int, wanted: int) -> int:
    """Folds for `rows` validation rows: `wanted`, fewer if a fold would hold under MIN_FOLD_ROWS."""
    return max(0, min(wanted, rows // MIN_FOLD_ROWS))


def fold_positions(hashes: pd.Series, folds: int) -> list[np.ndarray]:
    """Disjoint folds covering every row, by content hash: the same rows give the same folds
    whatever their order in the file."""
    order = np.argsort(np.asarray(hashes, dtype=object).astype(str), kind="stable")
    return [np.sort(order[i::folds]) for i in range(folds)]


def rank_specificity(held: np.ndarray, ref: np.ndarray) -> float:
    """P(a held-out row outscores a reference row) − ½, ties counting half: 0 when the warmup tells
    them apart no better than chance (or moved nothing), ½ when every held-out row is ahead."""
    ranks = pd.Series(np.concatenate([held, ref])).rank(method="average").to_numpy()  # Mann-Whitney U
    wins = ranks[: len(held)].sum() - len(held) * (len(held) + 1) / 2
    return float(wins / (len(held) * len(ref))) - 0.5


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b) / norm if norm > 0 else 0.0


@dataclass(frozen=True)
class Trial:
    """What a calibration judges on: the validation rows, the reference sample, the warmup the grid
    varies, the grid, the number of folds and the criterion."""

    validation: pd.DataFrame
    reference: pd.DataFrame
    base: WarmupConfig
    grid: Grid
    folds: int
    criterion: str = "auc"
    rival: tuple[float, ...] | None = None  # the cheaper method's figure per fold (curation.racing)


@dataclass(frozen=True)
class Judge:
    """The specificity of the model as trained so far on one fold.

    Candidates are judged by the drop from θ0, whatever `--start` the run scores from: θ0's losses
    do not depend on the candidate, so they are computed once per fold and for the reference
    (`base`, shared by every candidate), and each checkpoint costs one forward pass per row; the
    calibration, like θT, then serves both start points.
    """

    adapter: ModelAdapter
    trial: Trial
    held: pd.DataFrame
    train: pd.DataFrame
    fold: int
    base: dict  # θ0's losses per fold and of the reference, shared by every candidate

    @property
    def criterion(self) -> str:
        return self.trial.criterion

    @property
    def reference(self) -> pd.DataFrame:
        return self.trial.reference

    def _base(self, name: str, rows: pd.DataFrame) -> np.ndarray:
        if name not in self.base:
            self.base[name] = self.adapter.losses(rows, "theta0")
        return self.base[name]

    def __call__(self) -> tuple[float, dict[str, list[float]]]:
        """The specificity, and the held-out and reference rows' normalized drops it came from."""
        adapter = self.adapter
        held = score_formula(self._base(f"fold-{self.fold}", self.held), adapter.losses(self.held, "warm"))
        ref = score_formula(self._base("reference", self.reference), adapter.losses(self.reference, "warm"))
        drops = {"held": held.tolist(), "reference": ref.tolist()}
        if self.criterion == "gradient":
            direction = adapter.warm_gradient(self.train)
            held_g, ref_g = adapter.warm_gradient(self.held), adapter.warm_gradient(self.reference)
            return cosine(held_g, direction) - cosine(ref_g, direction), drops
        if self.criterion == "drop":
            return float(np.mean(held) - np.mean(ref)), drops
        return rank_specificity(held, ref), drops


def train_and_judge(judge: Judge, race: Race, arm: tuple[str, float], drops: dict, progress) -> int:
    """Train one arm on the judge's training folds to its last step count still in the race, judging each
    one on the way (the rows' drops into `drops`); the steps it trained (0 if none of its candidates is left)."""
    scope, lr = arm
    wanted, last = race.steps_to_judge(scope, lr), [0]
    if not wanted:
        return 0

    def at_step(step: int) -> bool:
        last[0] = step
        if step not in wanted:
            return False
        specificity, drops[(scope, lr, step, judge.fold)] = judge()
        race.record((scope, lr, step), specificity)
        return race.past_peak(scope, lr, step) or step == wanted[-1]

    config = dataclasses.replace(judge.trial.base, scope=scope, lr=lr, steps=wanted[-1])
    judge.adapter.warmup(judge.train, config, progress, on_step=at_step)
    return last[0]


def cheapest_best(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of highest specificity; within TIE of it, the cheapest (steps, scope, lr)."""
    best = max(row["specificity"] for row in table)
    tied = [row for row in table if row["specificity"] >= best - TIE]
    return min(tied, key=lambda row: (row["steps"], SCOPE_COST.get(row["scope"], 0), row["lr"]))


def calibrate(adapter: ModelAdapter, trial: Trial, progress: Callable[[int], None] | None = None) -> Calibration:
    """Race the trial's grid fold by fold on held-out folds of the validation rows (curation.racing);
    the winner's config, or the best judged when the rival ruled the loss drop out."""
    validation, reference, base, grid = trial.validation, trial.reference, trial.base, trial.grid
    started = time.perf_counter()
    parts = fold_positions(validation[HASH_COLUMN], trial.folds)
    candidates = [(scope, lr, step) for scope, lr in grid.arms for step in grid.steps]
    race = Race(candidates, trial.rival, folds=trial.folds, auc=trial.criterion == "auc")
    fold_drops: dict[tuple, dict[str, list[float]]] = {}  # (scope, lr, steps, fold) → the rows' drops
    base_losses: dict[str, np.ndarray] = {}  # θ0's losses of each fold and of the reference
    trained = 0
    for fold, held_at in enumerate(parts):
        held = validation.iloc[held_at]
        train = validation.drop(index=validation.index[held_at])
        judge = Judge(adapter=adapter, trial=trial, held=held, train=train, fold=fold, base=base_losses)
        for scope, lr in grid.arms:
            trained += train_and_judge(judge, race, (scope, lr), fold_drops, progress)
        race.end_fold(len(held_at), len(reference))
        if race.ruled_out:
            break
    table = race.table()
    most = max(row["folds"] for row in table)  # ruled out: the best of those judged on the most folds
    winner = cheapest_best([row for row in table if not row["dropped"]] or [r for r in table if r["folds"] == most])
    for row in table:
        row["chosen"] = row is winner
    won = (winner["scope"], winner["lr"], winner["steps"])
    return Calibration(
        config=dataclasses.replace(base, scope=winner["scope"], lr=winner["lr"], steps=winner["steps"]),
        table=table,
        folds=trial.folds,
        steps_trained=trained,
        seconds=round(time.perf_counter() - started, 3),
        criterion=trial.criterion,
        reference_rows=len(reference),
        grid=grid.name,
        fold_scores=[fold_drops[(*won, fold)] for fold in range(winner["folds"])],
        ruled_out=race.ruled_out,
    )
