"""The slices of a run's options, one per kind of stage: each stage reads its slice and the run
context, never the whole config (`curation.config.CurationSettings`, from which they are made: the
defaults and bounds live there, once)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from curation.models import WarmupConfig
from curation.models.base import WARMUP_DEFAULTS


@dataclass(frozen=True)
class WarmupSettings:
    """What the calibration, the method choice and the warmup read."""

    cache: str
    mode: str  # --warmup: auto (calibrated) or fixed
    steps: int | None  # the fixed overrides (--warmup-steps/-lr/-scope/-rank); None: not given
    lr: float | None
    scope: str | None
    rank: int | None
    seed: int  # --warmup-seed
    folds: int  # --calibration-folds
    reference_rows: int  # --calibration-reference
    criterion: str  # --calibration-criterion

    @property
    def calibrates(self) -> bool:
        """Whether the warmup is calibrated: `--warmup auto` and no fixed setting given."""
        return self.mode == "auto" and all(value is None for value in (self.steps, self.lr, self.scope))

    def config_for(self, kind: str) -> WarmupConfig:
        """The model kind's default warmup with the run's overrides (`--warmup-steps/-lr/-scope/-rank/-seed`)."""
        # The warmup's seed is its own option: a run that only changes the seed of the selection and
        # the finetunes (--seed) reuses θT.
        overrides = {
            "steps": self.steps,
            "lr": self.lr,
            "scope": self.scope if kind == "text" else None,
            "lora_rank": self.rank,
            "lora_alpha": 2 * self.rank if self.rank is not None else None,
        }
        chosen = {name: value for name, value in overrides.items() if value is not None}
        return dataclasses.replace(WARMUP_DEFAULTS[kind], seed=self.seed, **chosen)

    @classmethod
    def of(cls, config) -> WarmupSettings:
        return cls(
            cache=config.cache,
            mode=config.warmup,
            steps=config.warmup_steps,
            lr=config.warmup_lr,
            scope=config.warmup_scope,
            rank=config.warmup_rank,
            seed=config.warmup_seed,
            folds=config.calibration_folds,
            reference_rows=config.calibration_reference,
            criterion=config.calibration_criterion,
        )


@dataclass(frozen=True)
class ScoringSettings:
    """What a scorer reads besides the run context."""

    cache: str
    seed: int  # gradcos's pool sample
    gradcos_fraction: float
    projection_dim: int
    device_slot: str = "auto"  # tasks/slots.py

    @classmethod
    def of(cls, config) -> ScoringSettings:
        return cls(config.cache, config.seed, config.gradcos_fraction, config.projection_dim, config.device_slot)


@dataclass(frozen=True)
class SelectionSettings:
    """What the selection reads: the budget, the strategy, the seed, and whether a control is drawn."""

    budget: float
    strategy: str  # --selection
    seed: int
    control: bool  # draw the random control (not with --skip-finetune)

    @classmethod
    def of(cls, config) -> SelectionSettings:
        return cls(config.budget, config.selection, config.seed, not config.skip_finetune)


@dataclass(frozen=True)
class FinetuneSettings:
    """What the finetunes and the evaluation read."""

    epochs: int | None  # --finetune-epochs (None: the model kind's default)
    seed: int
    device_slot: str = "auto"  # tasks/slots.py

    @classmethod
    def of(cls, config) -> FinetuneSettings:
        return cls(config.finetune_epochs, config.seed, config.device_slot)
