"""Row formats: detection, each built-in format's checks, hashing and encoding (a format defined
outside the package runs end to end in tests/e2e/test_row_format_plugin.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curation.errors import InputError
from curation.formats import FORMATS, Limits, detect
from curation.formats.base import IGNORE, Tokens
from curation.formats.features import Features
from curation.formats.text import PromptResponse, Text


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
