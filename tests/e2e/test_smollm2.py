"""The real instruction model: SmolLM2-135M-Instruct (`curate model fetch smollm2`), its real chat
template, and chat pools in both forms end to end: the README's chat demo through the command line
(its selection read by `datasets` and trained on by TRL's SFTTrainer for a step), and a ShareGPT
JSON-array pool. Small on purpose: a dozen conversations, 64-96 tokens, a few warmup steps."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import label_runs
from runs import curate_run

from curation.chat_demo import COOKING, PYTHON, as_sharegpt, conversations
from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import labelled

pytestmark = [pytest.mark.e2e, pytest.mark.real_model]

SYSTEM = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Model hubs are unreachable here: datasets and TRL must not try them."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def smollm2() -> str:
    """SmolLM2-135M-Instruct as a plain model directory (fetched and converted once per cache)."""
    from curation.model_fetch import fetch

    return fetch("smollm2")


def test_the_loss_mask_on_smollm2s_own_template_is_the_assistant_content_and_end_of_turn(smollm2):
    """Token by token against a hand-built reference: the default system prompt the template adds,
    the role headers and the newline after each end-of-turn token carry no label."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    chat = conversations(PYTHON[:2], turns=2)[0]
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


def test_smollm2_labels_code_answers_blank_lines_and_assistant_first_conversations(smollm2):
    """Findings 1 and 2 of the real-data pass, on the real template: an answer opening with indentation
    or a blank line (BPE merges it with the header's newline) and a conversation opening with an
    assistant turn (36% of ShareGPT V3) are labelled on exactly each answer and its end of turn."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    turns = [
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Write f."},
        {"role": "assistant", "content": "    def f(x):\n        return x"},
        {"role": "user", "content": "And HTTP?"},
        {"role": "assistant", "content": "\n\nThe HTTP status line comes first."},
    ]
    ids, labels = labelled(turns, Tokens(tokenizer, max_length=512, start_id=tokenizer.bos_token_id))
    assert tokenizer.decode(ids).startswith(SYSTEM)
    runs = label_runs(tokenizer, labels)
    assert [run.replace("<|im_end|>", "").strip("\n") for run in runs] == [
        t["content"].strip("\n") for t in turns if t["role"] == "assistant"
    ]  # fmt: skip
    assert all(run.endswith("<|im_end|>") for run in runs)


def test_the_chat_demo_runs_and_its_selection_trains_with_datasets_and_trl(smollm2, curate_cli, tmp_path):
    """The README's chat example, as written: `curate demo --chat --out demo-chat`."""
    out = tmp_path / "demo-chat"
    done = curate_cli("demo", "--chat", "--out", str(out), check=True)
    assert "lift over random" in done.stdout
    pool = [json.loads(line)["messages"] for line in (out / "data" / "pool.jsonl").read_text().splitlines()]
    selection = [json.loads(line) for line in (out / "run" / "selection.jsonl").read_text().splitlines()]
    assert len(selection) == 4 and all(row["messages"] == pool[row["source_row"]] for row in selection)
    assert pd.read_parquet(out / "run" / "quarantine.parquet")["reason"].tolist() == ["unknown_role"]

    from datasets import load_dataset
    from trl import SFTConfig, SFTTrainer

    dataset = load_dataset("json", data_files=str(out / "run" / "selection.jsonl"), split="train")
    assert dataset.num_rows == 4 and dataset[0]["messages"] == selection[0]["messages"]
    args = SFTConfig(
        output_dir=str(tmp_path / "sft"), max_steps=1, per_device_train_batch_size=2, report_to=[],
        save_strategy="no", max_length=64, use_cpu=True, logging_steps=1, dataloader_num_workers=0,
    )  # fmt: skip
    trainer = SFTTrainer(model=smollm2, args=args, train_dataset=dataset.select_columns(["messages"]))
    trainer.train()
    assert trainer.state.global_step == 1 and trainer.state.log_history[0]["loss"] > 0


