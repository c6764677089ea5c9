"""Text rows: prompt/response (the loss on the response, a long row losing its prompt's start first)
and plain text (the loss on every token); an absent or null prompt is the empty prompt."""

from __future__ import annotations

import pandas as pd

from curation.formats import Limits
from curation.formats.base import IGNORE, Tokens
from curation.formats.text import PromptResponse, Text


class CharTokenizer:
    """One id per character: enough to check which positions carry a loss."""

    def __call__(self, texts, add_special_tokens=False):
        return {"input_ids": [[ord(ch) for ch in text] for text in texts]}


TOKENS = Tokens(CharTokenizer(), max_length=8, start_id=1)


def test_prompt_response_labels_the_response_only_and_cuts_the_prompt_first():
    rows = pd.DataFrame({"prompt": ["ab", "abcdef"], "response": ["xy", "xyz"]})
    (short_ids, short_labels), (long_ids, long_labels) = PromptResponse().encode(rows, TOKENS)
    assert short_ids == [1, ord("a"), ord("b"), ord("x"), ord("y")]
    assert short_labels == [IGNORE, IGNORE, IGNORE, ord("x"), ord("y")]
    assert len(long_ids) == TOKENS.max_length  # start + the prompt's last 4 characters + the whole response
    assert long_ids[1:5] == [ord(c) for c in "cdef"] and long_labels == [IGNORE] * 5 + [ord(c) for c in "xyz"]


def test_a_response_longer_than_the_limit_keeps_its_start_and_no_prompt():
    ((ids, labels),) = PromptResponse().encode(pd.DataFrame({"prompt": ["ab"], "response": ["0123456789"]}), TOKENS)
    assert ids == [1, *[ord(c) for c in "0123456"]] and labels == [IGNORE, *ids[1:]]


def test_text_labels_every_token_but_the_start():
    ((ids, labels),) = Text().encode(pd.DataFrame({"text": ["abcdefghij"]}), TOKENS)
    assert ids == [1, *[ord(c) for c in "abcdefg"]] and labels == [IGNORE, *ids[1:]]


def test_an_absent_or_null_prompt_is_the_empty_prompt():
    without = PromptResponse().normalize(pd.DataFrame({"response": ["a", "b"]}, index=[5, 9]))
    assert without["prompt"].tolist() == ["", ""] and without.index.tolist() == [5, 9]
    nulls = PromptResponse().normalize(pd.DataFrame({"prompt": [None, "q"], "response": ["a", "b"]}))
    assert nulls["prompt"].tolist() == ["", "q"]
    ((ids, labels),) = PromptResponse().encode(pd.DataFrame({"response": ["xy"]}), TOKENS)
    assert ids == [1, ord("x"), ord("y")] and labels == [IGNORE, ord("x"), ord("y")]


def test_a_prompt_is_optional_but_must_be_text_and_a_response_is_required():
    facts = PromptResponse().facts(pd.DataFrame({"prompt": ["q", None, 3], "response": ["a", "bb", None]}))
    assert facts["_prompt_chars"].tolist() == [1, -1, -2] and facts["_response_chars"].tolist() == [1, 2, -1]
    assert PromptResponse().facts(pd.DataFrame({"response": ["a"]}))["_prompt_chars"].tolist() == [-1]
    reasons = [check.reason for check in PromptResponse().checks(Limits())]
    assert reasons == ["bad_type_prompt", "null_response", "bad_type_response", "response_length"]  # no null_prompt
    assert [check.reason for check in Text().checks(Limits())] == ["null_text", "bad_type_text", "text_length"]
    assert Text().facts(pd.DataFrame({"text": ["abc", 1]}))["_text_chars"].tolist() == [3, -2]
