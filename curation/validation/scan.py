"""A pool's checks that involve no target, streamed batch by batch: the row format's checks and the
duplicate checks; valid rows (normalized, with ids and content hashes) to Parquet parts, bad rows
to the quarantine. What the validated-pool cache (`curation.cache.pools`) stores."""

from __future__ import annotations

import os
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curation.cache.pools import QUARANTINE
from curation.errors import InputError
from curation.formats import Limits, RowFormat, interchangeable
from curation.hashing import DatasetHasher
from curation.io.batches import check_files, iter_batches
from curation.io.sources import Source
from curation.rows import HASH_COLUMN
from curation.storage import arrow_table
from curation.validation.checks import assign_ids, concat_rejects, hashed, pool_checks, require_format, suite
from curation.validation.duplicates import SeenKeys, uniqueness

_NO_ROWS = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string())})


def scan_pool(source: Source, row_format: RowFormat, limits: Limits, out_dir: str) -> dict[str, Any]:
    """The checks that involve no target, streamed over a pool: valid rows (normalized, with ids and
    content hashes) to Parquet parts in `out_dir`, bad rows to its quarantine.parquet; the summary."""
    check_files(source)
    seen_content, seen_ids = SeenKeys(), SeenKeys()
    parts, quarantined = [], []
    rows_read, valid_rows = 0, 0
    pool_hash = DatasetHasher()
    expected, suites = row_format, {}
    for batch in iter_batches(source, limits.batch_rows):
        row_format = interchangeable(expected, batch.columns)  # a file may hold the other chat form
        require_format(batch, row_format, "pool")
        if row_format.name not in suites:
            checks = pool_checks(row_format, batch.columns, limits)
            suites[row_format.name] = suite(f"pool-rows-{row_format.name}", checks, row_format.facts)
        batch_suite = suites[row_format.name]
        batch = hashed(batch, row_format)
        rows_read += len(batch)
        pool_hash.update(batch[HASH_COLUMN])
        reasons = batch_suite.reasons(batch)
        batch = assign_ids(batch)
        # Same content: keep the first row. The same id on other content is ambiguous.
        for reason, repeated in (
            ("duplicate", seen_content.repeated(batch[HASH_COLUMN])),
            ("duplicate_id", seen_ids.repeated(batch["id"])),
        ):
            reasons[repeated & reasons.isna().to_numpy()] = reason
        bad = reasons.notna().to_numpy()
        if bad.any():
            quarantined.append(arrow_table(batch[bad].assign(reason=reasons[bad].astype(str))))
        if (~bad).any():
            parts.append(f"part-{len(parts):05d}.parquet")
            pq.write_table(arrow_table(row_format.normalize(batch[~bad])), os.path.join(out_dir, parts[-1]))
            valid_rows += int((~bad).sum())
    if rows_read == 0:
        raise InputError(
            "the pool holds no rows (expectation expect_table_row_count_to_be_between failed)", file=source.url
        )
    quarantine = concat_rejects(quarantined) if quarantined else _NO_ROWS
    pq.write_table(quarantine, os.path.join(out_dir, QUARANTINE))
    return {
        "parts": parts,
        "rows_read": rows_read,
        "valid_rows": valid_rows,
        "expectations": [e for found in suites.values() for e in found.summary()] + uniqueness(rows_read, quarantine),
        "pool_hash": pool_hash.hexdigest(),
        "files": list(source.files),
    }
