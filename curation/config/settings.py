"""A curation run's options: `CurationSettings` (what a run needs besides the pool and where it
writes), `PoolAndOutput` (those two) and `CurateConfig` (both: the `curate` flow's one parameter),
with the types and checks of their values. Each option is one field here (type, default, bounds,
description); the flags, the Prefect UI's run form and report.json's `config` come from it.
"""

from __future__ import annotations

import math
import os
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from curation.config.options import Flag, Options
from curation.errors import InputError
from curation.rows import CLASSIFIER_MODELS
from curation.scorers import METHODS
from curation.targets import TargetOption, check_names, read_targets_file

Method = Literal[("auto", *METHODS)]  # auto, or a scorer registry name: a new scorer is a new method
Selection = Literal["auto", "stratified", "topk", "threshold"]
Similarity = Literal["max", "mean"]
WarmupMode = Literal["auto", "fixed"]
Scope = Literal["attention", "wide", "full"]  # what a causal-LM warmup trains
Start = Literal["theta0", "theta1"]  # the score's start point: θ0, or the warmup's first checkpoint θ1
Criterion = Literal["auc", "drop", "gradient"]
LossSpan = Literal["all-assistant", "last-turn"]  # chat rows' spans: curation.formats.base.Tokens
ScoreSpan = Literal["all-assistant", "last-turn", "conversation"]
Truncation = Literal["keep-answer", "keep-start", "keep-end"]  # curation.formats.chat_spans
ExportFormat = Literal["jsonl", "parquet", "both"]
SEED_MAX = 2**32 - 1


def _budget(value: float) -> float:
    if not math.isfinite(value) or value <= 0 or (value >= 1 and not float(value).is_integer()):
        raise ValueError(f"{value!r}: use a row count ≥ 1 or a fraction in (0, 1)")
    return value


def _engine(value: str) -> str:
    if value not in ("local", "ray") and not (value.startswith("ray://") and len(value) > len("ray://")):
        raise ValueError(f"unknown engine {value!r}; use local, ray or ray://ADDRESS")
    return value


def _model(value: str) -> str:
    if value not in CLASSIFIER_MODELS and not os.path.isdir(value):
        raise ValueError(f"unknown model {value!r}: use 'linear', 'mlp' or a local Hugging Face model directory")
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value


Budget = Annotated[float, AfterValidator(_budget)]
Engine = Annotated[str, AfterValidator(_engine)]
Model = Annotated[str, AfterValidator(_model)]
Fraction = Annotated[float, AfterValidator(_finite)]


