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
from curation.formats.base import IGNORE, Check, Column, Encoded, Limits, RowFormat, Tokens, is_null
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

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        found = [self.normalized(v) for v in frame[self.column]]
        return {"_conversation": np.array([f if isinstance(f, str) else "" for f in found], dtype=object)}

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
        # Valid rows are normalized to `messages` already; raw rows are in this form's own column.
        form, column = (Messages(), "messages") if "messages" in rows.columns else (self, self.column)
        encoded = []
        for value in rows[column]:
            messages = form.normalized(value)
            if isinstance(messages, str):
                raise InputError(f"a conversation to encode is not valid ({messages})", field=column)
            encoded.append(assistant_spans(messages, tokens))
        return encoded


def _render(tokens: Tokens, messages: list[dict[str, str]], generation: bool = False) -> list[int]:
    template = None if getattr(tokens.tokenizer, "chat_template", None) else PLAIN_TEMPLATE
    ids = tokens.tokenizer.apply_chat_template(
        messages, tokenize=True, add_generation_prompt=generation, chat_template=template
    )
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # a BatchEncoding
        ids = ids["input_ids"]
    return list(ids)


def assistant_spans(messages: list[dict[str, str]], tokens: Tokens) -> Encoded:
    """(input ids, labels) of a conversation: labels on the assistant turns' own tokens only."""
    ids = _render(tokens, messages)
    labels = [IGNORE] * len(ids)
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        head = _render(tokens, messages[:i], generation=True) if i else []  # up to the assistant header
        through = _render(tokens, messages[: i + 1])  # up to the turn's end-of-turn tokens
        start, end = len(head), len(through)
        if ids[:start] != head or ids[:end] != through:
            raise InputError(
                "the model's chat template renders a conversation's prefix differently from the whole "
                "conversation, so the assistant turns' tokens cannot be found",
                field="--model",
                hint="use a model whose chat template renders each turn after the ones before it",
            )
        labels[start:end] = ids[start:end]
    ids, labels = ids[: tokens.max_length], labels[: tokens.max_length]
    return ids, labels


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
