"""Publish: assemble the run's report, write every output into place (report.json last) and show
the run in the Prefect UI (report, top rows, outputs link, validation table)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from curation.calibration import Calibration
from curation.config import CurateConfig
from curation.dashboards import PLOT_NAME, publish_dashboards, publish_validation, score_distribution_png
from curation.formats.chat import as_given
from curation.method_choice import NO_SEPARATION, MethodChoice
from curation.outputs import StagedOutputs
from curation.pool import PoolCheck, PoolRejected
from curation.report import (
    CacheUse,
    CalibrationUse,
    Cost,
    Counts,
    Damaged,
    Effective,
    Evaluation,
    Hashes,
    MethodChoiceUse,
    Report,
    Scoring,
)
from curation.run.context import TargetRun
from curation.scorers.base import Scored
from tasks.select import Chosen


@dataclass(frozen=True)
class Curated:
    """What the score, select and evaluate stages produced (evaluation None: --skip-finetune)."""

    scored: Scored
    chosen: Chosen
    evaluation: Evaluation | None


def build_report(config: CurateConfig, run: TargetRun, curated: Curated, timings: dict[str, float]) -> Report:
    """report.json from the run's options, its context and what the stages returned."""
    target, pool, keys, warmup_config = run.target, run.pool, run.keys, run.warmup
    calibration, warm = run.calibration, run.warm
    scored, chosen, evaluation = curated.scored, curated.chosen, curated.evaluation
    own = scored.own_warmup  # a scorer's own warmup (gradcos's, on the pool) ran inside the score stage
    timings = dict(timings)
    if own is not None:
        timings["warmup"] = round(own.seconds, 3)
        timings["score"] = round(timings["score"] - timings["warmup"], 3)
    warm_status = own.status if own else (warm.status if warm else "not-used")
    warm_steps = own.steps if own else (warmup_config.steps if warm_status == "miss" else 0)
    return Report(
        config=config,
        effective=Effective(
            method=run.method,
            similarity=run.similarity,
            selection=chosen.strategy,
            start=run.start,
            warmup=warmup_config.as_dict(),
            finetune=evaluation.finetune if evaluation else None,
            gradcos=own.config if own else None,
        ),
        hashes=Hashes(
            validation=target.validation_hash,
            pool=pool.pool_hash,
            warmup_key=keys.warmup,
            row_score_key=keys.row_scores,
        ),
        counts=Counts(
            rows_read=pool.rows_read,
            valid=pool.valid_rows,
            quarantined=pool.rows_read - pool.valid_rows,
            quarantine_reasons=pool.reasons,
            selected=len(chosen.positions),
            validation_rows=len(target.validation),
            warmup_rows=len(target.warm_rows),
            eval_rows=len(target.eval_rows),
            truncated=pool.truncated,
        ),
        calibration=calibration_use(calibration),
        method_choice=method_choice_use(run.choice),
        selection_labels=chosen.labels,
        timings=timings,
        evaluation=evaluation,
        cache=CacheUse(
            pool=pool.cache,
            warmup=warm_status,
            calibration=calibration.status if calibration else "not-used",
            rows_scored=scored.rows_scored,
            rows_reused=scored.rows_reused,
            dir=config.cache,
            damaged=Damaged(warmup=warm.damaged if warm else 0, row_scores=scored.damaged),
        ),
        scoring=Scoring(engine=config.engine, shards=len(pool.valid_parts), workers_used=scored.workers_used),
        cost=Cost(
            method=run.method,
            scoring_forward_passes=scored.forward_passes,
            scoring_backward_passes=scored.backward_passes,
            warmup_steps=warm_steps,
            calibration_steps=calibration.steps_trained if calibration and calibration.status == "miss" else 0,
            calibration_seconds=timings.get("calibrate", 0.0),
            bytes_stored=scored.bytes_stored,
            score_seconds=timings.get("score", 0.0),
        ),
        flow_run=str(flow_run.id),
        finished_at=datetime.now(timezone.utc).isoformat(),
    )


def calibration_use(calibration: Calibration | None) -> CalibrationUse | None:
    if calibration is None:
        return None
    fields = calibration.as_dict()  # what the calibration cache stores, plus this run's status and key
    fields.pop("fold_scores")  # per-row drops: the method choice's input, not a user's figure
    return CalibrationUse(status=calibration.status, key=calibration.key, chosen=fields.pop("config"), **fields)


def method_choice_use(choice: MethodChoice | None) -> MethodChoiceUse | None:
    if choice is None:
        return None
    return MethodChoiceUse(
        status=choice.status,
        key=choice.key,
        method=choice.method,
        similarity=choice.similarity,
        candidates=choice.candidates,
        folds=choice.folds,
        outranks_percent=choice.outranks,
        separates=choice.separates,
        warning=None if choice.separates or choice.status == "skipped" else NO_SEPARATION,
        forward_passes=choice.forward_passes if choice.status == "miss" else 0,
        seconds=choice.seconds,
    )


def stage_validation(outputs: StagedOutputs, pool_url: str, pool: PoolCheck) -> None:
    """What validating the pool found: quarantine.parquet and validation.json (a run's or a refusal's)."""
    outputs.parquet("quarantine.parquet", pool.quarantine)
    outputs.json("validation.json", {"pool": pool_url, "files": pool.files, "expectations": pool.expectations})


def write_outputs(outputs: StagedOutputs, report: Report, pool: PoolCheck, curated: Curated) -> None:
    """Stage every output, then move them into place with report.json last (a run is complete once it is there)."""
    stage_validation(outputs, report.config.pool, pool)
    scored, chosen = curated.scored, curated.chosen
    outputs.file("scores.parquet", scored.path)
    export = report.config.export_format
    if export in ("parquet", "both"):
        outputs.parquet("selection.parquet", chosen.frame)
    if export in ("jsonl", "both"):  # `datasets.load_dataset("json", ...)` and TRL's SFTTrainer read it as it is
        lines = as_given(chosen.frame).to_json(orient="records", lines=True, force_ascii=False)
        outputs.bytes("selection.jsonl", lines.encode())
    outputs.bytes(PLOT_NAME, score_distribution_png(scored.scores, chosen.positions, report.effective.method))
    outputs.publish(report.as_json())


@task(name="publish-rejection", tags=["publish"], persist_result=False, cache_policy=NO_CACHE)
def publish_rejection(outputs: StagedOutputs, config, rejected: PoolRejected) -> None:
    """A refused pool's quarantine, expectations and reason into place (rejected.json, no report.json)
    and its validation table in the Prefect UI: what to mend is visible, not only that it failed."""
    pool = rejected.pool
    stage_validation(outputs, config.pool, pool)
    counts = {"rows_read": pool.rows_read, "valid": pool.valid_rows, "quarantine_reasons": pool.reasons}
    outputs.publish_rejected({"pool": config.pool, "reason": str(rejected), "counts": counts})
    publish_validation(pool.expectations)


@task(name="publish", tags=["publish"], persist_result=False, cache_policy=NO_CACHE)
def publish(outputs: StagedOutputs, report: Report, pool: PoolCheck, curated: Curated) -> None:
    """Write the outputs into place, report.json last, and the run's dashboards in the Prefect UI."""
    write_outputs(outputs, report, pool, curated)
    publish_validation(pool.expectations)
    publish_dashboards(report, curated.chosen.frame)
