"""The real instruction model: SmolLM2-135M-Instruct (`curate model fetch smollm2`), its real chat
template, and chat pools in both forms end to end, the selection read by `datasets` and trained on
by TRL's SFTTrainer for a step. Small on purpose: a dozen conversations, 64 tokens, 3 warmup steps."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from runs import curate_run

from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import labelled
from curation.models import forget_adapters

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
CODE = [
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
]
COOKING = [
    ("How long do I boil an egg?", "About nine minutes for a hard-boiled egg."),
    ("What makes bread rise?", "Yeast turns sugar into gas."),
    ("How do I cook rice?", "Simmer one cup of rice in two cups of water."),
    ("Why salt pasta water?", "It seasons the pasta from inside."),
    ("How do I chop an onion?", "Halve it, slice it, then cut across."),
    ("What is a roux?", "Flour cooked in fat to thicken sauces."),
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Model hubs are unreachable here: datasets and TRL must not try them."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def smollm2() -> str:
    """SmolLM2-135M-Instruct as a plain model directory (fetched and converted once per cache)."""
    from curation.config import default_cache_dir
    from curation.model_fetch import default_directory, fetch

    cache = default_cache_dir()
    return fetch("smollm2", default_directory("smollm2", cache), cache)


def _messages(pairs, turns: int = 1) -> list[list[dict]]:
    """Conversations of `turns` exchanges each, cycling through the pairs."""
    found = []
    for i in range(len(pairs)):
        chat = []
        for j in range(turns):
            question, answer = pairs[(i + j) % len(pairs)]
            chat += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        found.append(chat)
    return found


def test_the_loss_mask_on_smollm2s_own_template_is_the_assistant_content_and_end_of_turn(smollm2):
    """Token by token against a hand-built reference: the default system prompt the template adds,
    the role headers and the newline after each end-of-turn token carry no label."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    chat = _messages(CODE[:2], turns=2)[0]
    tokens = Tokens(tokenizer, max_length=512, start_id=tokenizer.bos_token_id)
    ids, labels = labelled(chat, tokens)

    def piece(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    reference, expected, last = [], [], []
    for i, turn in enumerate(chat):
        head = piece(f"<|im_start|>{turn['role']}\n")
        content, end, newline = piece(turn["content"]), piece("<|im_end|>"), piece("\n")
        prefix = piece(SYSTEM) if i == 0 else []
        reference += prefix + head + content + end + newline
        trained = turn["role"] == "assistant"
        expected += [IGNORE] * len(prefix + head) + ((content + end) if trained else [IGNORE] * len(content + end))
        expected += [IGNORE] * len(newline)
        last += [IGNORE] * len(prefix + head) + (content + end if i == 3 else [IGNORE] * len(content + end))
        last += [IGNORE] * len(newline)
    assert ids == reference and labels == expected
    assert labelled(chat, tokens.spanning("last-turn"))[1] == last


def _write(path, rows, as_array: bool = False) -> str:
    text = json.dumps(rows) if as_array else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("pool_form", ["messages-jsonl", "sharegpt-json"])
def test_chat_pools_on_smollm2_end_to_end_into_datasets_and_trl(pool_form, smollm2, prefect_api_url, tmp_path):
    forget_adapters()
    sharegpt = pool_form == "sharegpt-json"
    pool_chats = _messages(CODE[4:], turns=2) + _messages(COOKING, turns=2)
    if sharegpt:  # a JSON array of ShareGPT rows, as most community sets ship; validation in messages form
        speaker = {"user": "human", "assistant": "gpt"}
        rows = [{"conversations": [{"from": speaker[t["role"]], "value": t["content"]} for t in c]} for c in pool_chats]
        pool = _write(tmp_path / "pool.json", rows, as_array=True)
        validation = _write(tmp_path / "validation.jsonl", [{"messages": c} for c in _messages(CODE[:4])])
    else:  # messages JSONL; validation in ShareGPT form
        pool = _write(tmp_path / "pool.jsonl", [{"messages": c} for c in pool_chats])
        share = [[{"from": "human" if t["role"] == "user" else "gpt", "value": t["content"]} for t in c]
                 for c in _messages(CODE[:4])]  # fmt: skip
        validation = _write(tmp_path / "validation.jsonl", [{"conversations": c} for c in share])
    out = tmp_path / "out"
    report = curate_run(
        pool=pool, validation=validation, model=smollm2, budget=4, out=str(out), cache=str(tmp_path / "cache"),
        warmup_steps=3, warmup_scope="attention", max_length=64, skip_finetune=True,
    )  # fmt: skip
    forget_adapters()
    assert report["counts"]["valid"] == len(pool_chats) and report["counts"]["selected"] == 4
    selection = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    by_source_row = {row["source_row"]: row for row in selection}
    assert all(row["messages"] == pool_chats[i] for i, row in by_source_row.items())  # the input's conversations
    assert all(row["source_file"] == pool for row in selection) and [r["rank"] for r in selection] == [1, 2, 3, 4]
    assert pd.read_parquet(out / "selection.parquet")["id"].tolist() == [row["id"] for row in selection]

    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(out / "selection.jsonl"), split="train")
    assert dataset.num_rows == 4 and dataset[0]["messages"] == selection[0]["messages"]
    if sharegpt:
        return  # one TRL step is enough: the messages pool's
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(tmp_path / "sft"), max_steps=1, per_device_train_batch_size=2, report_to=[],
        save_strategy="no", max_length=64, use_cpu=True, logging_steps=1, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = SFTTrainer(model=smollm2, args=args, train_dataset=dataset.select_columns(["messages"]))
    trainer.train()
    assert trainer.state.global_step == 1 and trainer.state.log_history[0]["loss"] > 0
