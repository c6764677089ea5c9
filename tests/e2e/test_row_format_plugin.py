"""A row format defined here, in one class, runs through the whole flow — validation with its own
quarantine reason, hashing, scoring, selection — with no edit outside this file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB
from runs import curate_run

from curation.formats import FORMATS, Limits
from curation.formats.base import IGNORE, Check, Column, RowFormat, Tokens, is_text, text_chars, text_checks


class QuestionAnswer(RowFormat):
    """`question`/`answer` rows: the loss covers the answer; an answer that only repeats the question
    is quarantined as `answer_repeats_question`."""

    name = "question-answer"
    kind = "text"
    columns = (Column("question", "string", is_text), Column("answer", "string", is_text))
    needs = "'question' and 'answer'"

    def checks(self, limits: Limits) -> list[Check]:
        repeats = Check(
            "answer_repeats_question", "answer", "ExpectColumnValuesToBeInSet", "_repeats", {"value_set": [False]}
        )
        return [*text_checks("question", limits), *text_checks("answer", limits), repeats]

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        repeats = [q == a for q, a in zip(frame["question"], frame["answer"])]
        return {
            "_question_chars": text_chars(frame["question"]),
            "_answer_chars": text_chars(frame["answer"]),
            "_repeats": np.array(repeats, dtype=object),
        }

    def encode(self, rows: pd.DataFrame, tokens: Tokens):
        encoded = []
        for q, a in zip(tokens.ids(rows["question"]), tokens.ids(rows["answer"])):
            q, a = q[: tokens.max_length // 2], a[: tokens.max_length // 2 - 1]
            encoded.append(([tokens.start_id, *q, *a], [IGNORE] * (1 + len(q)) + a))
        return encoded


@pytest.fixture
def question_answer(monkeypatch, tmp_path):
    """QuestionAnswer registered for this test only, and a target/pool in its form."""
    monkeypatch.setitem(FORMATS, QuestionAnswer.name, QuestionAnswer())

    def rows(sentences, n, offset):
        return [{"question": f"What is note {i + offset}?", "answer": sentences[(i + offset) % 6]} for i in range(n)]

    validation = rows(WEB, 24, 0)
    pool = [
        *[dict(r, domain="web") for r in rows(WEB, 30, 200)],
        *[dict(r, domain="math") for r in rows(MATH, 60, 300)],
        dict(validation[0], domain="web"),  # leaks a validation row: same question and answer
        {"question": "Say it again", "answer": "Say it again", "domain": "web"},
    ]
    paths = {}
    for name, data in {"validation": validation, "test": rows(WEB, 12, 100), "pool": pool}.items():
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps(r) + "\n" for r in data))
    yield paths


def test_a_format_defined_in_one_class_runs_end_to_end(question_answer, tiny_lm, prefect_api_url, tmp_path):
    out = tmp_path / "out"
    report = curate_run(
        pool=str(question_answer["pool"]),
        validation=str(question_answer["validation"]),
        test=str(question_answer["test"]),
        model=tiny_lm,
        budget=30,
        out=str(out),
        cache=str(tmp_path / "cache"),
        warmup="fixed",
        warmup_steps=30,
        warmup_lr=2e-2,
        skip_finetune=True,
    )
    quarantine = pd.read_parquet(out / "quarantine.parquet")
    assert sorted(quarantine["reason"]) == ["answer_repeats_question", "leakage"]
    scores = pd.read_parquet(out / "scores.parquet")
    assert len(scores) == 90 and scores["loss_base"].gt(0).all()
    selection = pd.read_parquet(out / "selection.parquet")
    assert {"question", "answer", "domain"} <= set(selection.columns) and len(selection) == 30
    assert (selection["domain"] == "web").mean() > 30 / 90  # the target's domain, above its pool share
    assert report["counts"]["quarantined"] == 2
