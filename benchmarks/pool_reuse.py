"""The validated-pool cache: ingest + validate of a pool checked before, against another validation set.

    python benchmarks/pool_reuse.py [--rows 200000] [--rounds 2]

A Parquet pool of prompt/response rows (as benchmarks/ingest_memory.py writes them) and two
validation sets of 200 rows each. Each measurement runs in a fresh process, as `curate run` does:
list and stat the pool (ingest), read and check the validation set, check the pool (a miss: read
every file, run the row format's checks, keep the valid rows in the cache) or take it from the
cache (a hit), then admit its rows for the target (leakage) into local shards. Great Expectations'
import (~3 s, once per process whatever the pool) is done before the clock starts and reported
apart. Rounds alternate a fresh cache (miss with the first validation set, then a hit with the
second), so both are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def measure(pool: str, validation: str, cache: str) -> dict:
    """Ingest + validate in this process, as the flow's two stages do."""
    started = time.perf_counter()
    import great_expectations  # noqa: F401  (its import is a per-process constant: timed apart)

    imported = time.perf_counter() - started
    from curation.formats import Limits
    from curation.io.batches import read_rows
    from curation.io.sources import open_source
    from curation.validation.pool import check_pool_for
    from curation.validation.target import check_target

    with tempfile.TemporaryDirectory() as spill:
        started = time.perf_counter()
        source = open_source(pool)
        target = check_target(read_rows(validation), None, "text", Limits())
        checked = check_pool_for(source, target, spill, cache, Limits())
        seconds = time.perf_counter() - started
    return {
        "cache": checked.cache,
        "rows": checked.rows_read,
        "seconds": round(seconds, 3),
        "gx_import": round(imported, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", nargs=3, metavar=("POOL", "VALIDATION", "CACHE"))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    from ingest_memory import write_pool

    from curation.demo import corpus

    with tempfile.TemporaryDirectory() as root:
        pool = os.path.join(root, "pool.parquet")
        write_pool(pool, args.rows)
        validations = []
        for name in ("first", "second"):  # two targets: different rows of the same form
            path = os.path.join(root, f"{name}.parquet")
            rows = corpus().iloc[:200]
            rows.assign(response=[f"{r} <{name} target>" for r in rows["response"]])[["prompt", "response"]].to_parquet(
                path
            )
            validations.append(path)
        ratios = []
        for round_no in range(args.rounds):
            cache = os.path.join(root, f"cache-{round_no}")
            runs = []
            for validation in validations:
                out = subprocess.run(
                    [sys.executable, __file__, "--measure", pool, validation, cache],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
                print(json.dumps(runs[-1]), flush=True)
            assert [r["cache"] for r in runs] == ["miss", "hit"], runs
            ratios.append(runs[1]["seconds"] / runs[0]["seconds"])
        print(json.dumps({"hit_over_miss": [round(r, 3) for r in ratios]}))


if __name__ == "__main__":
    main()