def test_a_sharegpt_json_array_pool_on_smollm2_selects_its_conversations_as_messages(
    smollm2, prefect_api_url, tmp_path
):
    pool_chats = conversations(PYTHON[4:], turns=2) + conversations(COOKING, turns=2)
    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps([{"conversations": as_sharegpt(c)} for c in pool_chats]), encoding="utf-8")
    validation = tmp_path / "validation.jsonl"
    validation.write_text("".join(json.dumps({"messages": c}) + "\n" for c in conversations(PYTHON[:4])))
    out = tmp_path / "out"
    report = curate_run(
        pool=str(pool), validation=str(validation), model=smollm2, budget=4, out=str(out),
        cache=str(tmp_path / "cache"), warmup_steps=3, warmup_scope="attention", max_length=64, skip_finetune=True,
    )  # fmt: skip
    assert report["counts"]["valid"] == len(pool_chats) and report["counts"]["selected"] == 4
    selection = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert all(row["messages"] == pool_chats[row["source_row"]] for row in selection)  # normalized to messages
    assert all(row["source_file"] == str(pool) for row in selection) and [r["rank"] for r in selection] == [1, 2, 3, 4]
    assert pd.read_parquet(out / "selection.parquet")["id"].tolist() == [row["id"] for row in selection]


SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sharegpt-sample"


def _as_given(path: Path) -> list[list[dict]]:
    """Each row's turns as the file gives them, with speakers mapped as the README says."""
    if path.suffix == ".json":
        rows = json.loads(path.read_text(encoding="utf-8-sig"))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    roles = {"human": "user", "gpt": "assistant", "system": "system"}
    found = []
    for row in rows:
        if "messages" in row:
            found.append(row["messages"])
        else:
            found.append([{"role": roles[t["from"].lower()], "content": t["value"],
                           **{k: v for k, v in t.items() if k not in ("from", "value")}}
                          for t in row["conversations"]])  # fmt: skip
    return found


def test_real_sharegpt_as_shipped_comes_back_as_given(smollm2, tmp_path):
    """Acceptance 2 of issue 32, on a committed sample of 40 whole ShareGPT V3 conversations
    (tests/data/sharegpt-sample/make.py): 16 assistant-first, 6 code answers opening with indentation
    or a blank line, a BOM-prefixed JSON array with capitalized speakers and extra turn keys, a JSON
    lines file mixing both forms. Every row is valid, and each selected row is returned exactly as given."""
    out = tmp_path / "out"
    report = curate_run(
        pool=str(SAMPLE / "part-*"), validation=str(SAMPLE / "validation.jsonl"), model=smollm2, budget=40,
        out=str(out), cache=str(tmp_path / "cache"), method="embedding", max_length=128, skip_finetune=True,
    )  # fmt: skip
    assert report["counts"]["valid"] == 40 and report["counts"]["quarantined"] == 0
    assert report["counts"]["truncated"] > 0  # long ones are cut (keep-answer), not quarantined
    given = {name: _as_given(SAMPLE / name) for name in ("part-1.json", "part-2.jsonl")}
    assert sum(turns[0]["role"] == "assistant" for rows in given.values() for turns in rows) == 16
    selection = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert len(selection) == 40
    for row in selection:
        assert row["messages"] == given[Path(row["source_file"]).name][row["source_row"]]


@pytest.mark.parametrize("truncation", ["keep-answer", "keep-start", "keep-end"])
def test_tokenizing_a_window_prefix_gives_the_whole_texts_tokens(smollm2, truncation, monkeypatch):
    """A long conversation is tokenized only as far past its window's start as the window can reach
    (curation.formats.chat_spans.CHARS_PER_TOKEN), else in full: the ids, labels and cut flags are the
    ones tokenizing every whole text gives, on the committed ShareGPT sample, at 32 and 128 tokens."""
    from transformers import AutoTokenizer

    import curation.formats.chat_spans as spans

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    conversations = [turns for name in ("part-1.json", "part-2.jsonl") for turns in _as_given(SAMPLE / name)]
    for length in (32, 128):
        for span in ("all-assistant", "conversation"):
            tokens = Tokens(tokenizer, length, tokenizer.bos_token_id, span, truncation)
            prefix_cut, whole_cut = [], []
            prefix = spans.labelled_many(conversations, tokens, prefix_cut)
            monkeypatch.setattr(spans, "CHARS_PER_TOKEN", 10**9)
            whole = spans.labelled_many(conversations, tokens, whole_cut)
            monkeypatch.undo()
            plain = lambda found: [(list(ids), list(labels)) for ids, labels in found]  # noqa: E731
            assert plain(prefix) == plain(whole)
            assert prefix_cut == whole_cut and sum(whole_cut) > 10
