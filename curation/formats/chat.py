"""Chat conversations for a causal LM: `messages` (role/content turns, as TRL and the OpenAI format
write them) and ShareGPT `conversations` (from/value turns, as LLaMA-Factory and Axolotl read them).

Both normalize to `messages`: a list of `{"role", "content"}` with roles system, user and assistant.
ShareGPT's speakers map by `SHAREGPT_ROLES`; any other speaker is quarantined as `unknown_role`.
The content hash covers the normalized conversation, so the same conversation in either form is one
row for the duplicate and leakage checks.

A causal LM reads a conversation through the model's own chat template (`apply_chat_template`),
or `PLAIN_TEMPLATE` when the tokenizer has none. The loss covers the assistant turns' tokens (their
content and the template's end-of-turn tokens), never the role headers or a system prompt the
template adds by default: each assistant turn's span is found by rendering the conversation up to
it (with the generation prompt: the assistant header) and up to its end, and the rendered prefixes
must be prefixes of the whole conversation's tokens; a template for which they are not is refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.errors import InputError
from curation.formats.base import IGNORE, Check, Column, Encoded, Limits, Reading, RowFormat, Tokens, is_null
from curation.hashing import row_hashes
from curation.rows import HASH_COLUMN

ROLES = ("system", "user", "assistant")
# ShareGPT's speakers: the documented table; others (e.g. "tool", "function") are quarantined.
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
    "assistant": "assistant",
}
# The fallback when a tokenizer has no chat template: a role line, the content, a blank line.
PLAIN_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
# The first problem found in a conversation, as a fact the checks read ("" when none).
PROBLEMS = (
    "not_a_conversation",
    "empty_conversation",
    "bad_turn",
    "unknown_role",
    "content_not_text",
    "no_assistant_turn",
)


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_null(t) or pa.types.is_list(t) or pa.types.is_large_list(t)


def _turns(value: Any) -> list | None:
    if isinstance(value, np.ndarray):
        return list(value)
    return value if isinstance(value, list) else None


class ChatFormat(RowFormat):
    """What `messages` and `conversations` share: the checks, the hash, the tokenization."""

    family = "text"
    normal_form = "messages"  # either form of chat row is the other's equal
    column: str  # the column holding the turns
    role_key: str
    content_key: str
    roles: dict[str, str]  # the form's role names → system/user/assistant

    def normalized(self, value: Any) -> list[dict[str, str]] | str:
        """The conversation as messages, or the first problem's reason."""
        turns = _turns(value)
        if turns is None:
            return "empty_conversation" if is_null(value) else "not_a_conversation"
        if not turns:
            return "empty_conversation"
        messages = []
        for turn in turns:
            if not isinstance(turn, dict) or self.role_key not in turn or self.content_key not in turn:
                return "bad_turn"
            role = self.roles.get(turn[self.role_key]) if isinstance(turn[self.role_key], str) else None
            if role is None:
                return "unknown_role"
            if not isinstance(turn[self.content_key], str):
                return "content_not_text"
            messages.append({"role": role, "content": turn[self.content_key]})
        if not any(m["role"] == "assistant" for m in messages):
            return "no_assistant_turn"
        return messages

    def checks(self, limits: Limits) -> list[Check]:
        hints = {
            "not_a_conversation": f"'{self.column}' must be a list of turns",
            "bad_turn": f"each turn is an object with '{self.role_key}' and '{self.content_key}'",
            "unknown_role": f"roles are {', '.join(sorted(self.roles))}",
            "content_not_text": f"each turn's '{self.content_key}' is a string",
            "no_assistant_turn": "a conversation needs an assistant turn to learn from",
        }
        return [
            Check(p, self.column, "ExpectColumnValuesToNotBeInSet", "_conversation", {"value_set": [p]}, hints.get(p))
            for p in PROBLEMS
        ]

    def _as_found(self, frame: pd.DataFrame) -> tuple[ChatFormat, pd.Series]:
        """The form and column rows are in: this form's own (raw rows), or `messages` (normalized ones)."""
        return (self, frame[self.column]) if self.column in frame.columns else (Messages(), frame["messages"])

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        form, values = self._as_found(frame)
        found = [form.normalized(v) for v in values]
        return {"_conversation": np.array([f if isinstance(f, str) else "" for f in found], dtype=object)}

    def target_checks(self, fixed: dict[str, Any]) -> list[Check]:
        reading: Reading | None = fixed.get("reading")
        if reading is None:
            return []
        hint = f"every token the loss or the score would read lies past --max-length {reading.max_length}"
        return [
            Check("no_trained_tokens", self.column, "ExpectColumnValuesToNotBeInSet", "_trained_tokens",
                  {"value_set": [0]}, hint)
        ]  # fmt: skip

    def target_facts(self, frame: pd.DataFrame, fixed: dict[str, Any]) -> dict[str, np.ndarray]:
        """`_trained_tokens`: the fewest labelled tokens a row keeps under the loss's and the score's
        spans within the token limit (-1 for a row that is not a valid conversation)."""
        reading: Reading | None = fixed.get("reading")
        if reading is None:
            return {}
        from curation.formats.tokens import tokens_for

        tokens = tokens_for(reading.model, reading.max_length)
        form, values = self._as_found(frame)
        spans, counts = {reading.loss_on, reading.score_on}, []
        for value in values:
            messages = form.normalized(value)
            if isinstance(messages, str):
                counts.append(-1)
                continue
            counts.append(min(trained_tokens(labelled(messages, tokens.spanning(span))) for span in spans))
        return {"_trained_tokens": np.array(counts, dtype=np.int64)}

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["messages"] = [self.normalized(v) for v in frame[self.column]]
        return frame.drop(columns=[self.column]) if self.column != "messages" else frame

    @classmethod
    def row_hashes(cls, frame: pd.DataFrame) -> pd.Series:
        """Over the normalized conversation (role, content pairs), whichever form holds it."""
        form, payloads = cls(), []
        for value in frame[cls.column] if len(frame) else []:
            found = form.normalized(value)
            if isinstance(found, str):  # not a valid conversation: its raw value, as text
                payloads.append(repr(_turns(value) or value))
            else:
                payloads.append([[m["role"], m["content"]] for m in found])
        return row_hashes(pd.DataFrame({"messages": payloads}, index=frame.index), ("messages",))

    @classmethod
    def model_columns(cls) -> tuple[str, ...]:
        return (HASH_COLUMN, "id", "messages")

    def encode(self, rows: pd.DataFrame, tokens: Tokens) -> list[Encoded]:
        form, values = self._as_found(rows)
        encoded = []
        for value in values:
            messages = form.normalized(value)
            if isinstance(messages, str):
                raise InputError(f"a conversation to encode is not valid ({messages})", field=form.column)
            encoded.append(labelled(messages, tokens))
        return encoded


