"""The chat demo (`curate demo --chat`): a real instruction model on conversations in both chat forms.

SmolLM2-135M-Instruct (`curate model fetch smollm2`) curates a pool of two-exchange conversations
(`messages` JSON lines: Python questions and cooking questions, and one conversation with a
speaker no table knows) for a target of Python questions, given as a ShareGPT JSON array. Small
on purpose, so that it runs in about two minutes on 2 CPU cores: a fixed warmup of 4 steps
instead of the calibration, 96 tokens, one finetune epoch.
"""

from __future__ import annotations

import json
import os

PYTHON = [
    ("How do I reverse a list in Python?", "Use my_list[::-1] or my_list.reverse()."),
    ("What does len() return?", "The number of items in a container."),
    ("How do I read a file in Python?", "Open it with open(path) and call read()."),
    ("What is a Python dictionary?", "A mapping from keys to values."),
    ("How do I sort a list?", "Call sorted(items) or items.sort()."),
    ("What is a list comprehension?", "A compact loop that builds a list: [x * 2 for x in xs]."),
    ("How do I import a module?", "Write import name at the top of the file."),
    ("What does range(3) give?", "The numbers 0, 1 and 2."),
    ("How do I define a function?", "Use def name(args): and an indented body."),
    ("What is None in Python?", "The value that stands for nothing."),
    ("How do I join strings?", "Call ', '.join(parts)."),
    ("What is a tuple?", "An immutable sequence, written (1, 2)."),
]
COOKING = [
    ("How long do I boil an egg?", "About nine minutes for a hard-boiled egg."),
    ("What makes bread rise?", "Yeast turns sugar into gas."),
    ("How do I cook rice?", "Simmer one cup of rice in two cups of water."),
    ("Why salt pasta water?", "It seasons the pasta from inside."),
    ("How do I chop an onion?", "Halve it, slice it, then cut across."),
    ("What is a roux?", "Flour cooked in fat to thicken sauces."),
]


def conversations(pairs, turns: int = 1) -> list[list[dict[str, str]]]:
    """One conversation per pair, of `turns` exchanges each (the next pairs follow, cycling)."""
    found = []
    for i in range(len(pairs)):
        chat = []
        for j in range(turns):
            question, answer = pairs[(i + j) % len(pairs)]
            chat += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        found.append(chat)
    return found


def as_sharegpt(chat: list[dict[str, str]]) -> list[dict[str, str]]:
    speaker = {"user": "human", "assistant": "gpt", "system": "system"}
    return [{"from": speaker[turn["role"]], "value": turn["content"]} for turn in chat]


def write_chat_demo(directory: str) -> dict[str, str]:
    """validation.json (ShareGPT array), test.jsonl and pool.jsonl (messages) under `directory`."""
    os.makedirs(directory, exist_ok=True)
    paths = {name: os.path.join(directory, name) for name in ("validation.json", "test.jsonl", "pool.jsonl")}
    with open(paths["validation.json"], "w", encoding="utf-8") as handle:
        json.dump([{"conversations": as_sharegpt(c)} for c in conversations(PYTHON[:6])], handle, indent=1)
    with open(paths["test.jsonl"], "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"messages": c}) + "\n" for c in conversations(PYTHON[6:9]))
    pool = conversations(PYTHON[6:], turns=2) + conversations(COOKING, turns=2)
    pool.append([{"role": "tool", "content": "{}"}, {"role": "assistant", "content": "Done."}])  # quarantined
    with open(paths["pool.jsonl"], "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"messages": c}) + "\n" for c in pool)
    return {"validation": paths["validation.json"], "test": paths["test.jsonl"], "pool": paths["pool.jsonl"]}
