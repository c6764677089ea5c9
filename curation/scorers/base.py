"""The scorer interface: what a scoring method needs, does, and reports having spent.

A scorer writes `scores.parquet` (id, score, loss_base, loss_warm; one row per valid pool row,
in pool order) and returns the scores with what producing them cost. It declares as data
whether the flow must train (or load) θT on the validation set before it runs, and whether its
scores are random draws (then the selection is plain top-k, a uniform random subset).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from curation.cache.keys import CacheKeys
from curation.engines import Engine
from curation.models import ModelAdapter, ModelSpec, WarmupConfig
from curation.pool import AdmittedPool, Target
from curation.run.context import TargetRun
from curation.run.settings import ScoringSettings

SCORES_SCHEMA = pa.schema(
    [("id", pa.string()), ("score", pa.float64()), ("loss_base", pa.float64()), ("loss_warm", pa.float64())]
)


@dataclass(frozen=True)
class ScoreRequest:
    """Everything a scorer may use: the run context (θ0, θT loaded when the scorer needs it, the valid
    pool, the checked target, the method resolved, the cache keys), the scoring settings, where
    scores.parquet goes and the engine that runs shards."""

    run: TargetRun
    settings: ScoringSettings
    path: str  # a local file: scores.parquet
    engine: Engine | None = None  # where shards are scored (the scorers that run shards need one)

    @property
    def adapter(self) -> ModelAdapter:
        return self.run.adapter

    @property
    def pool(self) -> AdmittedPool:
        return self.run.pool

    @property
    def target(self) -> Target:
        """The checked target: θT was warmed up on `target.warm_rows`."""
        return self.run.target

    @property
    def warmup(self) -> WarmupConfig:
        return self.run.warmup

    @property
    def keys(self) -> CacheKeys:
        return self.run.keys

    @property
    def spec(self) -> ModelSpec:
        """The model as plain data, for workers that load it themselves."""
        return self.run.spec


@dataclass(frozen=True)
class OwnWarmup:
    """A warmup a scorer trains itself (gradcos's, on a sample of the pool), in place of θT's."""

    status: str  # "hit" or "miss"
    steps: int
    seconds: float
    config: dict[str, Any]  # what the scorer's warmup was trained with (report.json: effective.gradcos)


@dataclass
class Scored:
    """The score stage's scores (in pool order) and what producing them cost."""

    scores: np.ndarray
    rows_scored: int = 0
    rows_reused: int = 0
    workers_used: int = 1
    bytes_stored: int = 0
    forward_passes: int = 0
    backward_passes: int = 0
    damaged: int = 0  # damaged cache files set aside and recomputed
    own_warmup: OwnWarmup | None = None
    path: str = ""  # the local scores.parquet they were written to (set by the score stage)


class Scorer(ABC):
    """One scoring method."""

    needs_warmup: ClassVar[bool] = False  # θT on the validation set, trained or loaded before `score`
    random_ranking: ClassVar[bool] = False  # scores are uniform draws: select by plain top-k

    @abstractmethod
    def score(self, request: ScoreRequest) -> Scored:
        """Write scores.parquet at `request.path`; return the scores and their cost."""


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Vectors (along the last axis) scaled to length 1 (zero ones stay zero): dot products are cosines."""
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def lossless_scores(ids, score: np.ndarray) -> pa.Table:
    """A scores.parquet table for a method that computes no endpoint losses (they are NaN)."""
    nan = np.full(len(score), np.nan)
    return pa.table(
        {"id": pa.array(np.asarray(ids).astype(str), pa.string()), "score": score, "loss_base": nan, "loss_warm": nan},
        schema=SCORES_SCHEMA,
    )
