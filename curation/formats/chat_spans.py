"""Where each turn of a conversation lies in its tokens: one render and one tokenization per conversation.

A conversation is rendered once with its chat template (or `PLAIN_TEMPLATE` when the tokenizer has
none) and tokenized once with offsets; each turn's content is then found by its characters, and the
characters map to tokens through the tokenizer's offset mapping. Asking instead that each rendered
prefix tokenize as a prefix of the whole fails on real BPE merges: an answer that starts with
indentation or a blank line merges with the header's newline (`assistant\\n` + `    def`), and a
conversation that opens with an assistant turn renders an empty prefix that templates refuse.

Where the template writes each content is learned once per sequence of roles (a `Layout`): the
conversation rendered with placeholder contents gives the text between contents (role headers, a
default system prompt, end-of-turn tokens). A real conversation whose rendering is those pieces with
its contents in between (every template that writes contents as they are) has its contents' places
by arithmetic; otherwise (a template that trims contents, say) each content is searched for after
the template's text before it. A turn whose content cannot be found, or a template that refuses the
sequence of roles, makes that one row a `template_mismatch`: quarantined, never a stopped run.

Truncation (`--truncation`, TRL's terms): `keep-start` keeps the first `max_length` tokens,
`keep-end` the last; `keep-answer` (default) keeps the start unless no labelled token would be in
it, and then cuts from the left so that the first labelled token sits half a window in (the end of
a long pasted question is kept as context, the answer is trained and scored).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from curation.formats.base import IGNORE, Encoded, Tokens

# The fallback when a tokenizer has no chat template: a role line, the content, the end-of-sequence
# token (a special token: nothing merges across it), a newline.
PLAIN_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
TRUNCATIONS = ("keep-answer", "keep-start", "keep-end")
_MARK = "\ue000{}\ue001"  # a placeholder content: private-use characters no template changes


class TemplateMismatch(ValueError):
    """A conversation's turns cannot be found in its rendering (the row is quarantined as template_mismatch)."""


@dataclass(frozen=True)
class Layout:
    """What a template writes around the contents of one sequence of roles: `before[i]` precedes
    content i (after content i-1), `after` follows the last; `end_of_turn[i]` is how many characters
    after content i end its turn (the template's end-of-turn text, trailing whitespace excluded)."""

    before: tuple[str, ...]
    after: str
    end_of_turn: tuple[int, ...]


def template_of(tokenizer) -> str | None:
    """The template to render with: None (the tokenizer's own), or PLAIN_TEMPLATE when it has none."""
    return None if getattr(tokenizer, "chat_template", None) else PLAIN_TEMPLATE


def render(tokenizer, messages: list[dict[str, str]]) -> str:
    text = tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template_of(tokenizer))
    return text if isinstance(text, str) else text[0]


_LAYOUTS: dict[tuple, Layout | str] = {}


def layout(tokenizer, roles: tuple[str, ...]) -> Layout:
    """The template's layout for this sequence of roles (rendered once per template and sequence)."""
    key = (template_of(tokenizer) or tokenizer.chat_template, tokenizer.bos_token, tokenizer.eos_token, roles)
    found = _LAYOUTS.get(key)
    if found is None:
        try:
            found = _layout(tokenizer, roles)
        except TemplateMismatch as err:
            found = str(err)
        except Exception as err:  # the template's own refusal (raise_exception), or a render error
            found = f"the chat template refuses the roles {'/'.join(roles)}: {str(err)[:200]}"
        if len(_LAYOUTS) > 50_000:
            _LAYOUTS.clear()
        _LAYOUTS[key] = found
    if isinstance(found, str):
        raise TemplateMismatch(found)
    return found


