"""Chat rows: `messages` and ShareGPT `conversations` normalize to one form, each bad conversation has
its reason, one conversation hashes the same in either form, and a row whose labelled tokens are all
cut off or that its template does not write as given is quarantined with its reason (where the turns
lie in the tokens: tests/unit/curation/formats/test_chat_spans.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB

from curation.formats import detect
from curation.formats.chat import TEMPLATE_MISMATCH, Messages, ShareGPT

CHAT = [{"role": "user", "content": "What is a URL?"}, {"role": "assistant", "content": "A resource address."}]
SHARE = [{"from": "human", "value": "What is a URL?"}, {"from": "gpt", "value": "A resource address."}]
GREETING = {"role": "assistant", "content": "Hello! How can I help?"}


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


def test_a_conversation_whose_labelled_tokens_are_all_cut_off_has_no_trained_tokens(chat_lm, tmp_path):
    """Never scored 0 in silence: a pool row is quarantined, a validation row is an error (exit 2) naming it."""
    from curation.errors import InputError
    from curation.formats import Reading
    from curation.io.batches import read_rows
    from curation.validation.target import reference_from

    long_question = " ".join(["What is a URL and why"] * 40)
    cut = [{"role": "user", "content": long_question}, {"role": "assistant", "content": "An address."}]
    kept = Messages().target_facts(pd.DataFrame({"messages": [cut]}), {"reading": Reading(chat_lm, max_length=64)})
    assert kept["_trained_tokens"][0] > 0  # the default (keep-answer) cuts the question from the left instead
    reading = Reading(chat_lm, max_length=64, truncation="keep-start")
    facts = Messages().target_facts(pd.DataFrame({"messages": [CHAT, cut, "bad"]}), {"reading": reading})
    assert facts["_trained_tokens"][0] > 0 and facts["_trained_tokens"][1:].tolist() == [0, -1]
    # last-turn trains on the last assistant turn only: cut off although the first one fits
    two = [*CHAT, {"role": "user", "content": long_question}, {"role": "assistant", "content": "Yes."}]
    last = Reading(chat_lm, max_length=64, loss_on="last-turn", truncation="keep-start")
    assert Messages().target_facts(pd.DataFrame({"messages": [two]}), {"reading": last})["_trained_tokens"][0] == 0
    path = tmp_path / "validation.jsonl"
    path.write_text("".join(json.dumps({"messages": turns}) + "\n" for turns in (CHAT, cut)))
    with pytest.raises(InputError) as err:
        reference_from(read_rows(str(path)), reading)
    assert "no_trained_tokens" in str(err.value) and err.value.row == 1 and err.value.field == "messages"
    assert err.value.file.endswith("validation.jsonl")


def test_a_row_whose_turns_its_template_does_not_write_as_given_is_a_template_mismatch(chat_lm, tmp_path):
    """The model directory's own template refuses a conversation that opens with an assistant turn:
    that row's trained tokens are TEMPLATE_MISMATCH (quarantined), the other row's are counted."""
    import shutil

    from transformers import AutoTokenizer

    from curation.formats import Reading

    tokenizer = AutoTokenizer.from_pretrained(chat_lm)
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' and loop.first %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
        "<{{ m['role'] }}>{{ m['content'][:8] }}</s>{% endfor %}"
    )
    model = shutil.copytree(chat_lm, tmp_path / "model")
    tokenizer.save_pretrained(model)  # the refusing template, as a model directory's own
    short = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Short"}]
    frame = pd.DataFrame({"messages": [[GREETING, *short], short]})
    facts = Messages().target_facts(frame, {"reading": Reading(str(model), max_length=512)})
    assert facts["_trained_tokens"][0] == TEMPLATE_MISMATCH and facts["_trained_tokens"][1] > 0
    assert [c.reason for c in Messages().target_checks({"reading": Reading(str(model), 64)})] == [
        "template_mismatch", "no_trained_tokens"
    ]  # fmt: skip


def test_capitalized_speakers_are_matched_and_extra_turn_keys_stay():
    """Findings 15 and 10: `Human`, `GPT`, `Assistant`, `User`; a turn's `name`, `weight`, `train`."""
    share = [{"from": "Human", "value": "Hi?", "name": "ann"}, {"from": "GPT", "value": "Hello.", "weight": 0}]
    assert ShareGPT().normalized(share) == [
        {"role": "user", "content": "Hi?", "name": "ann"}, {"role": "assistant", "content": "Hello.", "weight": 0}
    ]  # fmt: skip
    chat = [{"role": "User", "content": "Hi?"}, {"role": "Assistant", "content": "Hello.", "train": False}]
    assert Messages().normalized(chat)[1] == {"role": "assistant", "content": "Hello.", "train": False}
    # a key Parquet wrote as null (absent in that turn) is not added
    assert Messages().normalized([{**CHAT[0], "name": None}, CHAT[1]]) == CHAT
    # the extra keys never change the row's identity
    plain = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    hashes = Messages.row_hashes(pd.DataFrame({"messages": [chat, plain]}))
    assert hashes.iloc[0] == hashes.iloc[1]


