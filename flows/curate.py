"""The curation flow: ingest → validate → calibrate → choose → warmup → score → select → finetune →
evaluate → publish.

Each stage is a task in `tasks/` (plain functions underneath, testable without Prefect), so each
shows in the run graph; the body below only passes one stage's result to the next. Options come
as one `CurateConfig` (curation/config/settings.py), which is also the Prefect UI's run form.
"""

from __future__ import annotations

import os
import shutil
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from curation.config import CurateConfig
from curation.engines import engine_for
from curation.errors import InputError
from curation.formats import Limits, reader_of
from curation.io.sources import Source
from curation.models import LoadedModels
from curation.outputs import StagedOutputs
from curation.pool import AdmittedPool, PoolRejected
from curation.report import Evaluation, Report
from curation.run.context import TargetRun, begin
from curation.run.joint import ScoredTarget
from curation.run.report import Curated, build_report
from curation.run.settings import FinetuneSettings, ScoringSettings, SelectionSettings, WarmupSettings
from curation.scorers import scorer_for
from curation.scorers.base import ScoreRequest
from curation.selection import Chosen
from curation.tempfiles import make_temp_dir
from curation.trends import check_folder
from tasks.choose import choose_method
from tasks.evaluate import evaluate
from tasks.finetune import finetune, finetune_config
from tasks.ingest import ingest, read_target
from tasks.publish import publish, publish_rejection
from tasks.score import score
from tasks.select import select
from tasks.trends import night_of, track_trends
from tasks.validate import validate_pool, validate_target
from tasks.warmup import calibrate_warmup, needs_calibration, warmup


def run_name() -> str:
    config = flow_run.parameters.get("config")
    pool = config.pool if isinstance(config, CurateConfig) else (config or {}).get("pool", "pool")
    return f"curate-{str(pool).rstrip('/').rsplit('/', 1)[-1]}-{datetime.now(timezone.utc):%Y-%m-%d-%H%M}"


class Stages:
    """Per-stage seconds; each stage's start is logged ("stage warmup"), so a terminal or the UI shows
    where a run is."""

    def __init__(self, timings: dict[str, float] | None = None):
        self.timings: dict[str, float] = dict(timings or {})

    @contextmanager
    def __call__(self, name: str):
        get_run_logger().info("stage %s", name)
        started = time.perf_counter()
        yield
        self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - started, 3)


def scored_target(
    config: CurateConfig, source: Source, spill_dir: str, stage: Stages
) -> tuple[AdmittedPool, ScoredTarget]:
    """One target through validate → calibrate → choose → warmup → score: the pool admitted for it, and
    its run context with its scores (into `spill_dir`)."""
    warming, limits = WarmupSettings.of(config), Limits.of(config)
    with stage("ingest"):
        validation_rows, test_rows = read_target(config.validation), read_target(config.test)
    with stage("validate"):
        target = validate_target(validation_rows, test_rows, reader_of(config), limits)
        pool = validate_pool(source, target, spill_dir, limits, config.cache)
    run = begin(target, pool, config)  # the run context every later stage takes
    if needs_calibration(run, warming):
        with stage("calibrate"):
            run = calibrate_warmup(run, warming)
    if run.chooses_method:
        with stage("choose"):
            run = choose_method(run, warming)  # `auto` resolved to the chosen method, once
    if scorer_for(run.method).needs_warmup:
        with stage("warmup"):
            run = warmup(run, warming)
    with stage("score"):
        scores_path = os.path.join(spill_dir, "scores.parquet")
        scored = score(ScoreRequest(run, ScoringSettings.of(config), scores_path, engine_for(config)))
    return pool, ScoredTarget(run, scored)


def finetuned(run: TargetRun, chosen: Chosen, settings: FinetuneSettings, stage: Stages) -> Evaluation:
    """θ0 finetuned on the selection and on its random control, both evaluated on the target's rows."""
    with stage("finetune"):
        selected_model = finetune(run, chosen.rows, settings, "selection")
        control_model = finetune(run, chosen.control, settings, "random")
    with stage("evaluate"):
        return evaluate(run, selected_model, control_model, finetune_config(run.kind, settings))


@flow(name="curate", flow_run_name=run_name, log_prints=True)
def curate(config: CurateConfig) -> Report:
    """Pick the pool rows that help the target task, finetune on them and measure the lift over random.

    Args:
        config: Every option of the run, as `curate run` takes them: the pool, the target, the model,
            the budget and the method.
    """
    if config.several_targets:
        raise InputError(
            "the curate flow takes one target (--validation); several run as curate-targets", field="--target"
        )
    config, stage = config.with_cache_dir(), Stages()
    if config.trends:
        check_folder(config.trends)  # before any work: a file in its place is bad input
    outputs, spill_dir = StagedOutputs(config.out), make_temp_dir("valid-rows")
    with LoadedModels().active():  # the models this run loads: its stages share them, nothing outlives it
        try:
            with stage("ingest"):
                source = ingest(config.pool)
            pool, target = scored_target(config, source, spill_dir, stage)
            run, scored = target.run, target.scored
            with stage("select"):
                chosen = select(run, scored, SelectionSettings.of(config))
            evaluation = None if config.skip_finetune else finetuned(run, chosen, FinetuneSettings.of(config), stage)
            curated = Curated(scored, chosen, evaluation)
            report = build_report(config, run, curated, stage.timings)
            with stage("publish"):
                publish(outputs, report, pool, curated)
            if config.trends:
                with stage("trends"):
                    track_trends(config, {"target": (report, night_of(report, pool, scored))})
        except PoolRejected as rejected:  # refused as a whole: its quarantine still shows what to mend
            publish_rejection(outputs, config, rejected)
            raise
        except BaseException:
            outputs.abandon()
            raise
        finally:
            shutil.rmtree(spill_dir, ignore_errors=True)
    return report
