"""Peak memory of ingest + validate over a 100,000-row and a 1,000,000-row text pool.

Streaming must keep memory flat: the 1M-row peak should stay within 1.5x of the 100k-row peak.
Each measurement runs in a fresh process (peak RSS from getrusage), on pools of real text
(standard-library docstring paragraphs, each made unique by a row number).

    python benchmarks/ingest_memory.py            # prints a JSON line per size, then the ratio
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def write_pool(path: str, rows: int, chunk: int = 100_000) -> None:
    """A Parquet pool of `rows` prompt/response rows, written in chunks (flat memory here too)."""
    from curation.demo import corpus

    text = corpus()
    prompts, responses = list(text["prompt"]), list(text["response"])
    with pq.ParquetWriter(path, pa.schema([("prompt", pa.string()), ("response", pa.string())])) as writer:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            index = range(start, start + n)
            writer.write_table(
                pa.table(
                    {
                        "prompt": [prompts[i % len(prompts)] for i in index],
                        "response": [f"{responses[i % len(responses)]} [{i}]" for i in index],
                    }
                )
            )


def measure(pool: str, validation: str) -> dict:
    """Ingest + validate one pool in this process; peak RSS and time."""
    from curation.io.batches import read_rows
    from curation.io.sources import open_source
    from curation.validation.pool import check_pool
    from curation.validation.target import reference_from

    started = time.perf_counter()
    ref, _ = reference_from(read_rows(validation), "text")
    with tempfile.TemporaryDirectory() as spill:
        checked = check_pool(open_source(pool), ref, spill)
    seconds = time.perf_counter() - started
    return {
        "rows": checked.rows_read,
        "valid": checked.valid_rows,
        "seconds": round(seconds, 1),
        "rows_per_s": round(checked.rows_read / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", nargs=2, metavar=("POOL", "VALIDATION"))
    parser.add_argument("--sizes", default="100000,1000000")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    results = []
    with tempfile.TemporaryDirectory() as root:
        validation = os.path.join(root, "validation.parquet")
        write_pool(validation, 200)
        for size in map(int, args.sizes.split(",")):
            pool = os.path.join(root, f"pool-{size}.parquet")
            write_pool(pool, size)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", pool, validation], capture_output=True, text=True, check=True
            ).stdout
            results.append(json.loads(out.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
            os.remove(pool)
    print(json.dumps({"peak_rss_ratio": round(results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"], 3)}))


if __name__ == "__main__":
    main()
