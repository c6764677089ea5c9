"""Quality benchmark 4: real text with held-out domains (man pages), a small GPT-2 and a small Llama.

    python benchmarks/quality/mantext.py             # 3 seeds × 2 models × 10 variants, ~25 min on 2 cores

Rows are paragraphs of this machine's man pages in 20 categories (`mancorpus.py`). The target is
three categories the base models never saw (system calls, PostgreSQL's tools, Perl modules): 60
validation paragraphs (20 each), 15% of a 3,000-row pool (150 each, against 150 of each of the
other 17 categories). The base models are a 2-layer, 128-wide GPT-2 and a Llama-style model of
the same size, pretrained briefly on the other 17 categories' other paragraphs (once, not per
seed). Every variant selects 500 rows through the real `curate` flow (`--skip-finetune`); the
figure is the target share of the selection over its pool share (1× = random). Seeds draw the
pool and validation paragraphs anew.

Variants: lossdrop and lossdrop-raw × start θ0/θ1 × calibrated/fixed warmup, and embedding (max
and mean similarity).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, quiet, save, summary, write
from mancorpus import corpus

TARGETS = ("syscalls", "postgres", "perl")
VALIDATION_EACH, POOL_EACH, BUDGET = 20, 150, 500
PRETRAIN_EACH = 300
VARIANTS = [  # name, method, options
    ("auto (default)", "auto", {}),  # issue 27: the method chosen on the calibration's folds
    ("lossdrop θ0 calibrated", "lossdrop", {"start": "theta0"}),
    ("lossdrop θ1 calibrated", "lossdrop", {"start": "theta1"}),
    ("lossdrop-raw θ0 calibrated", "lossdrop-raw", {"start": "theta0"}),
    ("lossdrop-raw θ1 calibrated", "lossdrop-raw", {"start": "theta1"}),
    ("lossdrop θ0 fixed", "lossdrop", {"warmup": "fixed", "start": "theta0"}),
    ("lossdrop θ1 fixed", "lossdrop", {"warmup": "fixed", "start": "theta1"}),
    ("lossdrop-raw θ0 fixed", "lossdrop-raw", {"warmup": "fixed", "start": "theta0"}),
    ("lossdrop-raw θ1 fixed", "lossdrop-raw", {"warmup": "fixed", "start": "theta1"}),
    ("embedding max", "embedding", {}),
    ("embedding mean", "embedding", {"similarity": "mean"}),
    ("blend", "blend", {}),
]


def halves(paragraphs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each category split once (fixed seed) into paragraphs for pretraining and candidates for the pools."""
    shuffled = paragraphs.sample(frac=1.0, random_state=0)
    pretrain, candidates = [], []
    for category, rows in shuffled.groupby("category", sort=True):
        if category in TARGETS:
            candidates.append(rows)
            continue
        cut = min(PRETRAIN_EACH, len(rows) // 2)
        pretrain.append(rows.iloc[:cut])
        candidates.append(rows.iloc[cut:])
    return pd.concat(pretrain), pd.concat(candidates)


def task(candidates: pd.DataFrame, seed: int) -> dict[str, pd.DataFrame]:
    """This seed's validation set (target paragraphs) and pool (15% target)."""
    rng = np.random.default_rng(seed)
    validation, pool = [], []
    for category, rows in candidates.groupby("category", sort=True):
        order = rng.permutation(len(rows))
        if category in TARGETS:
            validation.append(rows.iloc[order[:VALIDATION_EACH]])
            pool.append(rows.iloc[order[VALIDATION_EACH : VALIDATION_EACH + POOL_EACH]])
        else:
            pool.append(rows.iloc[order[:POOL_EACH]])
    pool_frame = pd.concat(pool).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    pool_frame.insert(0, "id", [f"row-{i:05d}" for i in range(len(pool_frame))])
    return {"validation": pd.concat(validation)[["text", "category"]], "pool": pool_frame[["id", "text", "category"]]}


def build_models(root: Path, texts: list[str], steps: int) -> dict[str, str]:
    from curation.tinylm import build_model

    shape = {"vocab_size": 4096, "layers": 2, "width": 128, "heads": 4, "context": 128, "batch_size": 16}
    return {
        family: build_model(str(root / family), texts, pretrain_steps=steps, lr=3e-3, arch=family, **shape)
        for family in ("gpt2", "llama")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pretrain-steps", type=int, default=600)
    parser.add_argument("--variants", default="", help="comma-separated variant names (default: all)")
    parser.add_argument(
        "--name", default="mantext", help="results/<name>.csv: one row per finished run, resumed (done rows skipped)"
    )
    args = parser.parse_args()
    csv = RESULTS / f"{args.name}.csv"
    done = pd.read_csv(csv) if csv.exists() else pd.DataFrame(columns=["seed", "model", "variant"])
    quiet()
    from curation.config import CurateConfig
    from flows.curate import curate

    chosen = [v for v in VARIANTS if not args.variants or v[0] in args.variants.split(",")]
    started, records = time.perf_counter(), done.to_dict("records")
    pretrain, candidates = halves(corpus())
    with tempfile.TemporaryDirectory(prefix="quality-mantext-") as root:
        models = build_models(Path(root) / "models", pretrain["text"].tolist(), args.pretrain_steps)
        for seed in range(args.seeds):
            data = task(candidates, seed)
            where = Path(root) / f"seed-{seed}"
            paths = {name: write(frame, where / "data" / f"{name}.parquet") for name, frame in data.items()}
            share = data["pool"]["category"].isin(TARGETS).mean()
            for family, model in models.items():
                for name, method, options in chosen:
                    if ((done["seed"] == seed) & (done["model"] == family) & (done["variant"] == name)).any():
                        continue
                    out = where / family / name.replace(" ", "-")
                    run = {"method": method, "budget": BUDGET, "seed": seed, "warmup_seed": seed, **options}
                    config = CurateConfig.parse(
                        pool=paths["pool"],
                        validation=paths["validation"],
                        model=model,
                        out=str(out),
                        cache=str(where / family / "cache"),
                        skip_finetune=True,
                        max_length=128,
                        **run,
                    )
                    report = curate(config)
                    picked = pd.read_parquet(out / "selection.parquet", columns=["category"])
                    hit = picked["category"].isin(TARGETS).mean()
                    records.append(
                        {
                            "seed": seed,
                            "model": family,
                            "variant": name,
                            "× pool share": hit / share,
                            "target share": hit,
                            "warmup": report.warmup_words() if report.cache.warmup != "not-used" else "",
                            "calibrate s": report.timings.get("calibrate", 0.0),
                            "warmup s": report.timings.get("warmup", 0.0),
                            "score s": report.timings.get("score", 0.0),
                            "chose": report.effective.method if report.method_choice else "",
                        }
                    )
                    RESULTS.mkdir(exist_ok=True)
                    pd.DataFrame(records).to_csv(csv, index=False)
                    print(f"seed {seed} {family} {name}: {hit / share:.2f}× ({records[-1]['warmup']})", flush=True)
    results = pd.DataFrame(records)
    parts = []
    for family in ("gpt2", "llama"):
        subset = results[results["model"] == family]
        parts += [
            f"#### {family}: target share of the selection over its pool share (mean ± std over {args.seeds} seeds)",
            summary(subset, "variant", {"× pool share": 2, "target share": 3, "calibrate s": 1, "score s": 1}),
        ]
    defaults = results[results["variant"] == VARIANTS[0][0]][["seed", "model", "warmup", "chose"]]
    lines = ["| seed | model | warmup | auto chose |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.seed} | {r.model} | {r.warmup} | {r.chose} |" for r in defaults.itertuples()]
    parts += ["#### The default's calibrated warmup and chosen method per seed", "\n".join(lines)]
    save(args.name, results, "\n\n".join(parts), started)


if __name__ == "__main__":
    main()