def test_a_file_mixing_both_chat_forms_reads_each_row_in_its_own_form():
    """Finding 8: rows of `messages` and of `conversations` in one JSON lines file."""
    frame = pd.DataFrame.from_records([{"messages": CHAT, "id": "a"}, {"conversations": SHARE, "id": "b"}])
    for form in (Messages(), ShareGPT()):
        assert form.facts(frame)["_conversation"].tolist() == ["", ""]
        normal = form.normalize(frame)
        assert "conversations" not in normal.columns and normal["messages"].tolist() == [CHAT, CHAT]
    other = pd.DataFrame.from_records([{"messages": CHAT}, {"conversations": [SHARE[0]]}])
    assert Messages().facts(other)["_conversation"].tolist() == ["", "no_assistant_turn"]
    hashes = Messages.row_hashes(
        pd.DataFrame.from_records([{"conversations": SHARE}, {"conversations": [SHARE[0]]}, {"messages": None}])
    )
    assert hashes.nunique() == 3


def test_min_and_max_chars_apply_to_a_conversations_turns_together():
    """Finding 9: `--min-chars`/`--max-chars` on chat rows: the contents of every turn, summed."""
    from curation.formats import Limits

    frame = pd.DataFrame(
        {"messages": [CHAT, [{"role": "user", "content": ""}, {"role": "assistant", "content": "ok"}], "x"]}
    )
    facts = Messages().facts(frame)
    assert facts["_conversation_chars"].tolist() == [len("What is a URL?A resource address."), 2, -1]
    check = Messages().checks(Limits(min_chars=5, max_chars=10))[-1]
    assert check.reason == "conversation_length" and check.options == {"min_value": 5, "max_value": 10}


def test_the_no_trained_tokens_hint_names_the_limit_the_model_allows(chat_lm):
    """Finding 15: the model has 128 positions; --max-length 256 is capped, and the hint says so."""
    from curation.formats import Reading

    checks = Messages().target_checks({"reading": Reading(chat_lm, max_length=256, truncation="keep-start")})
    hint = next(c.hint for c in checks if c.reason == "no_trained_tokens")
    assert "token limit 128" in hint and "--max-length 256" in hint and "keep-answer" in hint


def test_a_sharegpt_turn_that_also_says_role_or_content_is_a_bad_turn():
    """The helper's attack: extra keys never override the turn's own speaker and text."""
    assert ShareGPT().normalized([{"from": "human", "value": "Hi", "content": 5}, SHARE[1]]) == "bad_turn"
    assert ShareGPT().normalized([{"from": "human", "value": "Hi", "role": "assistant"}, SHARE[1]]) == "bad_turn"
