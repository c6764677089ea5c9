"""Quality benchmark 2: scikit-learn's bundled digits, with a domain shift between pool and target.

    python benchmarks/quality/digits.py              # 5 seeds × 5 methods, ~1.5 min on 2 cores

The target task is digits rotated by 90° (validation 100 images, test 500). The pool holds the
other 1197 images once each: 70% upright (the source domain: same labels, other pixels), 20%
rotated (the target domain), 10% rotated with heavy pixel noise (σ = 0.5 on a 0–1 scale). Each
method selects 180 rows (15%) for an `mlp` (64 hidden units) on the 64 pixels; the metric is
accuracy on the rotated test images. Seeds change the split of images into test, validation and
pool and the curation seed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import choices, print_runs, quiet, run_variants, save, summary, write

VALIDATION, TEST, BUDGET = 100, 500, 180


def frame(images: np.ndarray, labels: np.ndarray, domain: str, ids: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"{domain}-{i}" for i in ids],
            "features": list(images.reshape(len(images), 64).astype(np.float32)),
            "label": labels,
            "domain": domain,
        }
    )


def task(seed: int) -> dict[str, pd.DataFrame]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images / 16.0, digits.target
    rotated = np.rot90(images, k=1, axes=(1, 2))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    test, validation, pool = order[:TEST], order[TEST : TEST + VALIDATION], order[TEST + VALIDATION :]
    n_rotated, n_noisy = round(0.2 * len(pool)), round(0.1 * len(pool))
    rot, noisy, upright = pool[:n_rotated], pool[n_rotated : n_rotated + n_noisy], pool[n_rotated + n_noisy :]
    noise = rng.normal(scale=0.5, size=(len(noisy), 8, 8))
    pool_frame = pd.concat(
        [
            frame(images[upright], labels[upright], "upright", upright),
            frame(rotated[rot], labels[rot], "rotated", rot),
            frame(np.clip(rotated[noisy] + noise, 0, 1), labels[noisy], "rotated-noisy", noisy),
        ]
    )
    return {
        "validation": frame(rotated[validation], labels[validation], "rotated", validation),
        "test": frame(rotated[test], labels[test], "rotated", test),
        "pool": pool_frame.sample(frac=1.0, random_state=seed).reset_index(drop=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--methods-only", action="store_true", help="the methods with the defaults, not issue 13's lossdrop variants"
    )
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    quiet()
    started, records = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="quality-digits-") as root:
        for seed in range(args.seeds):
            where = Path(root) / f"seed-{seed}"
            paths = {name: write(data, where / "data" / f"{name}.parquet") for name, data in task(seed).items()}
            table = run_variants(
                where / "out",
                paths,
                not args.methods_only,
                model="mlp",
                budget=BUDGET,
                seed=seed,
                warmup_seed=seed,
                cache=str(where / "cache"),
            )
            for _, row in table.iterrows():
                chosen = pd.read_parquet(Path(row["dir"]) / "selection.parquet", columns=["domain"])
                shares = chosen["domain"].value_counts(normalize=True)
                records.append(
                    {
                        "seed": seed,
                        "method": row["variant"],
                        "chose": row["chose"],
                        "accuracy": row["selection"],
                        "lift over random": row["lift over random"],
                        "rotated share of selection": shares.get("rotated", 0.0),
                        "noisy share of selection": shares.get("rotated-noisy", 0.0),
                        "score seconds": row["score seconds"],
                        "bytes stored": row["bytes stored"],
                    }
                )
            print_runs(f"seed {seed}", records[-len(table) :], "accuracy")
    results = pd.DataFrame(records)
    text = "\n\n".join(
        [
            f"### Rotated-digit test accuracy and what was selected (mean ± std over {args.seeds} seeds)",
            summary(
                results,
                "method",
                {
                    "accuracy": 3,
                    "lift over random": 3,
                    "rotated share of selection": 2,
                    "noisy share of selection": 2,
                    "score seconds": 2,
                },
            ),
            "### What `auto` chose",
            choices(results, ["seed"]),
        ]
    )
    save("digits" + ("-methods" if args.methods_only else ""), results, text, started)


if __name__ == "__main__":
    main()
