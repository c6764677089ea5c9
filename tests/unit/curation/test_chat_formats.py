"""Chat rows: `messages` and ShareGPT `conversations` normalize to one form, each bad conversation has
its reason, one conversation hashes the same in either form, and the loss covers assistant turns only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB

from curation.formats import detect
from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import PLAIN_TEMPLATE, Messages, ShareGPT, assistant_spans

CHAT = [{"role": "user", "content": "What is a URL?"}, {"role": "assistant", "content": "A resource address."}]
SHARE = [{"from": "human", "value": "What is a URL?"}, {"from": "gpt", "value": "A resource address."}]


def test_both_forms_are_detected_and_normalize_to_messages():
    assert detect(["messages", "id"], "text", "f", "pool").name == "messages"
    assert detect(["conversations"], "text", "f", "pool").name == "sharegpt"
    assert ShareGPT().normalized(SHARE) == CHAT == Messages().normalized(np.array(CHAT, dtype=object))
    frame = ShareGPT().normalize(pd.DataFrame({"conversations": [SHARE], "id": ["a"]}))
    assert list(frame.columns) == ["id", "messages"] and frame["messages"].iloc[0] == CHAT


@pytest.mark.parametrize(
    "turns,reason",
    [
        ("just text", "not_a_conversation"),
        (None, "empty_conversation"),
        ([], "empty_conversation"),
        (["a string turn"], "bad_turn"),
        ([{"from": "human"}], "bad_turn"),
        ([{"from": "tool", "value": "x"}, {"from": "gpt", "value": "y"}], "unknown_role"),
        ([{"from": "human", "value": 3}, {"from": "gpt", "value": "y"}], "content_not_text"),
        ([{"from": "human", "value": "x"}, {"from": "human", "value": "y"}], "no_assistant_turn"),
    ],
)
def test_each_bad_conversation_has_its_reason(turns, reason):
    assert ShareGPT().normalized(turns) == reason
    assert ShareGPT().facts(pd.DataFrame({"conversations": [turns]}))["_conversation"].tolist() == [reason]


def test_one_conversation_hashes_the_same_in_either_form():
    share = ShareGPT.row_hashes(pd.DataFrame({"conversations": [SHARE], "id": ["x"]}))
    chat = Messages.row_hashes(pd.DataFrame({"messages": [CHAT], "id": ["y"], "source": ["web"]}))
    assert share.iloc[0] == chat.iloc[0]
    other = [CHAT[0], {"role": "assistant", "content": "Something else."}]
    assert Messages.row_hashes(pd.DataFrame({"messages": [other]})).iloc[0] != chat.iloc[0]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from curation.tinylm import build_model

    directory = build_model(
        str(tmp_path_factory.mktemp("chat-lm") / "model"), WEB + MATH, vocab_size=300, layers=1, width=16,
        heads=2, context=128, pretrain_steps=1, batch_size=4, lr=1e-3,
    )  # fmt: skip
    return AutoTokenizer.from_pretrained(directory)


def test_the_loss_covers_the_assistant_turns_own_tokens_only(tokenizer):
    """Against a hand-built reference: the plain template's text, tokenized piece by piece."""
    assert not getattr(tokenizer, "chat_template", None)  # the documented fallback applies
    turns = [*CHAT, {"role": "user", "content": "And a query?"}, {"role": "assistant", "content": "Key pairs."}]
    ids, labels = assistant_spans(turns, Tokens(tokenizer, max_length=512, start_id=0))

    def pieces(*texts):
        return [t for text in texts for t in tokenizer(text, add_special_tokens=False)["input_ids"]]

    user1, head = pieces("<|user|>\nWhat is a URL?\n\n"), pieces("<|assistant|>\n")
    answer1, user2 = pieces("A resource address.\n\n"), pieces("<|user|>\nAnd a query?\n\n")
    answer2 = pieces("Key pairs.\n\n")
    assert ids == user1 + head + answer1 + user2 + head + answer2
    ignored = lambda part: [IGNORE] * len(part)  # noqa: E731
    assert labels == ignored(user1) + ignored(head) + answer1 + ignored(user2) + ignored(head) + answer2
    short_ids, short_labels = assistant_spans(turns, Tokens(tokenizer, max_length=10, start_id=0))
    assert short_ids == ids[:10] and short_labels == labels[:10]
    assert PLAIN_TEMPLATE.startswith("{% for message in messages %}")
