"""Chat rows: `messages` and ShareGPT `conversations` normalize to one form, each bad conversation has
its reason, one conversation hashes the same in either form, and the loss covers assistant turns only."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import MATH, WEB, label_runs

from curation.formats import detect
from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import Messages, ShareGPT, labelled
from curation.formats.chat_spans import PLAIN_TEMPLATE

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

    user_head, user1, end, nl = pieces("<|user|>\n"), pieces("What is a URL?"), pieces("</s>"), pieces("\n")
    head, answer1 = pieces("<|assistant|>\n"), pieces("A resource address.")
    user2, answer2 = pieces("And a query?"), pieces("Key pairs.")
    assert end == [tokenizer.eos_token_id]  # the plain template ends each turn with EOS: nothing merges across it
    assert ids == (
        user_head + user1 + end + nl + head + answer1 + end + nl + user_head + user2 + end + nl + head + answer2
        + end + nl
    )  # fmt: skip
    ignored = lambda part: [IGNORE] * len(part)  # noqa: E731
    before1, before2 = ignored(user_head + user1 + end + nl + head), ignored(nl + user_head + user2 + end + nl + head)
    assert labels == before1 + answer1 + end + before2 + answer2 + end + ignored(nl)
    short_ids, short_labels = labelled(turns, Tokens(tokenizer, max_length=10, start_id=0, truncation="keep-start"))
    assert short_ids == ids[:10] and short_labels == labels[:10]
    # the default keeps the start unless no labelled token is in it: then the first answer sits half a window in
    first = len(before1)
    assert first >= 10 and labelled(turns, Tokens(tokenizer, max_length=10, start_id=0)) == (
        ids[first - 5 : first + 5], labels[first - 5 : first + 5]
    )  # fmt: skip
    assert labelled(turns, Tokens(tokenizer, max_length=10, start_id=0, truncation="keep-end")) == (
        ids[-10:],
        labels[-10:],
    )
    assert labelled(turns, Tokens(tokenizer, max_length=40, start_id=0)) == (ids[:40], labels[:40])
    # last-turn: only the last assistant turn; conversation: every turn's content, never the headers
    _, last = labelled(turns, tokens.spanning("last-turn"))
    assert last == ignored(before1 + answer1 + end + before2) + answer2 + end + ignored(nl)
    _, everything = labelled(turns, tokens.spanning("conversation"))
    expected = (
        ignored(user_head) + user1 + ignored(end + nl + head) + answer1 + end + ignored(nl + user_head) + user2
        + ignored(end + nl + head) + answer2 + end + ignored(nl)
    )  # fmt: skip
    assert everything == expected
    assert PLAIN_TEMPLATE.startswith("{% for message in messages %}")


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


@pytest.mark.parametrize(
    "template,answers",
    [
        ("chatml", ["A resource address.<|im_end|>", "Key pairs.<|im_end|>"]),
        ("chatml-system", ["A resource address.<|im_end|>", "Key pairs.<|im_end|>"]),
        # [INST]: the template's space before the answer is its own token here, and template text
        ("inst", ["A resource address.</s>", "Key pairs.</s>"]),
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
        return label_runs(tokenizer, labels)

    assert spans(labelled(turns, tokens)[1]) == answers
    assert spans(labelled(turns, tokens.spanning("last-turn"))[1]) == answers[1:]
    contents = spans(labelled(turns, tokens.spanning("conversation"))[1])
    assert "helpful assistant" not in "".join(contents)  # a default system prompt is no turn's content
    assert [c.strip() for c in contents] == [
        "What is a URL?", answers[0].strip(), "And a query?", answers[1].strip()
    ]  # fmt: skip


CODE = {"role": "assistant", "content": "    def f(x):\n        return x"}
BLANK = {"role": "assistant", "content": "\n\nThe HTTP status line comes first."}
GREETING = {"role": "assistant", "content": "Hello! How can I help?"}


@pytest.mark.parametrize("template", ["chatml", "chatml-system", "inst", "plain"])
def test_code_answers_blank_lines_and_assistant_first_conversations_are_labelled(template):
    """Findings 1 and 2: an answer starting with indentation or a blank line (a BPE merge with the
    header's newline), and a conversation that opens with an assistant turn, under every template
    style: each answer's tokens are labelled, the user's never, and nothing stops."""
    from curation.tinylm import CHAT_TEMPLATES, train_tokenizer

    tokenizer = train_tokenizer([*WEB, *MATH, "def f(x):\n        return x\n\n\n"], vocab_size=400, chat=True)
    tokenizer.chat_template = None if template == "plain" else CHAT_TEMPLATES[template]
    tokens = Tokens(tokenizer, max_length=512, start_id=tokenizer.bos_token_id)
    for turns in (
        [CHAT[0], CODE],
        [CHAT[0], BLANK, {"role": "user", "content": "And then?"}, CODE],
        [GREETING, CHAT[0], BLANK],
        [GREETING, {"role": "user", "content": "    indented question"}, CODE],
    ):
        ids, labels = labelled(turns, tokens)
        runs = label_runs(tokenizer, labels)
        answers = [t["content"] for t in turns if t["role"] == "assistant"]
        assert len(runs) == len(answers)
        for run, answer in zip(runs, answers):
            assert answer.strip() in run and "user" not in run and "question" not in run
        _, everything = labelled(turns, tokens.spanning("conversation"))
        assert "".join(label_runs(tokenizer, everything)).count("indented question") == (
            "indented question" in str(turns)
        )


def test_the_plain_template_never_misaligns_on_a_tokenizer_that_merges_blank_lines():
    """Finding 3: a tokenizer with "\\n\\n" as one token, 4-turn rows and the conversation span."""
    from curation.tinylm import train_tokenizer

    tokenizer = train_tokenizer([t + "\n\n" + t + "\n\n\n" for t in WEB + MATH], vocab_size=400)
    assert len(tokenizer("\n\n", add_special_tokens=False)["input_ids"]) == 1
    assert not getattr(tokenizer, "chat_template", None)
    turns = [*CHAT, {"role": "user", "content": "And\n\na query?\n\n"}, {"role": "assistant", "content": "\n\nKey."}]
    tokens = Tokens(tokenizer, max_length=512, start_id=0)
    for span, expected in (("all-assistant", 2), ("last-turn", 1), ("conversation", 4)):
        runs = label_runs(tokenizer, labelled(turns, tokens.spanning(span))[1])
        assert len(runs) == expected and all("<|" not in run for run in runs)


def test_a_template_that_does_not_write_a_turn_as_given_quarantines_that_row_only(chat_lm, tmp_path):
    """A turn whose content is not in the rendering, or roles the template refuses: that row is a
    `template_mismatch` (a value, never a stopped run); a template that trims contents still works."""
    from transformers import AutoTokenizer

    from curation.formats.chat import TEMPLATE_MISMATCH
    from curation.formats.chat_spans import labelled_many

    tokenizer = AutoTokenizer.from_pretrained(chat_lm)
    tokens = Tokens(tokenizer, max_length=512, start_id=0)
    tokenizer.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] | trim }}</s>{% endfor %}"
    padded = [{"role": "user", "content": "  What?  "}, {"role": "assistant", "content": "\n An address. \n"}]
    assert label_runs(tokenizer, labelled(padded, tokens)[1]) == ["An address.</s>"]
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'assistant' and loop.first %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant') }}{% endif %}"
        "<{{ m['role'] }}>{{ m['content'][:8] }}</s>{% endfor %}"
    )
    short = [{"role": "user", "content": "Why?"}, {"role": "assistant", "content": "Short"}]
    found = labelled_many([[GREETING, CHAT[0], CHAT[1]], CHAT, short], tokens)
    assert "refuses the roles assistant/user/assistant" in found[0] and "cannot be found" in found[1]
    assert isinstance(found[2], tuple)
    import shutil

    from curation.formats import Reading

    model = shutil.copytree(chat_lm, tmp_path / "model")
    tokenizer.save_pretrained(model)  # the refusing template, as a model directory's own
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


def test_a_long_conversation_costs_two_layout_renders_and_one_of_its_own(tokenizer, monkeypatch):
    """The helper's attack: 1,000 turns took 4.3 s when each answer's end was rendered on its own."""
    import curation.formats.chat_spans as spans

    calls = []
    real = spans.render
    monkeypatch.setattr(spans, "render", lambda *args: calls.append(1) or real(*args))
    turns = [{"role": ("user", "assistant")[i % 2], "content": f"t{i}"} for i in range(400)]
    ids, labels = labelled(turns, Tokens(tokenizer, max_length=100_000, start_id=0))
    assert len(calls) == 3 and len(label_runs(tokenizer, labels)) == 200
