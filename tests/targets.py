"""A run context (`TargetRun`) as the flow builds it right after validation, from real files and with
no Prefect API (the ingest and validate tasks' functions, then `begin`), and what its score and select
stages return: for tests of the stages that take the context. The rows are feature rows a linear
model reads, small enough to train in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np
import pandas as pd
from conftest import make_feature_rows
from prefect.logging import disable_run_logger

from curation.config import CurateConfig
from curation.formats import Limits, reader_of
from curation.run.context import TargetRun, begin
from curation.run.settings import ScoringSettings, SelectionSettings
from curation.scorers.base import Scored, ScoreRequest
from curation.selection import Chosen
from tasks.ingest import ingest, read_target
from tasks.score import score
from tasks.select import select
from tasks.validate import validate_pool, validate_target

T = TypeVar("T")
WEIGHTS = np.random.default_rng(11).normal(size=(4, 3))  # the rule every task's labels follow


def feature_files(root: Path, validation: int = 40, pool: int = 120, seed: int = 0) -> dict[str, str]:
    """A 3-class task on 4 features: a validation set, a test set, and a pool whose first half looks
    like the target and whose second half is shifted away from it (ids `row-0000`, ... in pool order)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    make_feature_rows(rng, WEIGHTS, validation).to_parquet(root / "validation.parquet")
    make_feature_rows(rng, WEIGHTS, 30).to_parquet(root / "test.parquet")
    near, far = make_feature_rows(rng, WEIGHTS, pool // 2), make_feature_rows(rng, WEIGHTS, pool - pool // 2, shift=3.0)
    rows = pd.concat([near, far], ignore_index=True)
    rows.insert(0, "id", [f"row-{i:04d}" for i in range(len(rows))])
    rows.to_parquet(root / "pool.parquet")
    return {name: str(root / f"{name}.parquet") for name in ("validation", "test", "pool")}


def two_domain_task(root: Path, seed: int = 1, shift: float = 2.5) -> dict[str, str]:
    """Two targets that need different rows. `a`: rule A on unshifted features; the pool holds 1,200
    clean rows of it and 1,200 with a wrong label (the loss drop tells them apart, the features cannot).
    `b`: rule B on features shifted by `shift`; 600 pool rows of it (near its validation set in feature
    space: the embedding finds them). Each pool row's `source` names where it came from."""
    rng = np.random.default_rng(seed)
    rule_a, rule_b = rng.normal(size=(8, 4)), rng.normal(size=(8, 4))
    make_feature_rows(rng, rule_a, 200).to_parquet(root / "a.parquet")
    make_feature_rows(rng, rule_b, 200, shift=shift).to_parquet(root / "b.parquet")
    clean = make_feature_rows(rng, rule_a, 1200).assign(source="clean-a")
    wrong = make_feature_rows(rng, rule_a, 1200).assign(source="wrong-a")
    wrong["label"] = (wrong["label"] + rng.integers(1, 4, len(wrong))) % 4
    domain_b = make_feature_rows(rng, rule_b, 600, shift=shift).assign(source="clean-b")
    pool = pd.concat([clean, wrong, domain_b], ignore_index=True)
    pool.insert(0, "id", [f"r{i:05d}" for i in range(len(pool))])
    pool.to_parquet(root / "pool.parquet")
    return {name: str(root / f"{name}.parquet") for name in ("a", "b", "pool")}


def run_config(files: dict[str, str], tmp_path: Path, **options: Any) -> CurateConfig:
    """`curate run` on the task's pool and validation set with the linear model, a budget of 10 rows
    and the cache and outputs under tmp_path (options given replace these)."""
    named = dict(pool=files["pool"], validation=files["validation"], model="linear", budget=10)
    return CurateConfig.parse(**{**named, "out": str(tmp_path / "out"), "cache": str(tmp_path / "cache"), **options})


def target_run(config: CurateConfig, spill_dir: Path) -> TargetRun:
    """The run context the flow builds for `config` after validation (the valid rows spilled to spill_dir)."""
    limits = Limits.of(config)
    with disable_run_logger():
        source = ingest.fn(config.pool)
        validation, test = read_target.fn(config.validation), read_target.fn(config.test)
        target = validate_target.fn(validation, test, reader_of(config), limits)
        pool = validate_pool.fn(source, target, str(spill_dir), limits, config.cache)
    return begin(target, pool, config)


def scored_and_chosen(config: CurateConfig, run: TargetRun, path: Path) -> tuple[Scored, Chosen]:
    """The run's scores (into `path`) and the selection its settings make of them, as the flow's score
    and select stages return them (a method that needs θT: warm the run up first)."""
    with disable_run_logger():
        scored = score.fn(ScoreRequest(run, ScoringSettings.of(config), str(path)))
    return scored, select.fn(run, scored, SelectionSettings.of(config))


def in_a_flow_run(call: Callable[[], T]) -> tuple[T, str]:
    """`call()` inside a flow run (a task called there runs as the curate flow runs it, its logs and
    artifacts the flow run's): its result and the flow run's id. Needs the session's Prefect API."""
    from prefect import flow
    from prefect.runtime import flow_run

    @flow(name="stage-under-test")
    def stage() -> tuple[T, str]:
        return call(), str(flow_run.id)

    return stage()
