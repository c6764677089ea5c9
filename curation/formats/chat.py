"""Chat conversations for a causal LM: `messages` (role/content turns, as TRL and the OpenAI format
write them) and ShareGPT `conversations` (from/value turns, as LLaMA-Factory and Axolotl read them).

Both normalize to `messages`: a list of `{"role", "content"}` with roles system, user and assistant.
ShareGPT's speakers map by `SHAREGPT_ROLES`; any other speaker is quarantined as `unknown_role`.
The content hash covers the normalized conversation, so the same conversation in either form is one
row for the duplicate and leakage checks.

A causal LM reads a conversation through the model's own chat template (`apply_chat_template`),
or `PLAIN_TEMPLATE` when the tokenizer has none. The loss covers the assistant turns' tokens (their
content and the template's end-of-turn tokens), never the role headers or a system prompt the
template adds by default. A conversation may open with an assistant turn (36% of ShareGPT V3 does:
the greeting of a continued chat); it is trained and scored like any other. The spans come from one
render and one tokenization per conversation (`curation.formats.chat_spans`); a row whose turns the
template does not write as given is quarantined as `template_mismatch`, and the run goes on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.errors import InputError
from curation.formats.base import IGNORE, Check, Column, Encoded, Limits, Reading, RowFormat, Tokens, is_null
from curation.formats.chat_spans import TemplateMismatch, labelled_many
from curation.hashing import row_hashes
from curation.rows import HASH_COLUMN, SCORE_IDS_COLUMN, SCORE_LABELS_COLUMN, TRUNCATED_COLUMN

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
# The first problem found in a conversation, as a fact the checks read ("" when none).
PROBLEMS = (
    "not_a_conversation",
    "empty_conversation",
    "bad_turn",
    "unknown_role",
    "content_not_text",
    "no_assistant_turn",
)
TEMPLATE_MISMATCH = -2  # `_trained_tokens` of a row whose turns its chat template does not write as given


def _is_list(t: pa.DataType) -> bool:
    return pa.types.is_null(t) or pa.types.is_list(t) or pa.types.is_large_list(t)


def _turns(value: Any) -> list | None:
    if isinstance(value, np.ndarray):
        return list(value)
    return value if isinstance(value, list) else None


class ChatFormat(RowFormat):
    """What `messages` and `conversations` share: the checks, the hash, the tokenization."""

    kind = "text"
    normal_form = "messages"  # either form of chat row is the other's equal
    column: str  # the column holding the turns
    role_key: str
    content_key: str
    roles: dict[str, str]  # the form's role names → system/user/assistant

    def normalized(self, value: Any) -> list[dict[str, Any]] | str:
        """The conversation as messages, or the first problem's reason. Speakers match whatever their
        case (`Human`, `GPT`); a turn's other keys (`name`, `weight`, `train`: what Axolotl and
        LLaMA-Factory read) stay with it, except null ones (Parquet writes absent keys as nulls)."""
        turns = _turns(value)
        if turns is None:
            return "empty_conversation" if is_null(value) else "not_a_conversation"
        if not turns:
            return "empty_conversation"
        messages = []
        for turn in turns:
            if not isinstance(turn, dict) or self.role_key not in turn or self.content_key not in turn:
                return "bad_turn"
            speaker = turn[self.role_key]
            role = self.roles.get(speaker.strip().lower()) if isinstance(speaker, str) else None
            if role is None:
                return "unknown_role"
            if not isinstance(turn[self.content_key], str):
                return "content_not_text"
            extra = {k: v for k, v in turn.items() if k not in (self.role_key, self.content_key) and not is_null(v)}
            if "role" in extra or "content" in extra:  # a ShareGPT turn that also says role/content: which one?
                return "bad_turn"
            messages.append({"role": role, "content": turn[self.content_key], **extra})
        if not any(m["role"] == "assistant" for m in messages):
            return "no_assistant_turn"
        return messages

    def checks(self, limits: Limits) -> list[Check]:
        hints = {
            "not_a_conversation": f"'{self.column}' must be a list of turns",
            "bad_turn": f"each turn is an object with '{self.role_key}' and '{self.content_key}'"
            + ("" if self.role_key == "role" else ", not also 'role' or 'content'"),
            "unknown_role": f"roles are {', '.join(sorted(self.roles))}",
            "content_not_text": f"each turn's '{self.content_key}' is a string",
            "no_assistant_turn": "a conversation needs an assistant turn to learn from",
        }
        problems = [
            Check(
                p, self.column, "ExpectColumnValuesToNotBeInSet", "_conversation", {"value_set": [p]}, hint=hints.get(p)
            )
            for p in PROBLEMS
        ]
        # --min-chars/--max-chars: a conversation's text is its turns' contents together (checked after
        # the problems above, so a row that is no conversation has its own reason)
        length = Check(
            "conversation_length", self.column, "ExpectColumnValuesToBeBetween", "_conversation_chars",
            {"min_value": limits.min_chars, "max_value": limits.max_chars},
            hint=f"a conversation's turns must hold {limits.min_chars}-{limits.max_chars} characters together",
        )  # fmt: skip
        return [*problems, length]

    def _each(self, frame: pd.DataFrame) -> list[list[dict[str, Any]] | str]:
        """Each row's conversation as messages (or its first problem), read in whichever chat form the
        row holds: a file may mix `messages` and `conversations` rows (a row's column is null in the
        other form's rows), and cached valid rows hold `messages`."""
        forms = [form() for form in (Messages, ShareGPT) if form.column in frame.columns]
        if not forms:
            return ["not_a_conversation"] * len(frame)
        own = next((f for f in forms if f.column == self.column), forms[0])
        others = [f for f in forms if f is not own]
        found = []
        for i, value in enumerate(frame[own.column]):
            form = own
            if is_null(value):
                form = next((f for f in others if not is_null(frame[f.column].iat[i])), own)
                value = frame[form.column].iat[i]
            found.append(form.normalized(value))
        return found

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        found = self._each(frame)
        chars = [sum(len(m["content"]) for m in f) if isinstance(f, list) else -1 for f in found]
        return {
            "_conversation": np.array([f if isinstance(f, str) else "" for f in found], dtype=object),
            "_conversation_chars": np.array(chars, dtype=np.int64),
        }

    def target_checks(self, fixed: dict[str, Any]) -> list[Check]:
        reading: Reading | None = fixed.get("reading")
        if reading is None:
            return []
        mismatch = "the model's chat template does not write this conversation's turns as given"
        from curation.formats.tokens import positions

        limit, cap = reading.max_length, positions(reading.model)
        if cap is not None and cap < limit:  # the model allows fewer positions than asked: name its limit
            words = f"the token limit {cap} (the model's positions; --max-length {limit} asks for more)"
        else:
            words = f"--max-length {limit}"
        hint = f"every token the loss or the score would read lies past {words}"
        if reading.truncation == "keep-start":
            hint += "; --truncation keep-answer keeps such rows by cutting them from the left"
        return [
            Check("template_mismatch", self.column, "ExpectColumnValuesToNotBeInSet", "_trained_tokens",
                  {"value_set": [TEMPLATE_MISMATCH]}, hint=mismatch),
            Check("no_trained_tokens", self.column, "ExpectColumnValuesToNotBeInSet", "_trained_tokens",
                  {"value_set": [0]}, hint=hint),
        ]  # fmt: skip

    def target_facts(self, frame: pd.DataFrame, fixed: dict[str, Any]) -> dict[str, np.ndarray]:
        """`_trained_tokens`: the fewest labelled tokens a row keeps under the loss's and the score's
        spans within the token limit (-1 for a row that is not a valid conversation, TEMPLATE_MISMATCH
        for one whose turns its chat template does not write as given); and the row's tokens under
        the score's span with whether it was cut to fit (`rows.CARRIED_COLUMNS`: the run's shards
        carry them to scoring, which then tokenizes no row again)."""
        reading: Reading | None = fixed.get("reading")
        if reading is None:
            return {}
        from curation.formats.tokens import tokens_for

        tokens = tokens_for(reading.model, reading.max_length, reading.truncation)
        found = self._each(frame)
        counts = np.full(len(found), -1, dtype=np.int64)
        valid = [i for i, messages in enumerate(found) if not isinstance(messages, str)]
        conversations = [found[i] for i in valid]
        carried: dict[str, np.ndarray] = {}
        for span in dict.fromkeys([reading.score_on, reading.loss_on]):
            cut: list[bool] = []
            encoded = labelled_many(conversations, tokens.spanning(span), cut)
            for i, one in zip(valid, encoded):
                n = TEMPLATE_MISMATCH if isinstance(one, str) else trained_tokens(one)
                counts[i] = n if counts[i] == -1 else min(counts[i], n)
            if span == reading.score_on:  # the score's tokens, carried to scoring (rows.CARRIED_COLUMNS)
                ids, labels = np.full(len(found), None, dtype=object), np.full(len(found), None, dtype=object)
                for i, one in zip(valid, encoded):
                    if not isinstance(one, str):
                        ids[i], labels[i] = one
                truncated = np.zeros(len(found), dtype=bool)
                truncated[valid] = cut
                carried = {SCORE_IDS_COLUMN: ids, SCORE_LABELS_COLUMN: labels, TRUNCATED_COLUMN: truncated}
        return {"_trained_tokens": counts, **carried}

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["messages"] = self._each(frame)
        return frame.drop(columns=[c for c in ("conversations",) if c in frame.columns])

    @classmethod
    def row_hashes(cls, frame: pd.DataFrame) -> pd.Series:
        """Over the normalized conversation (role, content pairs), whichever form holds it."""
        columns = [c for c in ("messages", "conversations") if c in frame.columns]
        payloads = []
        for i, found in enumerate(cls()._each(frame) if len(frame) else []):
            if isinstance(found, str):  # not a valid conversation: its raw values, as text
                payloads.append(repr([_turns(v) or v for v in (frame[c].iat[i] for c in columns)]))
            else:
                payloads.append([[m["role"], m["content"]] for m in found])
        return row_hashes(pd.DataFrame({"messages": payloads}, index=frame.index), ("messages",))

    @classmethod
    def model_columns(cls) -> tuple[str, ...]:
        return (HASH_COLUMN, "id", "messages")

    def encode(self, rows: pd.DataFrame, tokens: Tokens) -> list[Encoded]:
        conversations = self._each(rows)
        problem = next((c for c in conversations if isinstance(c, str)), None)
        if problem is not None:  # quarantined at validation: never reached from a run
            raise InputError(f"a conversation to encode is not valid ({problem})", field=self.column)
        encoded = labelled_many(conversations, tokens)
        problem = next((e for e in encoded if isinstance(e, str)), None)
        if problem is not None:
            raise InputError(f"a conversation to encode does not fit the chat template ({problem})", field=self.column)
        return encoded


def labelled(messages: list[dict[str, str]], tokens: Tokens) -> Encoded:
    """(input ids, labels) of a conversation: labels on the tokens of `tokens.span` only.

    `all-assistant`: every assistant turn (its content and end of turn); `last-turn`: the last assistant
    turn; `conversation`: every turn's content (the template's headers and default system prompt
    never). Cut to `max_length` by `tokens.truncation` (curation.formats.chat_spans)."""
    found = labelled_many([messages], tokens)[0]
    if isinstance(found, str):
        raise TemplateMismatch(found)
    return found


def as_given(frame: pd.DataFrame) -> pd.DataFrame:
    """Chat rows as a user gave them, for selection.jsonl: each turn with its own keys only (Parquet
    gives every turn of a column every key any turn had, as nulls)."""
    if "messages" not in frame.columns:
        return frame
    found = [Messages().normalized(v) for v in frame["messages"]]
    return frame.assign(messages=[v if isinstance(f, str) else f for v, f in zip(frame["messages"], found)])


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
