"""Scoring throughput against its bound: a bare forward loop over the same padded tokens.

Scoring runs two forward passes per batch (θ0 with the LoRA adapter disabled, θT with it on) and
turns logits into per-row losses; a bare `model(input_ids)` loop over the same length-bucketed,
padded batches does one pass and nothing else. The bound for two passes is half the bare
throughput, so the figure reported is  score_tokens_per_s / (bare_tokens_per_s / 2).

    python benchmarks/scoring_efficiency.py [--rows 3000] [--batch-size 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from transformers import AutoModelForCausalLM

    from curation.demo import corpus
    from curation.models.base import WarmupConfig
    from curation.models.causal_lm import CausalLMAdapter
    from curation.tinylm import build_model

    rows = corpus().iloc[: args.rows].reset_index(drop=True)
    with tempfile.TemporaryDirectory() as directory:
        # The demo's architecture: 2 layers, 64 wide, 2048-token vocabulary.
        build_model(directory, list(rows["response"]), layers=2, width=64, heads=4, context=256)
        adapter = CausalLMAdapter(directory, device="cpu")
        adapter.warmup(rows.iloc[:64], WarmupConfig(steps=2, batch_size=8, lora_rank=8, lora_alpha=16))
        bare = AutoModelForCausalLM.from_pretrained(directory).eval()
        encoded = adapter.encode(rows)
        batches = [(ids, mask) for _, ids, _, mask in adapter._batches(encoded, args.batch_size)]
        tokens = sum(ids.numel() for ids, _ in batches)

        def bare_loop() -> float:
            started = time.perf_counter()
            with torch.inference_mode():
                for ids, mask in batches:
                    bare(input_ids=ids, attention_mask=mask)
            return tokens / (time.perf_counter() - started)

        def scoring() -> float:
            started = time.perf_counter()
            adapter.endpoint_losses(rows, args.batch_size)
            return tokens / (time.perf_counter() - started)

        bare_loop(), scoring()  # warm both paths up
        bare_tps, score_tps = [], []
        for _ in range(args.rounds):  # alternate, so both see the same machine load
            bare_tps.append(bare_loop())
            score_tps.append(scoring())
    result = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "rows": len(rows),
        "padded_tokens": tokens,
        "batch_size": args.batch_size,
        "bare_forward_tokens_per_s": round(statistics.median(bare_tps)),
        "scoring_tokens_per_s": round(statistics.median(score_tps)),
        "fraction_of_two_pass_bound": round(statistics.median(score_tps) / (statistics.median(bare_tps) / 2), 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
