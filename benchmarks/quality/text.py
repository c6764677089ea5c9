"""Quality benchmark 3: a text pool of the standard library's docstrings, with the small causal LM.

    python benchmarks/quality/text.py                # 3 seeds × 5 methods, ~4.5 min on 2 cores

The rows are docstring paragraphs of Python's standard library grouped by module family (the
demo's corpus, `curation.demo`). The target is the `web` family (http, urllib, html, ...):
validation 120 and test 150 web paragraphs. The pool is the demo's pool A: half of the other
seven families' paragraphs plus half of the remaining web ones (about 1150 rows, 8% web). The
base model is the demo's 2-layer, 64-wide GPT-2, pretrained here on the non-web families only.
Each method selects 100 rows; the metrics are the test loss on web paragraphs after a LoRA
finetune on the selection (lower is better) and the share of web rows in the selection. Seeds
change the split of the web paragraphs and the curation seed; the base model is the same.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import print_runs, quiet, run_variants, save, summary

BUDGET = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    quiet()
    from curation.demo import TARGET, build_demo_model, write_demo_data

    started, records = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="quality-text-") as root:
        model = build_demo_model(str(Path(root) / "model"))
        for seed in range(args.seeds):
            where = Path(root) / f"seed-{seed}"
            data = write_demo_data(str(where / "data"), seed=seed)
            pool_share = (pd.read_parquet(data["pool_a"], columns=["family"])["family"] == TARGET).mean()
            table = run_variants(
                where / "out",
                {**data, "pool": data["pool_a"]},
                model=model,
                budget=BUDGET,
                seed=seed,
                warmup_seed=seed,
                cache=str(where / "cache"),
            )
            for _, row in table.iterrows():
                chosen = pd.read_parquet(Path(row["dir"]) / "selection.parquet", columns=["family"])
                records.append(
                    {
                        "seed": seed,
                        "method": row["variant"],
                        "test loss": row["selection"],
                        "lift over random": row["lift over random"],
                        "web share of selection": (chosen["family"] == TARGET).mean(),
                        "web share of pool": pool_share,
                        "score seconds": row["score seconds"],
                        "warmup seconds": row["warmup seconds"],
                        "bytes stored": row["bytes stored"],
                    }
                )
            print_runs(f"seed {seed}", records[-len(table) :], "test loss")
    results = pd.DataFrame(records)
    text = "\n\n".join(
        [
            f"### Web test loss after finetune and web share of the selection (mean ± std over {args.seeds} seeds; "
            f"the pool is {results['web share of pool'].mean():.1%} web)",
            summary(
                results,
                "method",
                {
                    "test loss": 3,
                    "lift over random": 3,
                    "web share of selection": 2,
                    "warmup seconds": 1,
                    "score seconds": 1,
                },
            ),
        ]
    )
    save("text", results, text, started)


if __name__ == "__main__":
    main()
