"""Quality benchmark 1: a controlled logistic-regression pool, off-domain share swept 0.2 → 0.8.

    python benchmarks/quality/logistic.py            # 4 shares × 3 seeds × 5 methods, ~3 min on 2 cores

The target task labels x ~ N(0, I) in 8 dimensions by argmax(x W) over 3 classes. The pool mixes
- aligned rows: target inputs, target rule (what a curator wants);
- off-domain rows: inputs shifted by 2.5 along a random direction, labelled by a rotated rule
  (another task that looks like data);
- label-noised rows: target inputs, uniformly random labels;
- generic rows: wider inputs (σ = 2) labelled by a rule halfway between the target's and a
  random one (loosely helpful).
The off-domain share s runs from 0.2 to 0.8; the rest of the pool is 40% aligned, 30% noised,
30% generic. Every method selects 10% of the 3000-row pool for a `linear` model; the metric is
accuracy on 2000 held-out target rows. gradcos warms up on 5% of the pool, so as s grows its
reference trajectory is mostly off-domain: the "reference-path bias" this sweep exists to show.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, choices, markdown_table, print_runs, quiet, run_variants, save, write

DIM, CLASSES, POOL, VALIDATION, TEST = 8, 3, 3000, 150, 2000
SOURCES = ("aligned", "off-domain", "label-noised", "generic")


def rows(x: np.ndarray, weights: np.ndarray, source: str) -> pd.DataFrame:
    return pd.DataFrame({"features": list(x.astype(np.float32)), "label": (x @ weights).argmax(1), "source": source})


def task(share: float, seed: int) -> dict[str, pd.DataFrame]:
    """Validation, test and pool for one off-domain share (the target rule depends on the seed only)."""
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(DIM, CLASSES))
    rotation, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    direction = rng.normal(size=DIM)
    shift = 2.5 * direction / np.linalg.norm(direction)
    halfway = 0.5 * target + 0.5 * rng.normal(size=(DIM, CLASSES))
    n_off = round(share * POOL)
    n_aligned = round(0.4 * (POOL - n_off))
    n_noised = round(0.3 * (POOL - n_off))
    n_generic = POOL - n_off - n_aligned - n_noised
    noised = rows(rng.normal(size=(n_noised, DIM)), target, "label-noised")
    noised["label"] = rng.integers(0, CLASSES, n_noised)
    pool = (
        pd.concat(
            [
                rows(rng.normal(size=(n_aligned, DIM)), target, "aligned"),
                rows(rng.normal(size=(n_off, DIM)) + shift, rotation @ target, "off-domain"),
                noised,
                rows(2.0 * rng.normal(size=(n_generic, DIM)), halfway, "generic"),
            ]
        )
        .sample(frac=1.0, random_state=seed)
        .reset_index(drop=True)
    )
    pool.insert(0, "id", [f"s{share:.1f}-{i:05d}" for i in range(len(pool))])
    return {
        "validation": rows(rng.normal(size=(VALIDATION, DIM)), target, "target"),
        "test": rows(rng.normal(size=(TEST, DIM)), target, "target"),
        "pool": pool,
    }


def selected_sources(run_dir: Path) -> dict[str, float]:
    chosen = pd.read_parquet(run_dir / "selection.parquet", columns=["source"])
    return chosen["source"].value_counts(normalize=True).to_dict()


def composition_table(frame: pd.DataFrame) -> str:
    """Per method and off-domain share: 'aligned / off-domain / label-noised / generic' shares."""
    columns = [f"{source} in selection" for source in SOURCES]
    means = frame.groupby(["method", "off-domain share"], sort=False)[columns].mean()
    shares = list(frame["off-domain share"].drop_duplicates())
    lines = [
        "| method | " + " | ".join(f"off-domain {s:g} of pool" for s in shares) + " |",
        "|" + " --- |" * (len(shares) + 1),
    ]
    for method in frame["method"].drop_duplicates():
        lines.append(
            f"| {method} | "
            + " | ".join(" / ".join(f"{means.loc[(method, s), c]:.2f}" for c in columns) for s in shares)
            + " |"
        )
    return "\n".join(lines)


def plot(frame: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.4, 4.2))
    for method, group in frame.groupby("method", sort=False):
        stats = group.groupby("off-domain share")["accuracy"].agg(["mean", "std"])
        axis.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3, label=method)
    axis.set_xlabel("off-domain share of the pool")
    axis.set_ylabel("target test accuracy after finetune")
    axis.set_title("Logistic-regression pool: 10% budget, mean ± std over seeds")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--methods-only", action="store_true", help="the methods with the defaults, not issue 13's lossdrop variants"
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--shares", default="0.2,0.4,0.6,0.8")
    args = parser.parse_args()
    quiet()
    started, records = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="quality-logistic-") as root:
        for share in [float(s) for s in args.shares.split(",")]:
            for seed in range(args.seeds):
                where = Path(root) / f"share-{share}-seed-{seed}"
                paths = {
                    name: write(frame, where / "data" / f"{name}.parquet") for name, frame in task(share, seed).items()
                }
                table = run_variants(
                    where / "out",
                    paths,
                    not args.methods_only,
                    model="linear",
                    budget=0.1,
                    seed=seed,
                    warmup_seed=seed,
                    cache=str(where / "cache"),
                )
                for _, row in table.iterrows():
                    sources = selected_sources(Path(row["dir"]))
                    records.append(
                        {
                            "off-domain share": share,
                            "seed": seed,
                            "method": row["variant"],
                            "chose": row["chose"],
                            "accuracy": row["selection"],
                            "lift over random": row["lift over random"],
                            **{f"{source} in selection": sources.get(source, 0.0) for source in SOURCES},
                            "score seconds": row["score seconds"],
                            "bytes stored": row["bytes stored"],
                        }
                    )
                print_runs(f"share {share} seed {seed}", records[-len(table) :], "accuracy")
    frame = pd.DataFrame(records)
    RESULTS.mkdir(exist_ok=True)
    plot_name = "logistic" + ("-methods" if args.methods_only else "") + ".png"
    plot(frame, RESULTS / plot_name)
    text = "\n\n".join(
        [
            f"### Target test accuracy (mean ± std over {args.seeds} seeds)",
            markdown_table(frame, "method", "off-domain share", "accuracy"),
            "### What each method selected: shares of aligned / off-domain / label-noised / generic rows "
            "(mean over seeds)",
            composition_table(frame),
            f"![accuracy vs off-domain share](quality/results/{plot_name})",
            "### What `auto` chose",
            choices(frame, ["off-domain share", "seed"]),
        ]
    )
    save("logistic" + ("-methods" if args.methods_only else ""), frame, text, started)


if __name__ == "__main__":
    main()
