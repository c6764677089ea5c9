"""Where each turn lies in a conversation's tokens, from one render and one tokenization: the labels
cover the span asked (every assistant turn, the last one, or every turn's content) and never the
template's own text, under the plain template and the ChatML and [INST] styles, through BPE merges at
turn boundaries; a long row is cut by `--truncation`; a turn the template does not write as given
makes that row a `template_mismatch`."""

from __future__ import annotations

import pytest
from conftest import MATH, WEB, label_runs

from curation.formats.base import IGNORE, Tokens
from curation.formats.chat import labelled
from curation.formats.chat_spans import PLAIN_TEMPLATE, labelled_many
from curation.tinylm import train_tokenizer

CHAT = [{"role": "user", "content": "What is a URL?"}, {"role": "assistant", "content": "A resource address."}]


@pytest.fixture(scope="module")
def tokenizer():
    """A byte-level BPE tokenizer with no chat template of its own: the plain template applies."""
    return train_tokenizer(WEB + MATH, vocab_size=300)


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


def test_a_turn_the_template_does_not_write_as_given_is_that_rows_mismatch_and_trimming_is_fine():
    """A turn whose content is not in the rendering, or roles the template refuses: that row's reason
    (a value, never a stopped run; the row is quarantined: tests/unit/curation/formats/test_chat.py);
    a template that trims contents still works."""
    tokenizer = train_tokenizer(WEB + MATH, vocab_size=300)  # its own: the test sets its template
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


def test_a_long_conversation_costs_two_layout_renders_and_one_of_its_own(tokenizer, monkeypatch):
    """The helper's attack: 1,000 turns took 4.3 s when each answer's end was rendered on its own."""
    import curation.formats.chat_spans as spans

    calls = []
    real = spans.render
    monkeypatch.setattr(spans, "render", lambda *args: calls.append(1) or real(*args))
    turns = [{"role": ("user", "assistant")[i % 2], "content": f"t{i}"} for i in range(400)]
    ids, labels = labelled(turns, Tokens(tokenizer, max_length=100_000, start_id=0))
    assert len(calls) == 3 and len(label_runs(tokenizer, labels)) == 200
