"""The row-format contract and the registry: detection by columns within the model's kind, the
columns a format requires, hashes and reads, the checks every row of every format gets, and the
limits a user sets (a format defined outside the package runs end to end in
tests/e2e/test_row_format_plugin.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from curation.config import CurateConfig
from curation.errors import InputError
from curation.formats import FORMATS, Limits, Reading, detect, format_named, interchangeable, kind_of, reader_of
from curation.formats.base import Tokens, common_checks, text_chars, text_checks
from curation.formats.text import PromptResponse
from curation.rows import CUT_COLUMN, HASH_COLUMN, UNICODE_COLUMN


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


def test_the_content_hash_covers_the_payload_only():
    one = pd.DataFrame({"prompt": ["q"], "response": ["a"], "id": ["x"], "source": ["web"]})
    other = one.assign(id="y", source="math")
    assert PromptResponse.row_hashes(one).iloc[0] == PromptResponse.row_hashes(other).iloc[0]
    assert PromptResponse.row_hashes(one).iloc[0] != PromptResponse.row_hashes(one.assign(response="b")).iloc[0]


def test_every_check_names_a_field_of_its_format_or_a_fact():
    for row_format in FORMATS.values():
        declared = {c.name for c in row_format.columns}
        for check in row_format.checks(Limits()):
            assert check.field in declared, (row_format.name, check.reason)
            assert check.expectation.startswith("Expect")


def test_a_format_requires_its_required_columns_and_names_the_first_missing():
    prompt_response = format_named("prompt-response")
    assert prompt_response.required() == ("response",) and prompt_response.payload() == ("prompt", "response")
    assert prompt_response.matches(["response"]) and not prompt_response.matches(["prompt", "text"])
    assert prompt_response.missing(["prompt"]) == "response" and prompt_response.missing(["response"]) is None
    assert prompt_response.model_columns() == (HASH_COLUMN, "id", "prompt", "response")
    assert format_named("sharegpt").normalizes_to() == format_named("messages").normalizes_to() == "messages"
    assert format_named("text").normalizes_to() == "text"
    with pytest.raises(NotImplementedError, match="features rows are not read by a causal LM"):
        format_named("features").encode(pd.DataFrame(), Tokens(None, max_length=8, start_id=0))


def test_a_file_in_another_form_of_the_expected_rows_is_read_in_its_own_form():
    messages = format_named("messages")
    assert interchangeable(messages, ["conversations", "id"]).name == "sharegpt"
    assert interchangeable(messages, ["messages"]) is messages
    assert interchangeable(messages, ["text"]) is messages  # none fits: its missing column is the error
    assert interchangeable(format_named("text"), ["prompt", "response"]).name == "text"  # another form, not the same


def test_the_model_names_the_family_and_how_its_rows_are_read():
    assert kind_of("linear") == kind_of("mlp") == "features" and kind_of("/models/smol") == "text"
    common = dict(pool="p", out="o", validation="v", budget=1)
    assert reader_of(CurateConfig(**common, model="mlp")) == "features"
    reading = reader_of(CurateConfig(**common, model=".", max_length=96, score_on="last-turn", truncation="keep-end"))
    assert reading == Reading(".", 96, loss_on="all-assistant", score_on="last-turn", truncation="keep-end")


def test_every_row_is_whole_valid_unicode_and_has_an_id_where_ids_are_given():
    assert [c.reason for c in common_checks(has_id=False)] == ["cut_off", "invalid_unicode"]
    with_id = common_checks(has_id=True)
    assert [(c.reason, c.field) for c in with_id] == [
        ("cut_off", CUT_COLUMN), ("invalid_unicode", UNICODE_COLUMN), ("null_id", "id")
    ]  # fmt: skip
    assert "lone UTF-16 surrogate" in with_id[1].hint


def test_text_facts_tell_null_from_not_text_and_the_limits_bound_the_length():
    assert text_chars(["abc", "", None, float("nan"), 3, ["x"]]).tolist() == [3, 0, -1, -1, -2, -2]
    null, bad_type, length = text_checks("response", Limits(min_chars=2, max_chars=5))
    assert (null.reason, bad_type.reason, length.reason) == ("null_response", "bad_type_response", "response_length")
    assert {null.reads, bad_type.reads, length.reads} == {"_response_chars"}
    assert length.options == {"min_value": 2, "max_value": 5} and length.hint == "text must be 2-5 characters"


def test_the_limits_come_from_the_run_and_only_some_change_what_a_scan_finds():
    config = CurateConfig(
        pool="p", out="o", validation="v", model="linear", budget=1, max_reject_share=0.2, min_chars=3,
        max_chars=99, shard_rows=500,
    )  # fmt: skip
    limits = Limits.of(config)
    assert limits == Limits(max_reject_share=0.2, min_chars=3, max_chars=99, batch_rows=500)
    assert limits.scan_settings() == {"min_chars": 3, "max_chars": 99, "batch_rows": 500}  # not the reject share


def test_a_tokens_span_is_replaced_only_when_it_changes():
    tokens = Tokens(None, max_length=8, start_id=1)
    assert tokens.spanning("all-assistant") is tokens
    last = tokens.spanning("last-turn")
    assert last.span == "last-turn" and (last.max_length, last.start_id, last.truncation) == (8, 1, "keep-answer")
