"""A whole `Report` (report.json, typed) built by hand, for the readers of a report: its own methods,
the command line's summary, `curate compare`'s table. Each section can be replaced."""

from __future__ import annotations

from typing import Any

from curation.config import CurateConfig
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

WARMUP = {"steps": 60, "lr": 0.05, "batch_size": 64, "lora_rank": 4, "lora_alpha": 8, "scope": "full", "seed": 0}


def a_report(**sections: Any) -> Report:
    """A report of a finished `--method auto` run on feature rows (sections given replace the defaults)."""
    fields: dict[str, Any] = dict(
        config=CurateConfig(pool="pool.parquet", out="out", validation="v.parquet", model="linear", budget=50),
        effective=Effective(
            method="lossdrop", similarity="max", selection="stratified", start="theta0", warmup=WARMUP,
            finetune={"epochs": 30}, gradcos=None,
        ),
        hashes=Hashes(validation="v" * 64, pool="p" * 64, warmup_key="w" * 64, row_score_key="r" * 64),
        counts=Counts(
            rows_read=120, valid=110, quarantined=10, quarantine_reasons={"null_label": 6, "bad_label": 4},
            selected=50, validation_rows=40, warmup_rows=30, eval_rows=10,
        ),
        calibration=CalibrationUse(
            status="miss", key="c" * 64, chosen=WARMUP, folds=3, criterion="auc", reference_rows=64,
            reference_hash="h" * 64, table=[{"scope": "full", "lr": 0.05, "steps": 60, "specificity": 0.2}],
            steps_trained=1080, seconds=1.25, grid="features",
        ),
        method_choice=MethodChoiceUse(
            status="miss", key="m" * 64, method="lossdrop", similarity="max",
            candidates=[{"method": "lossdrop", "similarity": "-", "specificity": 0.3, "spread": 0.01,
                         "folds": [0.3, 0.29, 0.31], "chosen": True}],
            folds=3, outranks_percent=80.0, separates=True, warning=None, forward_passes=104, seconds=0.5,
        ),
        selection_labels={"0": 20, "1": 30},
        timings={"validate": 0.5, "warmup": 0.25, "score": 1.5},
        evaluation=Evaluation(
            metric="accuracy", higher_is_better=True, selection={"accuracy": 0.75, "loss": 0.6},
            random={"accuracy": 0.5, "loss": 0.9}, lift=0.25, rows=10, eval_set="validation-holdout",
            finetune={"epochs": 30},
        ),
        cache=CacheUse(
            pool="miss", warmup="miss", calibration="miss", rows_scored=110, rows_reused=0, dir="cache",
            damaged=Damaged(),
        ),
        scoring=Scoring(engine="local", shards=1, workers_used=1),
        cost=Cost(
            method="lossdrop", scoring_forward_passes=220, scoring_backward_passes=0, warmup_steps=60,
            calibration_steps=1080, calibration_seconds=1.25, bytes_stored=4096, score_seconds=1.5,
        ),
        flow_run="00000000-0000-0000-0000-000000000000",
        finished_at="2026-01-01T00:00:00+00:00",
    )  # fmt: skip
    return Report(**{**fields, **sections})
