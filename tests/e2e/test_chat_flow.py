"""Chat conversations through the whole flow on a tiny causal LM: `messages` and ShareGPT pools are
validated (bad conversations quarantined with their reason), scored over assistant turns, selected,
finetuned and evaluated; the selection keeps the conversations, normalized to `messages`."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import MATH, WEB
from runs import curate_run


def _conversations(sentences, n, offset, sharegpt):
    rows = []
    for i in range(n):
        question, answer = f"Note {i + offset}?", sentences[(i + offset) % len(sentences)]
        if sharegpt:
            rows.append({"conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]})
        else:
            rows.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return rows


def _cut_off(sharegpt):
    """A conversation whose first turn runs past the token limit: its assistant turn is cut off."""
    row = _conversations(WEB, 1, 0, sharegpt)[0]
    turns = next(iter(row.values()))
    turns[0]["value" if sharegpt else "content"] = " ".join(WEB)
    return dict(row, domain="web")


@pytest.mark.parametrize("sharegpt", [False, True], ids=["messages", "sharegpt"])
def test_chat_rows_run_end_to_end(sharegpt, tiny_lm, prefect_api_url, tmp_path):
    bad = {"from": "tool", "value": "x"} if sharegpt else {"role": "tool", "content": "x"}
    column = "conversations" if sharegpt else "messages"
    pool = [
        *[dict(r, domain="web") for r in _conversations(WEB, 30, 200, sharegpt)],
        *[dict(r, domain="math") for r in _conversations(MATH, 60, 300, sharegpt)],
        {column: [bad, bad], "domain": "web"},
        _cut_off(sharegpt),
    ]
    paths = {}
    for name, rows in {
        "validation": _conversations(WEB, 24, 0, sharegpt),
        "test": _conversations(WEB, 12, 100, sharegpt),
        "pool": pool,
    }.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    report = curate_run(
        pool=str(paths["pool"]), validation=str(paths["validation"]), test=str(paths["test"]), model=tiny_lm,
        budget=30, out=str(out), cache=str(tmp_path / "cache"), warmup="fixed", warmup_steps=40, warmup_lr=2e-2,
        finetune_epochs=1,
    )  # fmt: skip
    # the row whose question is longer than --max-length is kept: cut from the left (--truncation keep-answer)
    assert pd.read_parquet(out / "quarantine.parquet")["reason"].tolist() == ["unknown_role"]
    assert len(pd.read_parquet(out / "scores.parquet")) == 91
    selection = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert len(selection) == 30 and all(row["messages"][1]["role"] == "assistant" for row in selection)
    assert sum(row["domain"] == "web" for row in selection) / 30 > 30 / 90  # above the target's pool share
    assert report["evaluation"]["metric"] == "loss" and report["evaluation"]["selection"]["loss"] > 0


@pytest.mark.parametrize(
    "arch,template", [("gpt2", "chatml"), ("llama", "inst"), ("qwen2", "chatml-system")], ids=["gpt2", "llama", "qwen2"]
)
def test_three_architectures_with_chat_templates_warm_up_score_finetune_and_evaluate(
    arch, template, prefect_api_url, tmp_path
):
    """Tiny random models of three architectures, each with its chat template: LoRA goes where the
    architecture has it (warmup, finetunes), and the run ends with both finetunes evaluated."""
    from curation.tinylm import build_model

    model = build_model(
        str(tmp_path / "model"), WEB + MATH, vocab_size=300, layers=1, width=32, heads=2, context=96,
        pretrain_steps=20, batch_size=8, lr=1e-2, arch=arch, chat_template=template,
    )  # fmt: skip
    paths = {}
    data = {
        "validation": _conversations(WEB, 16, 0, False),
        "pool": [*_conversations(WEB, 15, 200, False), *_conversations(MATH, 30, 300, False)],
    }
    for name, rows in data.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = curate_run(
        pool=str(paths["pool"]), validation=str(paths["validation"]), model=model, budget=10,
        out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), warmup_steps=6, warmup_scope="attention",
        finetune_epochs=1,
    )  # fmt: skip
    assert report["counts"]["valid"] == 45 and report["counts"]["selected"] == 10
    evaluation = report["evaluation"]
    assert evaluation["metric"] == "loss" and 0 < evaluation["selection"]["loss"] < 50
    assert evaluation["random"]["loss"] > 0


def test_a_validation_set_without_a_valid_conversation_exits_2_naming_file_row_and_field(tiny_lm, curate_cli, tmp_path):
    validation = tmp_path / "validation.json"  # a ShareGPT JSON array: every row speaks as an unknown role
    validation.write_text(json.dumps([{"conversations": [{"from": "tool", "value": "x"}]}] * 3))
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in _conversations(WEB, 4, 0, False)))
    done = curate_cli(
        "run", "--pool", str(pool), "--validation", str(validation), "--model", tiny_lm, "--budget", "2",
        "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert str(validation) in line and "row 0" in line and "field 'conversations'" in line and "unknown_role" in line
    assert not (tmp_path / "out").exists()


def test_rejected_and_selected_conversations_keep_their_structure(tiny_lm, prefect_api_url, tmp_path):
    """Findings 7, 8, 10: one JSON lines file mixing both chat forms (capitalized speakers, extra turn
    keys, an assistant-first row, a code answer); every selected row comes back as given (speakers
    mapped), and quarantine.parquet holds rejected conversations as lists of turns, nulls as nulls."""
    given = []
    for i, row in enumerate(_conversations(WEB, 12, 200, False) + _conversations(MATH, 12, 300, False)):
        turns = row["messages"]
        if i % 3 == 0:
            given.append({"conversations": [{"from": "Human", "value": turns[0]["content"], "name": "ann"},
                                            {"from": "GPT", "value": turns[1]["content"], "weight": 1}]})  # fmt: skip
        else:
            given.append({"messages": [dict(turns[0], name="bob") if i % 3 == 1 else turns[0], turns[1]]})
    given.append({"messages": [{"role": "assistant", "content": "Hello! How can I help?"}, *given[1]["messages"]]})
    given.append({"messages": [{"role": "user", "content": "Code?"}, {"role": "assistant", "content": "    x = 1"}]})
    bad = [
        {"messages": [{"role": "tool", "content": "x"}, {"role": "assistant", "content": "y"}]},
        {"messages": None},
        {"messages": "just text"},
        {"messages": [{"role": "user", "content": " ".join(WEB)}, {"role": "assistant", "content": "Cut."}]},
    ]
    paths = {"validation": _conversations(WEB, 16, 0, False), "pool": given + bad}
    for name, rows in paths.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    curate_run(
        pool=str(paths["pool"]), validation=str(paths["validation"]), model=tiny_lm, budget=len(given),
        out=str(out), cache=str(tmp_path / "cache"), warmup="fixed", warmup_steps=2, skip_finetune=True,
        method="lossdrop", truncation="keep-start", export_format="both",
    )  # fmt: skip
    roles = {"Human": "user", "GPT": "assistant"}
    expected = [
        [{"role": roles[t["from"]], "content": t["value"], **{k: v for k, v in t.items() if k not in ("from", "value")}}
         for t in row["conversations"]] if "conversations" in row else row["messages"]
        for row in given
    ]  # fmt: skip
    selection = [json.loads(line) for line in (out / "selection.jsonl").read_text().splitlines()]
    assert len(selection) == len(given)
    assert all(row["messages"] == expected[row["source_row"]] for row in selection)
    quarantine = pd.read_parquet(out / "quarantine.parquet").sort_values("_source_row")
    assert quarantine["reason"].tolist() == ["unknown_role", "empty_conversation", "not_a_conversation",
                                             "no_trained_tokens"]  # fmt: skip
    tool, null, text, cut = quarantine.to_dict("records")
    assert [dict(t) for t in tool["messages"]][0]["role"] == "tool" and null["messages"] is None
    assert text["messages"] is None and json.loads(text["messages_json"]) == "just text"
    assert [t["content"] for t in cut["messages"]] == [" ".join(WEB), "Cut."]


def test_a_scoring_run_tokenizes_each_conversation_once(tiny_lm, prefect_api_url, tmp_path, monkeypatch):
    """Item 6 of issue 32: the tokens validation makes (to find rows with no trained token) are the
    ones scoring reads: over a 500-conversation pool each conversation is rendered and tokenized once.
    A spy on the real tokenizing function (it still runs) counts each conversation's encodings."""
    import curation.formats.chat as chat

    counted: dict[str, int] = {}
    real = chat.labelled_many

    def counting(conversations, tokens, cut=None):
        for messages in conversations:
            counted[messages[0]["content"]] = counted.get(messages[0]["content"], 0) + 1
        return real(conversations, tokens, cut)

    monkeypatch.setattr(chat, "labelled_many", counting)
    answers = WEB + MATH
    pool = [
        {"messages": [{"role": "user", "content": f"Pool question {i}?"},
                      {"role": "assistant", "content": answers[i % len(answers)]}]}
        for i in range(500)
    ]  # fmt: skip
    paths = {"validation": _conversations(WEB, 16, 0, False), "pool": pool}
    for name, rows in paths.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = curate_run(
        pool=str(paths["pool"]), validation=str(paths["validation"]), model=tiny_lm, budget=50,
        out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), warmup="fixed", warmup_steps=2,
        skip_finetune=True, method="lossdrop",
    )  # fmt: skip
    assert report["cache"]["rows_scored"] == 500
    assert sorted(counted[f"Pool question {i}?"] for i in range(500)) == [1] * 500


