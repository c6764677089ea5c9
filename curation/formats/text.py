"""Text rows for a causal LM: `prompt`/`response` (loss on the response) and plain `text` (loss on all tokens)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from curation.formats.base import (
    IGNORE,
    Check,
    Column,
    Encoded,
    Limits,
    RowFormat,
    Tokens,
    is_text,
    text_chars,
    text_checks,
)


class PromptResponse(RowFormat):
    """`response` (required) after an optional `prompt`: the loss covers the response's tokens only.

    A missing or null prompt is the empty prompt; a long row loses the start of its prompt first.
    """

    name = "prompt-response"
    kind = "text"
    columns = (Column("prompt", "string", is_text, required=False), Column("response", "string", is_text))
    needs = "'response', with optional 'prompt'"

    def checks(self, limits: Limits) -> list[Check]:
        prompt = Check(
            "bad_type_prompt", "prompt", "ExpectColumnValuesToNotBeInSet", "_prompt_chars", {"value_set": [-2]}
        )
        return [prompt, *text_checks("response", limits)]

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        prompt = frame["prompt"] if "prompt" in frame.columns else pd.Series([None] * len(frame))
        return {"_prompt_chars": text_chars(prompt), "_response_chars": text_chars(frame["response"])}

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        prompt = frame["prompt"] if "prompt" in frame.columns else pd.Series([""] * len(frame), index=frame.index)
        frame["prompt"] = prompt.astype("object").where(prompt.notna(), "").astype(str)
        return frame

    def encode(self, rows: pd.DataFrame, tokens: Tokens) -> list[Encoded]:
        prompts = list(rows["prompt"]) if "prompt" in rows.columns else [""] * len(rows)
        encoded, room = [], tokens.max_length - 1
        for p, r in zip(tokens.ids(prompts), tokens.ids(rows["response"])):
            r = r[:room]
            p = p[max(0, len(p) - (room - len(r))) :] if len(p) + len(r) >= tokens.max_length else p
            encoded.append(([tokens.start_id, *p, *r], [IGNORE] * (1 + len(p)) + r))
        return encoded


class Text(RowFormat):
    """`text`: the loss covers every token."""

    name = "text"
    kind = "text"
    columns = (Column("text", "string", is_text),)
    needs = "'text'"

    def checks(self, limits: Limits) -> list[Check]:
        return text_checks("text", limits)

    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return {"_text_chars": text_chars(frame["text"])}

    def encode(self, rows: pd.DataFrame, tokens: Tokens) -> list[Encoded]:
        return [
            ([tokens.start_id, *ids[: tokens.max_length - 1]], [IGNORE, *ids[: tokens.max_length - 1]])
            for ids in tokens.ids(rows["text"])
        ]