def _render(tokens: Tokens, messages: list[dict[str, str]], generation: bool = False) -> list[int]:
    if not messages and not generation:
        return []
    template = None if getattr(tokens.tokenizer, "chat_template", None) else PLAIN_TEMPLATE
    ids = tokens.tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation, chat_template=template
    )
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def _misaligned() -> InputError:
    return InputError(
        "the model's chat template renders a conversation's prefix differently from the whole "
        "conversation, so the assistant turns' tokens cannot be found",
        field="--model",
        hint="use a model whose chat template renders each turn after the ones before it",
    )


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _without_trailing_space(tokens: Tokens, ids: list[int], start: int, end: int) -> int:
    """The span's end before tokens that decode to whitespace only (the newline after an end-of-turn token)."""
    while end > start and not tokens.tokenizer.decode([ids[end - 1]]).strip():
        end -= 1
    return end


def _turn_span(tokens: Tokens, messages: list[dict[str, str]], i: int, ids: list[int]) -> tuple[int, int]:
    """Where turn i's own tokens lie in the conversation's ids: an assistant turn's content and its
    end-of-turn token (after the header the generation prompt renders); another turn's content only
    (its header and trailer: what the same turn with empty content renders around it)."""
    through = _render(tokens, messages[: i + 1])
    if ids[: len(through)] != through:
        raise _misaligned()
    if messages[i]["role"] == "assistant":
        head = _render(tokens, messages[:i], generation=True)
        if ids[: len(head)] != head:
            raise _misaligned()
        return len(head), _without_trailing_space(tokens, ids, len(head), len(through))
    before = _render(tokens, messages[:i])
    if ids[: len(before)] != before:
        raise _misaligned()
    own = through[len(before) :]
    empty = _render(tokens, [*messages[:i], {"role": messages[i]["role"], "content": ""}])[len(before) :]
    header = _common_prefix(own, empty)
    trailer = _common_prefix(own[header:][::-1], empty[header:][::-1])
    return len(before) + header, len(through) - trailer


def labelled(messages: list[dict[str, str]], tokens: Tokens) -> Encoded:
    """(input ids, labels) of a conversation: labels on the tokens of `tokens.span` only.

    `all-assistant`: every assistant turn; `last-turn`: the last assistant turn; `conversation`: every
    turn's content (the template's headers and default system prompt never). Turns that start past
    `max_length` are not rendered: they would be cut off.
    """
    ids = _render(tokens, messages)
    labels = [IGNORE] * len(ids)
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    for i, message in enumerate(messages):
        if tokens.span == "last-turn" and i != last:
            continue
        if tokens.span != "conversation" and message["role"] != "assistant":
            continue
        start, end = _turn_span(tokens, messages, i, ids)
        if start >= tokens.max_length:
            break
        labels[start:end] = ids[start:end]
    return ids[: tokens.max_length], labels[: tokens.max_length]


def trained_tokens(encoded: Encoded) -> int:
    """Labelled tokens a causal LM's loss reads (the first token is never predicted)."""
    return sum(1 for label in encoded[1][1:] if label != IGNORE)


class Messages(ChatFormat):
    """`messages`: a list of `{"role", "content"}` turns, roles system, user and assistant."""

    name = "messages"
    column, role_key, content_key = "messages", "role", "content"
    roles = {role: role for role in ROLES}
    columns = (Column("messages", "list of {role, content}", _is_list),)
    needs = "'messages' (a list of {role, content} turns)"


class ShareGPT(ChatFormat):
    """ShareGPT `conversations`: a list of `{"from", "value"}` turns (human, gpt, system, ...)."""

    name = "sharegpt"
    column, role_key, content_key = "conversations", "from", "value"
    roles = SHAREGPT_ROLES
    columns = (Column("conversations", "list of {from, value}", _is_list),)
    needs = "'conversations' (a list of {from, value} turns, ShareGPT)"