def test_curate_validate_reports_what_a_run_would_read_and_set_aside(tiny_lm, curate_cli, tmp_path):
    """`curate validate`: ingest and validate alone, through the command line: the reasons printed,
    quarantine.parquet, validation.json and validation-summary.json (last) under --out, rows cut to
    --max-length counted; a pool a run would refuse is still reported; nothing is scored."""
    long_question = " ".join(WEB)
    pool = tmp_path / "pool.json"  # a ShareGPT array cut off inside its last element, as ShareGPT V3 ships
    rows = [r["conversations"] for r in _conversations(MATH, 20, 300, True)]
    rows[0] = [{"from": "human", "value": long_question}, {"from": "gpt", "value": "An answer."}]
    rows[1] = [{"from": "tool", "value": "x"}, {"from": "gpt", "value": "y"}]
    text = json.dumps([{"conversations": turns} for turns in rows])
    pool.write_text(text[:-30])
    validation = tmp_path / "validation.jsonl"
    validation.write_text("".join(json.dumps(r) + "\n" for r in _conversations(WEB, 8, 0, False)))
    out = tmp_path / "out"
    args = ["validate", "--pool", str(pool), "--validation", str(validation), "--model", tiny_lm, "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--max-length", "64"]  # fmt: skip
    done = curate_cli(*args, check=True)
    summary = json.loads((out / "validation-summary.json").read_text())
    assert summary["rows_read"] == 20 and summary["quarantine_reasons"] == {"cut_off": 1, "unknown_role": 1}
    assert summary["valid"] == 18 and summary["truncated"] >= 1 and summary["refused"] is None
    counts = (
        f"20 rows read, 18 valid, 2 quarantined, {summary['truncated']} valid rows cut to --max-length (keep-answer)"
    )
    assert counts in done.stdout
    assert "  cut_off: 1" in done.stdout and (out / "validation.json").exists()
    assert sorted(pd.read_parquet(out / "quarantine.parquet")["reason"]) == ["cut_off", "unknown_role"]
    assert not (out / "scores.parquet").exists() and not (out / "report.json").exists()
    refused = curate_cli(
        *args, "--truncation", "keep-start", "--max-reject-share", "0.05", "--out", str(tmp_path / "r")
    )
    assert refused.returncode == 0 and "a run would refuse this pool" in refused.stdout
    assert json.loads((tmp_path / "r" / "validation-summary.json").read_text())["quarantine_reasons"] == {
        "cut_off": 1, "no_trained_tokens": 1, "unknown_role": 1
    }  # fmt: skip
