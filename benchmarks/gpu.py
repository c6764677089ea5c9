"""Scoring on the device it finds: throughput against a bare forward loop, the dtype, the OOM back-off, peak memory.

    python benchmarks/gpu.py                                  # CUDA if present, else the CPU; a built LM
    python benchmarks/gpu.py --small                          # the fast tier's CPU run (seconds)
    python benchmarks/gpu.py --layers 12 --width 768 --rows 4096 --csv   # a GPT-2-small shape; a row in results/gpu.csv

One command for the day a GPU machine is lent (the model hubs are out of reach there, so the model
is built here by curation.tinylm: a GPT-2 of `--layers` × `--width`, its tokenizer trained on the
demo corpus). It measures, on the same length-bucketed, padded batches:

- `bare_tokens_per_s`: `model(input_ids, attention_mask)` and nothing else, one pass;
- `scoring_tokens_per_s`: the product's scoring (`CausalLMAdapter.endpoint_losses`: θ0 and θT, the
  LoRA adapter off and on, per-row losses), two passes; `fraction_of_two_pass_bound` = scoring /
  (bare / 2), as benchmarks/scoring_efficiency.py;
- `dtype`: what the model computes in (bfloat16 on CUDA, float32 on a CPU: curation.models.local_model);
- the OOM back-off (curation.models.token_losses.Batcher.each): on CUDA the process is capped to a
  share of the device's memory (`--oom-fraction`) so a batch of `--oom-batch` rows cannot fit; on a
  CPU, which raises no OutOfMemoryError, the device is made to refuse batches above `--oom-rows` (a
  fault injected into the model's loss call, stated as `oom: simulated`). Either way every row's
  score must equal the unconstrained run's (`oom_scores_match`), and `oom_batch_ended_at` is the batch
  size the back-off settled on;
- `peak_memory_mb`: CUDA's max allocated; on a CPU the process's peak resident set.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CSV = REPO / "benchmarks" / "results" / "gpu.csv"


def bare_tokens_per_s(model, batches: list, tokens: int) -> float:
    started = time.perf_counter()
    with torch.inference_mode():
        for ids, mask in batches:
            model(input_ids=ids, attention_mask=mask)
    synchronize()
    return tokens / (time.perf_counter() - started)


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def back_off(adapter, rows, args) -> dict:
    """Score with a batch that does not fit; the scores must match the unconstrained run's."""
    expected = adapter.endpoint_losses(rows, args.batch_size)
    sizes: list[int] = []
    real = adapter._row_losses
    if adapter.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(args.oom_fraction)
        how = f"real: the process capped to {args.oom_fraction:.0%} of the device's memory"

        def counted(ids, mask, labels):
            sizes.append(len(ids))
            return real(ids, mask, labels)
    else:
        how = f"simulated: a CPU raises no OutOfMemoryError; batches above {args.oom_rows} rows were refused"

        def counted(ids, mask, labels):
            sizes.append(len(ids))
            if len(ids) > args.oom_rows:
                raise torch.OutOfMemoryError(f"refused a batch of {len(ids)} rows")
            return real(ids, mask, labels)

    adapter._row_losses = counted
    try:
        got = adapter.endpoint_losses(rows, args.oom_batch)
    finally:
        adapter._row_losses = real
        if adapter.device.type == "cuda":
            torch.cuda.set_per_process_memory_fraction(1.0)
    match = all(np.allclose(a, b, rtol=2e-2 if adapter.device.type == "cuda" else 1e-5) for a, b in zip(got, expected))
    return {"oom": how, "oom_batch_asked": args.oom_batch, "oom_batch_ended_at": sizes[-1], "oom_scores_match": match}


def measure(args) -> dict:
    from transformers import AutoModelForCausalLM

    from curation.demo import corpus
    from curation.models.base import WarmupConfig
    from curation.models.causal_lm import CausalLMAdapter
    from curation.tinylm import build_model

    rows = corpus().iloc[: args.rows].reset_index(drop=True)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    with tempfile.TemporaryDirectory() as directory:
        shape = {"layers": args.layers, "width": args.width, "heads": max(1, args.width // 64), "context": 256}
        build_model(directory, list(rows["response"]), pretrain_steps=args.pretrain_steps, **shape)
        adapter = CausalLMAdapter(directory, device=str(device))
        adapter.warmup(rows.iloc[:64], WarmupConfig(steps=2, batch_size=8, lora_rank=8, lora_alpha=16))
        bare = AutoModelForCausalLM.from_pretrained(directory, dtype=adapter.base.dtype).to(device).eval()
        encoded = adapter.encode(rows)
        batches = [(ids, mask) for _, ids, _, mask in adapter._batches(encoded, args.batch_size)]
        tokens = sum(int(ids.numel()) for ids, _ in batches)

        def scoring() -> float:
            started = time.perf_counter()
            adapter.endpoint_losses(rows, args.batch_size)
            synchronize()
            return tokens / (time.perf_counter() - started)

        bare_tokens_per_s(bare, batches, tokens), scoring()  # warm both paths up
        bare_tps, score_tps = [], []
        for _ in range(args.rounds):  # alternated: both see the same load
            bare_tps.append(bare_tokens_per_s(bare, batches, tokens))
            score_tps.append(scoring())
        oom = back_off(adapter, rows, args)
        bare_median, score_median = float(np.median(bare_tps)), float(np.median(score_tps))
        threads = f"cpu ({torch.get_num_threads()} threads)"
        return {
            "device": torch.cuda.get_device_name() if device.type == "cuda" else threads,
            "dtype": str(adapter.base.dtype).removeprefix("torch."),
            "parameters": adapter.parameters,
            "rows": len(rows),
            "padded_tokens": tokens,
            "batch_size": args.batch_size,
            "bare_tokens_per_s": round(bare_median),
            "scoring_tokens_per_s": round(score_median),
            "fraction_of_two_pass_bound": round(score_median / (bare_median / 2), 3),
            **oom,
            "peak_memory_mb": round(peak_memory_mb(device), 1),
        }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pretrain-steps", type=int, default=20)
    parser.add_argument("--oom-batch", type=int, default=None, help="the batch that must not fit (default: all rows)")
    parser.add_argument("--oom-fraction", type=float, default=0.02, help="CUDA: the share of memory left to use")
    parser.add_argument("--oom-rows", type=int, default=8, help="CPU: the largest batch the device accepts")
    parser.add_argument("--cpu", action="store_true", help="the CPU even where CUDA is present")
    parser.add_argument("--small", action="store_true", help="a seconds-long CPU run: 64 rows, 1 layer of 32")
    parser.add_argument("--csv", action="store_true", help="append the figures to benchmarks/results/gpu.csv")
    args = parser.parse_args(argv)
    if args.small:
        args.rows, args.layers, args.width, args.batch_size, args.rounds, args.pretrain_steps = 64, 1, 32, 16, 1, 5
    args.oom_batch = args.oom_batch or args.rows
    result = measure(args)
    if args.csv:
        import pandas as pd

        commit = os.popen(f"git -C {REPO} rev-parse --short HEAD").read().strip()
        row = pd.DataFrame([{"commit": commit, **result}])
        row.to_csv(CSV, mode="a", header=not CSV.exists(), index=False)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