class CurationSettings(Options):
    """What a curation run needs besides the pool and its output folder (the service's runs share these)."""

    validation: str | None = Field(
        None, description="The target task's validation set, as --pool takes it (one target; several: --target)"
    )
    targets: Annotated[list[str], Flag("--target")] = Field(
        default_factory=list,
        description="A target as NAME=VALIDATION[:WEIGHT], instead of --validation; repeat it for several: "
        "each is calibrated, warmed up and scored as one target is, the budget is split by weight and no row "
        "is selected twice (outputs per target under OUT/targets/NAME/)",
    )
    model: Model = Field(description="'linear' or 'mlp' (feature rows) or a local Hugging Face causal-LM directory")
    budget: Budget = Field(description="Rows to select: a row count (≥ 1) or a fraction of the valid pool (0-1)")
    test: str | None = Field(
        None, description="Held-out target test set (default: a held-out quarter of the validation set)"
    )
    method: Method = Field(
        "auto",
        description="How rows are scored: auto (the one of lossdrop, embedding and blend that best tells "
        "held-out validation rows from pool rows on the calibration's folds), "
        "lossdrop (normalized endpoint loss drop), "
        "lossdrop-raw (un-normalized), embedding (RDS+-style cosine similarity of θ0's "
        "mean-pooled hidden states, or of the features, to the validation rows), gradcos "
        "(LESS-style gradient similarity along a warmup on a sample of the pool), blend (the mean of lossdrop's "
        "and embedding's rank percentiles) or random",
    )
    similarity: Similarity = Field(
        "max",
        description="embedding and blend: a row's max or mean cosine similarity to the validation rows "
        "(auto judges both)",
    )
    selection: Selection = Field(
        "auto", description="auto (stratified on labelled pools, else topk), stratified, topk or threshold"
    )
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of the selection's tie-breaks, the random control and the finetunes"
    )
    start: Start = Field(
        "theta0",
        description="The score's start point: theta0 (the base model) or theta1 (the warmup's first "
        "checkpoint, the seed paper's main variant)",
    )
    warmup: WarmupMode = Field(
        "auto",
        description="auto: calibrate the warmup's capacity per target (scope × lr × steps on held-out folds of "
        "the validation set, cached with θT); fixed: the model kind's defaults. --warmup-steps, --warmup-lr "
        "or --warmup-scope fix it too",
    )
    warmup_steps: int | None = Field(
        None, ge=1, le=1_000_000, description="Optimizer steps of the warmup (fixes it; default per model kind)"
    )
    warmup_lr: float | None = Field(
        None, ge=1e-12, le=10.0, description="Learning rate of the warmup (fixes it; default per model kind)"
    )
    warmup_scope: Scope | None = Field(
        None,
        description="What a causal-LM warmup trains (fixes it): attention (LoRA on the attention projections), "
        "wide (LoRA on every linear layer) or full (all parameters; the top quarter of blocks above 200M)",
    )
    warmup_rank: int | None = Field(None, ge=1, le=4096, description="LoRA rank of a causal-LM warmup (default 8)")
    calibration_folds: int = Field(
        3, ge=2, le=20, description="Folds of the validation set the calibration judges on (fewer with few rows)"
    )
    calibration_reference: int = Field(
        128, ge=8, le=100_000, description="Rows of the pool's reference sample the calibration judges against"
    )
    calibration_criterion: Criterion = Field(
        "auc",
        description="How the calibration judges a warmup: auc (the chance a held-out row's normalized drop "
        "beats a reference row's, minus 0.5; forward passes only), drop (held-out mean drop minus the "
        "reference's) or gradient (held-out gradient cosine minus the reference's, as the seed paper)",
    )
    warmup_seed: int = Field(
        0, ge=0, le=SEED_MAX, description="Seed of the warmup; --seed sets the selection's and the finetunes'"
    )
    finetune_epochs: int | None = Field(
        None, ge=1, le=10_000, description="Epochs of the finetunes (default per model kind)"
    )
    skip_finetune: bool = Field(False, description="Stop after selection: no finetunes, no evaluation")
    device_slot: str = Field(
        "auto",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$",
        description="The global concurrency limit the scoring and the finetunes hold a slot of while they run, "
        "under a lease a killed run cannot keep: auto (gpu when the model runs on a GPU, none on a CPU), none, "
        "or a limit's name",
    )
    export_format: ExportFormat = Field(
        "both",
        description="The selection's files: selection.jsonl (datasets.load_dataset('json', ...) and TRL read it; "
        "chat rows as messages), selection.parquet, or both",
    )
    cache: str | None = Field(
        None,
        description="Cache directory of what later runs reuse (validated pools, calibrations and their reference "
        "samples, method choices, warmups' θT, row scores, gradcos's trajectories and gradients), local or "
        "s3:// (default: $CURATE_CACHE or the user cache dir)",
    )
    trends: str | None = Field(
        None,
        description="Keep a history of runs (a row per target) under this folder, local or s3://, measure each "
        "run's drift against the previous one there and publish the curation-trends artifact (the service "
        "sets it per deployment and pool)",
    )
    drift_ks: Fraction = Field(0.2, gt=0.0, le=1.0, description="Drift: the scores' KS statistic that flags a run")
    drift_new_rows: Fraction = Field(0.5, gt=0.0, le=1.0, description="Drift: the share of new rows that flags a run")
    max_reject_share: Fraction = Field(
        0.5, ge=0.0, le=1.0, description="Stop if more than this share of pool rows is invalid"
    )
    min_chars: int = Field(1, ge=0, description="Shortest valid text, in characters")
    max_chars: int = Field(100_000, ge=1, description="Longest valid text, in characters")
    max_length: int = Field(256, ge=2, le=1_048_576, description="Token limit per text row")
    loss_on: LossSpan = Field(
        "all-assistant",
        description="Chat rows: the tokens the warmup and the finetunes train on: every assistant turn "
        "(all-assistant) or the last one (last-turn); a template's headers and default system prompt never",
    )
    score_on: ScoreSpan = Field(
        "all-assistant",
        description="Chat rows: the tokens a row's loss drop (and the calibration's judge) is taken over: "
        "all-assistant, last-turn or conversation (every turn's content, the user's too)",
    )
    truncation: Truncation = Field(
        "keep-answer",
        description="Chat rows longer than --max-length: keep-answer (the start, unless no trained token is in "
        "it: then cut from the left so the first answer sits half a window in), keep-start or keep-end (TRL's)",
    )
    shard_rows: int = Field(65_536, ge=1, description="Rows per shard, the unit of scoring, caching and resume")
    engine: Engine = Field(
        "local", description="Where shards are scored: local, ray (a local Ray instance) or ray://ADDRESS"
    )
    workers: int = Field(
        2, ge=1, le=1024, description="Shards scored at once: threads with --engine local, Ray actors with ray"
    )
    gradcos_fraction: Fraction = Field(
        0.05, ge=1e-9, le=1.0, description="gradcos: share of the pool its warmup trains on, as LESS"
    )
    projection_dim: int = Field(
        512, ge=1, le=65_536, description="gradcos: dimension the per-row gradients are projected to"
    )

    targets_file: str | None = Field(
        None,
        description="The targets in a YAML or JSON file, local or s3:// (instead of --target): a list of "
        "{name, validation, weight, test}; weight (default 1) and test (default: a held-out quarter of the "
        "validation set) may be left out",
    )

    @field_validator("targets")
    @classmethod
    def _targets_parse(cls, values: list[str]) -> list[str]:
        try:
            check_names([TargetOption.parse(value) for value in values])
        except InputError as err:
            raise ValueError(err.detail) from None
        return values

    @model_validator(mode="after")
    def _chars_in_order(self):
        if self.min_chars > self.max_chars:
            raise ValueError("--min-chars is above --max-chars")
        given = [flag for flag, value in (("--validation", self.validation), ("--target", self.targets),
                                           ("--targets-file", self.targets_file)) if value]  # fmt: skip
        if not given:
            raise ValueError("--validation is required (or give the targets with --target NAME=VALIDATION[:WEIGHT])")
        if len(given) > 1:
            raise ValueError(
                f"{' and '.join(given)}: give one target with --validation, or several with --target or --targets-file"
            )
        if (self.targets or self.targets_file) and self.test:
            raise ValueError(
                "--test is for one target: with --target, each target's held-out rows are a quarter of its validation"
                " set"
            )
        return self

    @property
    def target_options(self) -> list[TargetOption]:
        """The targets of a run: those of --targets-file or --target, or the one of --validation (named `target`)."""
        if self.targets_file:
            return read_targets_file(self.targets_file)
        if not self.targets:
            return [TargetOption("target", self.validation, 1.0, self.test)]
        return [TargetOption.parse(value) for value in self.targets]

    @property
    def several_targets(self) -> bool:
        return bool(self.targets or self.targets_file)

    @property
    def selection_files(self) -> tuple[str, ...]:
        """The selection's files `--export-format` asks for."""
        return {"jsonl": ("selection.jsonl",), "parquet": ("selection.parquet",)}.get(
            self.export_format, ("selection.parquet", "selection.jsonl")
        )

    @property
    def engine_address(self) -> str | None:
        """The Ray cluster's address of `--engine ray://ADDRESS`, else None."""
        return self.engine if self.engine.startswith("ray://") else None

    def with_cache_dir(self):
        """The settings with `cache` filled in: $CURATE_CACHE, else the user cache directory."""
        return self if self.cache else self.model_copy(update={"cache": default_cache_dir()})


class PoolAndOutput(Options):
    pool: str = Field(
        description="The candidate pool, local or s3://: a Parquet, JSON lines, JSON array or Arrow file, a "
        "directory or glob of them (a `datasets` save_to_disk directory or a Hub dataset snapshot included)"
    )
    out: str = Field(description="Output directory, local or s3://")


class CurateConfig(CurationSettings, PoolAndOutput):
    """One curation run: a pool curated against the target into an output folder (fields: the pool and the
    output first, then the settings)."""

    def for_target(self, target: TargetOption) -> CurateConfig:
        """The options of one target of a several-target run: its validation set, its outputs in
        OUT/targets/NAME/ (as a one-target run's)."""
        out = "/".join([self.out.rstrip("/"), "targets", target.name])
        one = {"validation": target.validation, "test": target.test, "targets": [], "targets_file": None, "out": out}
        return self.model_copy(update=one)


def default_cache_dir() -> str:
    """$CURATE_CACHE, else the user cache directory (~/.cache/curate on Linux)."""
    from platformdirs import user_cache_dir

    return os.environ.get("CURATE_CACHE") or user_cache_dir("curate")