def _layout(tokenizer, roles: tuple[str, ...]) -> Layout:
    marks = [_MARK.format(i) for i in range(len(roles))]
    whole = render(tokenizer, [{"role": r, "content": m} for r, m in zip(roles, marks)])
    before, cursor = [], 0
    for mark in marks:
        at = whole.find(mark, cursor)
        if at < 0:
            raise TemplateMismatch("the chat template does not write a turn's content as given")
        before.append(whole[cursor:at])
        cursor = at + len(mark)
    after, end_of_turn, own = whole[cursor:], [], None
    for i, role in enumerate(roles):
        following = before[i + 1] if i + 1 < len(roles) else after
        if role != "assistant":
            end_of_turn.append(0)
            continue
        if own is None:  # an answer's own end: what the template writes after it when it is the last turn
            prefix = render(tokenizer, [{"role": r, "content": m} for r, m in zip(roles[: i + 1], marks)])
            own = prefix[prefix.rfind(marks[i]) + len(marks[i]) :].rstrip()
        # taken from the first answer for every answer (two renders a sequence of roles, not one per
        # answer: 1,000 turns took 4.3 s), and labelled only as far as the template really wrote it
        n = 0
        while n < min(len(own), len(following)) and own[n] == following[n]:
            n += 1
        end_of_turn.append(n)
    return Layout(tuple(before), after, tuple(end_of_turn))


def content_places(text: str, contents: list[str], shape: Layout) -> list[tuple[int, int]]:
    """Each content's (start, end) characters in the rendered text."""
    places, cursor = [], 0
    if text == "".join(b + c for b, c in zip(shape.before, contents)) + shape.after:
        for before, content in zip(shape.before, contents):
            cursor += len(before)
            places.append((cursor, cursor + len(content)))
            cursor += len(content)
        return places
    for before, content in zip(shape.before, contents):  # a template that changes contents (trims them)
        start = cursor + len(before.strip())
        for candidate in (content, content.strip()):
            at = text.find(candidate, start)
            if at >= 0:
                places.append((at, at + len(candidate)))
                cursor = at + len(candidate)
                break
        else:
            raise TemplateMismatch("a turn's content cannot be found in the conversation's rendering")
    return places


def char_spans(messages: list[dict[str, str]], span: str, places, shape: Layout) -> list[tuple[int, int]]:
    """The characters the labels cover: assistant turns' content and end of turn (`all-assistant`,
    `last-turn`: the last one only), or every turn's content (`conversation`)."""
    roles = [m["role"] for m in messages]
    last = max(i for i, r in enumerate(roles) if r == "assistant")
    spans = []
    for i, (role, (start, end)) in enumerate(zip(roles, places)):
        if span == "last-turn" and i != last:
            continue
        if span != "conversation" and role != "assistant":
            continue
        spans.append((start, end + (shape.end_of_turn[i] if role == "assistant" else 0)))
    return spans


def token_labels(ids: list[int], offsets, spans: list[tuple[int, int]]) -> list[int]:
    """Labels: each token that overlaps a labelled span of characters keeps its id, others IGNORE."""
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    if not len(ids):
        return labels.tolist()
    found = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = found[:, 0], found[:, 1]
    ends = np.maximum.accumulate(ends)  # monotone, for the search (special tokens may carry (0, 0))
    values = np.asarray(ids, dtype=np.int64)
    for a, b in spans:
        if b > a:
            first = int(np.searchsorted(ends, a, side="right"))
            last = int(np.searchsorted(starts, b, side="left"))
            labels[first:last] = values[first:last]
    return labels.tolist()


