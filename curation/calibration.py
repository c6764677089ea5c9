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

Steps are checkpoints along one training run per (scope, lr) and fold, so a grid of 5 arms × 4
step counts costs 5 × k trainings. The candidate with the highest mean specificity wins; ties go to
the cheaper one (fewer steps, then the smaller scope, then the smaller lr). The winner is then
trained on the whole validation set as θT (curation.cache.warmups).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from curation.models import ModelAdapter, WarmupConfig
from curation.rows import HASH_COLUMN
from curation.signals import score_formula

MIN_FOLD_ROWS = 4  # a held-out fold smaller than this says nothing: fewer rows, fewer folds
SCOPE_COST = {"attention": 0, "wide": 1, "full": 2}
TIE = 1e-9


@dataclass(frozen=True)
class Grid:
    """Candidates: each (scope, lr) arm is trained once per fold and judged at every step count.
    A grid for an expensive model also caps the folds, the reference rows and the batch size."""

    arms: tuple[tuple[str, float], ...]
    steps: tuple[int, ...]
    name: str = "custom"
    max_folds: int | None = None
    max_reference: int | None = None
    batch_size: int | None = None  # of the candidates and of θT (None: the warmup's default)

    def as_dict(self) -> dict[str, Any]:
        caps = {"max_folds": self.max_folds, "max_reference": self.max_reference, "batch_size": self.batch_size}
        return {"name": self.name, "arms": [list(arm) for arm in self.arms], "steps": list(self.steps), **caps}

    @property
    def trainings_per_fold(self) -> int:
        return len(self.arms)

    @classmethod
    def fixed(cls, config: WarmupConfig) -> Grid:
        """The one candidate a fixed warmup is: judged on the folds all the same when `--method auto`
        needs the loss drop's held-out figure."""
        return cls(arms=((config.scope, config.lr),), steps=(config.steps,), name="fixed")


# Per row kind. Text: LoRA learning rates an order above full-parameter ones (a LoRA update is scaled by alpha/rank
# and starts from B = 0). Classifiers always train all their weights. A causal LM above LARGE_ON_CPU parameters on a
# CPU gets `text-large-cpu`: two LoRA arms (no full-parameter arm: AdamW over every weight costs the most per step), a
# third of the steps, two folds, 64 reference rows and batches of 8. Measured on SmolLM2-135M-Instruct on 2 cores
# (benchmarks/RESULTS.md, "Chat conversations on a real instruction model"): minutes, where the text grid would take
# hours.
GRIDS = {
    "text": Grid(
        arms=(("attention", 1e-2), ("wide", 1e-2), ("full", 3e-4), ("full", 1e-3), ("full", 3e-3)),
        steps=(5, 10, 20, 40),
        name="text",
    ),
    "text-large-cpu": Grid(
        arms=(("attention", 1e-3), ("attention", 1e-2)),
        steps=(4, 8, 12),
        name="text-large-cpu",
        max_folds=2,
        max_reference=64,
        batch_size=8,
    ),
    "features": Grid(arms=(("full", 0.01), ("full", 0.05), ("full", 0.2)), steps=(15, 30, 60, 120), name="features"),
}
LARGE_ON_CPU = 50_000_000  # parameters


def grid_for(adapter: ModelAdapter) -> Grid:
    """The calibration's grid for this model: by row kind, and by size and device for a causal LM."""
    if adapter.kind == "text" and adapter.parameters > LARGE_ON_CPU and not adapter.gpus:
        return GRIDS["text-large-cpu"]
    return GRIDS[adapter.kind]


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
    status: str = "miss"  # "hit" (read from the cache), "miss" (computed by this run), "skipped" (too few rows)
    key: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.as_dict(),
            "table": self.table,
            "folds": self.folds,
            "steps_trained": self.steps_trained,
            "seconds": self.seconds,
            "criterion": self.criterion,
            "reference_rows": self.reference_rows,
            "reference_hash": self.reference_hash,
            "grid": self.grid,
            "fold_scores": self.fold_scores,
        }

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


def cheapest_best(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of highest specificity; within TIE of it, the cheapest (steps, scope, lr)."""
    best = max(row["specificity"] for row in table)
    tied = [row for row in table if row["specificity"] >= best - TIE]
    return min(tied, key=lambda row: (row["steps"], SCOPE_COST.get(row["scope"], 0), row["lr"]))


def calibrate(adapter: ModelAdapter, trial: Trial, progress: Callable[[int], None] | None = None) -> Calibration:
    """Judge every candidate of the trial's grid on its held-out folds of the validation rows; the winner's config."""
    validation, reference, base, grid = trial.validation, trial.reference, trial.base, trial.grid
    folds, criterion = trial.folds, trial.criterion
    started = time.perf_counter()
    parts = fold_positions(validation[HASH_COLUMN], folds)
    last = max(grid.steps)
    measured: list[dict[str, Any]] = []
    fold_drops: dict[tuple, dict[str, list[float]]] = {}  # (scope, lr, steps, fold) → the rows' drops
    base_losses: dict[str, np.ndarray] = {}  # θ0's losses of each fold and of the reference
    for scope, lr in grid.arms:
        config = dataclasses.replace(base, scope=scope, lr=lr, steps=last)
        for fold, held_at in enumerate(parts):
            held = validation.iloc[held_at]
            train = validation.drop(index=validation.index[held_at])
            judge = Judge(adapter=adapter, trial=trial, held=held, train=train, fold=fold, base=base_losses)

            def at_step(step: int, scope=scope, lr=lr, fold=fold, judge=judge) -> None:
                if step in grid.steps:
                    specificity, drops = judge()
                    candidate = {"scope": scope, "lr": lr, "steps": step}
                    measured.append({**candidate, "fold": fold, "specificity": specificity})
                    fold_drops[(scope, lr, step, fold)] = drops

            adapter.warmup(train, config, progress, on_step=at_step)
    table = summarize(measured)
    winner = cheapest_best(table)
    for row in table:
        row["chosen"] = row is winner
    won = (winner["scope"], winner["lr"], winner["steps"])
    chosen = dataclasses.replace(base, scope=winner["scope"], lr=winner["lr"], steps=winner["steps"])
    return Calibration(
        config=chosen,
        table=table,
        folds=folds,
        steps_trained=last * len(grid.arms) * folds,
        seconds=round(time.perf_counter() - started, 3),
        criterion=criterion,
        reference_rows=len(reference),
        grid=grid.name,
        fold_scores=[fold_drops[(*won, fold)] for fold in range(folds)],
    )


def summarize(measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per candidate: its specificity's mean over the folds and their spread (std)."""
    grouped = pd.DataFrame(measured).groupby(["scope", "lr", "steps"], sort=False)["specificity"]
    table = grouped.agg(["mean", "std"]).reset_index()
    return [
        {
            "scope": str(row.scope),
            "lr": float(row.lr),
            "steps": int(row.steps),
            "specificity": round(float(row.mean), 6),
            "spread": round(float(row.std) if np.isfinite(row.std) else 0.0, 6),
        }
        for row in table.itertuples()
    ]
