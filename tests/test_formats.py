"""Row formats: detection, each built-in format's checks, hashing and encoding, and a new format
defined here, in one class, that runs through the whole flow with no edit outside this file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB
from runs import curate_run

from curation.errors import InputError
from curation.formats import FORMATS, Limits, detect
from curation.formats.base import IGNORE, Check, Column, RowFormat, Tokens, is_text, text_chars, text_checks
from curation.formats.features import Features
from curation.formats.text import PromptResponse, Text
from curation.models import forget_adapters


class WordTokenizer:
    """One id per character: enough to check which positions carry a loss."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[ord(ch) for ch in text] for text in texts]}


TOKENS = Tokens(WordTokenizer(), max_length=8, start_id=1)


def test_detection_follows_the_columns_within_the_models_family():
    assert detect(["prompt", "response", "id"], "text", "f", "pool").name == "prompt-response"
    assert detect(["response", "text"], "text", "f", "pool").name == "prompt-response"  # response wins
    assert detect(["text", "source"], "text", "f", "pool").name == "text"
    assert detect(["features", "label"], "features", "f", "pool").name == "features"
    with pytest.raises(InputError) as err:
        detect(["features"], "features", "v.parquet", "validation set")
    assert err.value.field == "label" and "feature rows need 'features' and 'label'" in str(err.value)
    with pytest.raises(InputError) as err:
        detect(["features", "label"], "text", "v.parquet", "validation set")  # a causal LM reads no features
    assert err.value.field == "response" and "or 'text'" in str(err.value)


def test_prompt_response_labels_the_response_only_and_cuts_the_prompt_first():
    rows = pd.DataFrame({"prompt": ["ab", "abcdef"], "response": ["xy", "xyz"]})
    (short_ids, short_labels), (long_ids, long_labels) = PromptResponse().encode(rows, TOKENS)
    assert short_ids == [1, ord("a"), ord("b"), ord("x"), ord("y")]
    assert short_labels == [IGNORE, IGNORE, IGNORE, ord("x"), ord("y")]
    assert len(long_ids) == TOKENS.max_length  # start + the prompt's last 4 characters + the whole response
    assert long_ids[1:5] == [ord(c) for c in "cdef"] and long_labels == [IGNORE] * 5 + [ord(c) for c in "xyz"]


def test_text_labels_every_token_but_the_start():
    ((ids, labels),) = Text().encode(pd.DataFrame({"text": ["abcdefghij"]}), TOKENS)
    assert ids == [1, *[ord(c) for c in "abcdefg"]] and labels == [IGNORE, *ids[1:]]


def test_the_content_hash_covers_the_payload_only():
    one = pd.DataFrame({"prompt": ["q"], "response": ["a"], "id": ["x"], "source": ["web"]})
    other = one.assign(id="y", source="math")
    assert PromptResponse.row_hashes(one).iloc[0] == PromptResponse.row_hashes(other).iloc[0]
    assert PromptResponse.row_hashes(one).iloc[0] != PromptResponse.row_hashes(one.assign(response="b")).iloc[0]


def test_feature_facts_tell_missing_mistyped_and_overflowing_vectors_apart():
    frame = pd.DataFrame(
        {"features": [[1.0, 2.0], None, ["1", "2"], [1e39, 0.0]], "label": [0, 1, 2.5, True]}
    )  # fmt: skip
    facts = Features().facts(frame)
    assert facts["_features_length"].tolist() == [2, -1, -2, 2]
    assert facts["_features_finite"].tolist() == [True, True, True, False]
    assert facts["_label"][:2].tolist() == [0.0, 1.0] and np.isneginf(facts["_label"][2:]).all()


def test_every_check_names_a_field_of_its_format_or_a_fact():
    for row_format in FORMATS.values():
        declared = {c.name for c in row_format.columns}
        for check in row_format.checks(Limits()):
            assert check.field in declared, (row_format.name, check.reason)
            assert check.expectation.startswith("Expect")


# --- a format defined here -------------------------------------------------------------------
class QuestionAnswer(RowFormat):
    """`question`/`answer` rows: the loss covers the answer; an answer that only repeats the question
    is quarantined as `answer_repeats_question`."""

    name = "question-answer"
    family = "text"
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
    forget_adapters()

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
    forget_adapters()


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
