"""`curate validate`: the first two stages alone, ingest → validate, for a pool and a target.

What a run would read, and what it would set aside, before anything is trained or scored: on a
large real set (all of ShareGPT V3 on SmolLM2 takes minutes here, where scoring it would take
hours on a CPU) a team sees its quarantine reasons first. The outputs are the ones a run writes
for validation, with `validation-summary.json` (counts, reasons, rows truncated) last as the
completion marker; a pool refused as a whole still gets them, with `"refused"` saying why.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from prefect import flow

from curation.config import CurateConfig
from curation.formats import Limits, reader_of
from curation.outputs import StagedOutputs
from curation.pool import AdmittedPool, PoolRejected
from curation.run.outputs import stage_validation
from curation.tempfiles import make_temp_dir
from tasks.ingest import ingest, read_target
from tasks.validate import validate_pool, validate_target

SUMMARY = "validation-summary.json"


def summary_of(config: CurateConfig, pool: AdmittedPool, seconds: float, refused: str | None) -> dict[str, Any]:
    return {
        "pool": config.pool,
        "validation": config.validation,
        "model": config.model,
        "max_length": config.max_length,
        "truncation": config.truncation,
        "rows_read": pool.rows_read,
        "valid": pool.valid_rows,
        "quarantined": pool.rows_read - pool.valid_rows,
        "quarantine_reasons": pool.reasons,
        "truncated": pool.truncated,
        "validated_pool_cache": pool.cache,
        "seconds": round(seconds, 3),
        "refused": refused,
    }


@flow(name="curate-validate", log_prints=True)
def validate_only(config: CurateConfig) -> dict[str, Any]:
    """Ingest and validate a pool against a target: the quarantine and its reasons, nothing scored."""
    config, limits, outputs = config.with_cache_dir(), Limits.of(config), StagedOutputs(config.out)
    spill_dir, started = make_temp_dir("valid-rows"), time.perf_counter()
    try:
        source = ingest(config.pool)
        validation_rows, test_rows = read_target(config.validation), read_target(config.test)
        target = validate_target(validation_rows, test_rows, reader_of(config), limits)
        refused = None
        try:
            pool = validate_pool(source, target, spill_dir, limits, config.cache)
        except PoolRejected as rejected:  # still a validation: say what was found, and that a run would stop
            pool, refused = rejected.pool, str(rejected)
        stage_validation(outputs, config.pool, pool)
        summary = summary_of(config, pool, time.perf_counter() - started, refused)
        outputs.publish(summary, SUMMARY)
        return summary
    except BaseException:
        outputs.abandon()
        raise
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
