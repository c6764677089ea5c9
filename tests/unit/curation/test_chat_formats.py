"""Chat rows: `messages` and ShareGPT `conversations` normalize to one form, each bad conversation has
its reason, one conversation hashes the same in either form, and the loss covers assistant turns only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB

from curation.formats import detect
from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import PLAIN_TEMPLATE, Messages, ShareGPT, labelled

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
def chat_lm(tmp_path_factory) -> str:
    from curation.tinylm import build_model

    return build_model(
        str(tmp_path_factory.mktemp("chat-lm") / "model"), WEB + MATH, vocab_size=300, layers=1, width=16,
        heads=2, context=128, pretrain_steps=1, batch_size=4, lr=1e-3,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer(chat_lm):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(chat_lm)


def test_the_loss_covers_the_assistant_turns_own_tokens_only(tokenizer):
    """Against a hand-built reference: the plain template's text, tokenized piece by piece."""
    assert not getattr(tokenizer, "chat_template", None)  # the documented fallback applies
    turns = [*CHAT, {"role": "user", "content": "And a query?"}, {"role": "assistant", "content": "Key pairs."}]
    tokens = Tokens(tokenizer, max_length=512, start_id=0)
    ids, labels = labelled(turns, tokens)

    def pieces(*texts):
        return [t for text in texts for t in tokenizer(text, add_special_tokens=False)["input_ids"]]

    user_head, user1, gap = pieces("<|user|>\n"), pieces("What is a URL?"), pieces("\n\n")
    head, answer1 = pieces("<|assistant|>\n"), pieces("A resource address.")
    user2, answer2 = pieces("And a query?"), pieces("Key pairs.")
    assert ids == user_head + user1 + gap + head + answer1 + gap + user_head + user2 + gap + head + answer2 + gap
    ignored = lambda part: [IGNORE] * len(part)  # noqa: E731
    before1, before2 = ignored(user_head + user1 + gap + head), ignored(gap + user_head + user2 + gap + head)
    assert labels == before1 + answer1 + before2 + answer2 + ignored(gap)
    short_ids, short_labels = labelled(turns, Tokens(tokenizer, max_length=10, start_id=0))
    assert short_ids == ids[:10] and short_labels == labels[:10]
    # last-turn: only the last assistant turn; conversation: every turn's content, never the headers
    _, last = labelled(turns, tokens.spanning("last-turn"))
    assert last == ignored(before1 + answer1 + before2) + answer2 + ignored(gap)
    _, everything = labelled(turns, tokens.spanning("conversation"))
    expected = (
        ignored(user_head) + user1 + ignored(gap + head) + answer1 + ignored(gap + user_head) + user2
        + ignored(gap + head) + answer2 + ignored(gap)
    )  # fmt: skip
    assert everything == expected
    assert PLAIN_TEMPLATE.startswith("{% for message in messages %}")


def test_a_conversation_whose_labelled_tokens_are_all_cut_off_has_no_trained_tokens(chat_lm, tmp_path):
    """Never scored 0 in silence: a pool row is quarantined, a validation row is an error (exit 2) naming it."""
    from curation.errors import InputError
    from curation.formats import Reading
    from tasks.ingest import read_rows
    from tasks.validate import reference_from

    long_question = " ".join(["What is a URL and why"] * 40)
    cut = [{"role": "user", "content": long_question}, {"role": "assistant", "content": "An address."}]
    reading = Reading(chat_lm, max_length=64)
    facts = Messages().target_facts(pd.DataFrame({"messages": [CHAT, cut, "bad"]}), {"reading": reading})
    assert facts["_trained_tokens"][0] > 0 and facts["_trained_tokens"][1:].tolist() == [0, -1]
    # last-turn trains on the last assistant turn only: cut off although the first one fits
    two = [*CHAT, {"role": "user", "content": long_question}, {"role": "assistant", "content": "Yes."}]
    last = Reading(chat_lm, max_length=64, loss_on="last-turn")
    assert Messages().target_facts(pd.DataFrame({"messages": [two]}), {"reading": last})["_trained_tokens"][0] == 0
    path = tmp_path / "validation.jsonl"
    path.write_text("".join(json.dumps({"messages": turns}) + "\n" for turns in (CHAT, cut)))
    with pytest.raises(InputError) as err:
        reference_from(read_rows(str(path)), reading)
    assert "no_trained_tokens" in str(err.value) and err.value.row == 1 and err.value.field == "messages"
    assert err.value.file.endswith("validation.jsonl")


@pytest.mark.parametrize(
    "template,answers",
    [
        ("chatml", ["A resource address.<|im_end|>", "Key pairs.<|im_end|>"]),
        ("chatml-system", ["A resource address.<|im_end|>", "Key pairs.<|im_end|>"]),
        ("inst", [" A resource address.</s>", " Key pairs.</s>"]),
    ],
)
def test_each_template_style_labels_the_assistant_content_and_its_end_of_turn_token(template, answers):
    """ChatML, ChatML with a default system prompt, and [INST] (no assistant header): the labelled
    tokens decode to each assistant turn's content and end-of-turn token, nothing else."""
    from curation.tinylm import CHAT_TEMPLATES, train_tokenizer

    tokenizer = train_tokenizer(WEB + MATH, vocab_size=300, chat=True)
    tokenizer.chat_template = CHAT_TEMPLATES[template]
    turns = [*CHAT, {"role": "user", "content": "And a query?"}, {"role": "assistant", "content": "Key pairs."}]
    tokens = Tokens(tokenizer, max_length=512, start_id=tokenizer.bos_token_id)

    def spans(labels):
        runs, current = [], []
        for label in labels:
            if label == IGNORE and current:
                runs.append(tokenizer.decode(current))
                current = []
            elif label != IGNORE:
                current.append(label)
        return runs + ([tokenizer.decode(current)] if current else [])

    assert spans(labelled(turns, tokens)[1]) == answers
    assert spans(labelled(turns, tokens.spanning("last-turn"))[1]) == answers[1:]
    contents = spans(labelled(turns, tokens.spanning("conversation"))[1])
    assert "helpful assistant" not in "".join(contents)  # a default system prompt is no turn's content
    assert [c.strip() for c in contents] == [
        "What is a URL?", answers[0].strip(), "And a query?", answers[1].strip()
    ]  # fmt: skip
