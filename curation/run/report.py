"""The run's report: report.json assembled from the options, the run context and what the score,
select and evaluate stages returned (`Curated`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from prefect.runtime import flow_run

from curation.calibration import Calibration
from curation.config import CurateConfig
from curation.method_choice import NO_SEPARATION, MethodChoice
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
from curation.selection import Chosen


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
            damaged=Damaged(pool=pool.damaged, warmup=warm.damaged if warm else 0, row_scores=scored.damaged),
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
    fields.pop("fold_scores"), fields.pop("fold_similarities")  # per-row figures: the method choice's input
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