def window(encoded: Encoded, max_length: int, truncation: str) -> tuple[Encoded, int]:
    """The row cut to `max_length` tokens by `truncation`, and the token it now starts at."""
    ids, labels = encoded
    if len(ids) <= max_length:
        return encoded, 0
    start = 0
    if truncation == "keep-end":
        start = len(ids) - max_length
    elif truncation == "keep-answer":
        first = next((i for i, label in enumerate(labels) if label != IGNORE), 0)
        if first >= max_length - 1:  # nothing labelled (the first token is never predicted) in the start
            start = min(first - max_length // 2, len(ids) - max_length)
    return (ids[start : start + max_length], labels[start : start + max_length]), start


# A conversation is tokenized only this many characters per window token past where its window
# starts (ShareGPT's median conversation is 7,000 characters, a 256-token window about 1,000), and in
# full where that prefix cannot be trusted (too few tokens, or the window reaching its last word).
# Measured on 2,982 ShareGPT V3 conversations with SmolLM2's tokenizer, every truncation and span at
# 64 and 256 tokens: the same ids and labels as whole-text tokenization; at 256 tokens 6.1 s against
# 10.6 s at 16 and 15.5 s in full (a smaller margin means more rows retokenized in full, still faster).
CHARS_PER_TOKEN = 6


def _prefix_end(text: str, spans: list[tuple[int, int]], tokens: Tokens) -> int:
    """How much of the text to tokenize: all of it for keep-end; else enough past the window's start."""
    if tokens.truncation == "keep-end":
        return len(text)
    first = min((a for a, b in spans if b > a), default=0) if tokens.truncation == "keep-answer" else 0
    return min(len(text), first + CHARS_PER_TOKEN * tokens.max_length)


@dataclass(frozen=True)
class Rendered:
    """A conversation rendered by the template: its text, the labelled character spans, and how much
    of the text is tokenized (`end`: a prefix, or all of it)."""

    text: str
    spans: list[tuple[int, int]]
    end: int


def _windowed(ids, offsets, row: Rendered, tokens: Tokens) -> tuple[Encoded, bool] | None:
    """(the row's window, whether it was cut) from the tokens of `text[:end]`; None when a prefix is not
    enough to be sure (the window reaches the prefix's last word, whose tokens the cut may change)."""
    length, text, end = tokens.max_length, row.text, row.end
    labels = token_labels(ids, offsets, row.spans)
    encoded, start = window((list(ids), labels), length, tokens.truncation)
    if end >= len(text):
        return encoded, len(ids) > length
    stop = start + length
    safe = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end))  # words before it tokenize as in the whole
    if stop >= len(ids) - 1 or offsets[stop - 1][1] > safe:
        return None
    if tokens.truncation == "keep-answer" and start > 0:
        first = next(i for i, label in enumerate(labels) if label != IGNORE)
        if start != first - length // 2:  # clipped by the prefix's own end: the whole text decides
            return None
    return encoded, True


def labelled_many(
    conversations: list[list[dict[str, str]]], tokens: Tokens, cut: list[bool] | None = None
) -> list[Encoded | str]:
    """(input ids, labels) per conversation, tokenized in one call; a row whose turns cannot be found
    in its rendering is the reason why, as a string. `cut`, if given, gets each row's truncation:
    whether it was longer than `max_length`."""
    tokenizer, texts, shapes, found = tokens.tokenizer, [], [], []
    for messages in conversations:
        try:
            shape = layout(tokenizer, tuple(m["role"] for m in messages))
            text = render(tokenizer, messages)
            places = content_places(text, [m["content"] for m in messages], shape)
        except TemplateMismatch as err:
            found.append(str(err))
            continue
        except Exception as err:  # the template raised on this row's contents
            found.append(f"the chat template fails on this conversation: {str(err)[:200]}")
            continue
        texts.append(text)
        shapes.append((messages, places, shape))
        found.append(None)
    spans = [char_spans(messages, tokens.span, places, shape) for messages, places, shape in shapes]
    rows = [Rendered(text, row_spans, _prefix_end(text, row_spans, tokens)) for text, row_spans in zip(texts, spans)]
    windows = _tokenized(tokens, rows)
    again = [k for k, found_window in enumerate(windows) if found_window is None]
    if again:  # a prefix was not enough: these rows in full
        redone = _tokenized(tokens, [dataclasses.replace(rows[k], end=len(rows[k].text)) for k in again])
        for k, found_window in zip(again, redone):
            windows[k] = found_window
    out, k = [], 0
    for item in found:
        if item is not None:
            out.append(item)
            if cut is not None:
                cut.append(False)
            continue
        encoded, was_cut = windows[k]
        out.append(encoded)
        if cut is not None:
            cut.append(was_cut)
        k += 1
    return out


def _tokenized(tokens: Tokens, rows: list[Rendered]) -> list:
    """Each row's window (or None) from one tokenizer call over the rows' tokenized stretches."""
    if not rows:
        return []
    pieces = [row.text[: row.end] for row in rows]
    batch: Any = tokens.tokenizer(pieces, add_special_tokens=False, return_offsets_mapping=True)
    return [
        _windowed(ids, offsets, row, tokens)
        for ids, offsets, row in zip(batch["input_ids"], batch["offset_mapping"], rows)
    ]
