"""The row-format contract: everything the tool knows about one form of row, in one class.

A `RowFormat` declares its columns (with the Arrow types a Parquet file may give them), its
checks (a table of `Check`s: the quarantine reason as a value, the field it names, a hint, and
the Great Expectations expectation that judges it), the facts those checks read, how valid rows
are normalized, which columns its content hash covers and a model reads, and, for rows a causal
LM reads, how a row becomes token ids and a loss mask. `curation.formats` registers the formats
and detects a file's format from its columns, once, at ingest. A new row form is one new class.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from curation.hashing import row_hashes
from curation.rows import CUT_COLUMN, HASH_COLUMN, UNICODE_COLUMN

ModelKind = Literal["text", "features"]  # what reads the rows: a causal LM, or a classifier
IGNORE = -100  # the label of a token no loss is taken on
FLOAT32_MAX = float(np.finfo(np.float32).max)
MAX_LABEL = 65_535  # labels are class indices: 0..MAX_LABEL (a classifier has one output per class)


@dataclass(frozen=True)
class Limits:
    """How a pool is read and what it may hold, as a user sets it (`--max-reject-share`, `--min-chars`,
    `--max-chars`, `--shard-rows`: rows per batch read, and per shard of valid rows)."""

    max_reject_share: float = 0.5
    min_chars: int = 1
    max_chars: int = 100_000
    batch_rows: int = 65_536

    def scan_settings(self) -> dict[str, int]:
        """The limits that change what a pool's own checks find (the share of rejects is judged after)."""
        return {"min_chars": self.min_chars, "max_chars": self.max_chars, "batch_rows": self.batch_rows}

    @classmethod
    def of(cls, config) -> Limits:
        """The limits a run's settings set."""
        return cls(config.max_reject_share, config.min_chars, config.max_chars, config.shard_rows)


@dataclass(frozen=True)
class Column:
    """A column of the format: its name, the Arrow types a file may give it (in words and as a test)."""

    name: str
    type: str
    accepts: Callable[[pa.DataType], bool]
    required: bool = True


@dataclass(frozen=True)
class Check:
    """One rule a row must satisfy. A failing row is quarantined with `reason` (a value, never parsed),
    and an error names `field`. `expectation` is the Great Expectations class that judges the
    column `reads` (a row column or a fact the format derives), with `options` as its arguments."""

    reason: str
    field: str
    expectation: str
    reads: str
    options: dict[str, Any] = field(default_factory=dict)
    hint: str | None = None


@dataclass(frozen=True)
class Tokens:
    """What turning text into a causal LM's tokens needs: its tokenizer, the longest row it may see,
    the token every row starts with, and the span of a chat row the labels cover.

    Spans (`curation.config`: `--loss-on` for the warmup and the finetunes, `--score-on` for the
    score): `all-assistant` (every assistant turn), `last-turn` (the last assistant turn),
    `conversation` (every turn's content, the user's too). A template's boilerplate (role headers,
    a default system prompt it adds) is in no span. Prompt/response and text rows have one span
    each (the response; every token) whatever the span says.
    """

    tokenizer: Any
    max_length: int
    start_id: int
    span: str = "all-assistant"
    truncation: str = "keep-answer"  # chat rows longer than max_length: curation.formats.chat_spans

    def spanning(self, span: str) -> Tokens:
        return self if span == self.span else dataclasses.replace(self, span=span)

    def ids(self, texts) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]


@dataclass(frozen=True)
class Reading:
    """How a causal LM reads the target's rows: its directory, the token limit, the spans of chat rows
    the loss (`loss_on`) and the score (`score_on`) cover. The target checks use it to find chat rows
    whose every labelled token would be cut off (with `truncation`, how a long chat row is cut)."""

    model: str
    max_length: int
    loss_on: str = "all-assistant"
    score_on: str = "all-assistant"
    truncation: str = "keep-answer"


Encoded = tuple[list[int], list[int]]  # (input ids, labels: IGNORE where no loss is taken)


def is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)


def is_null(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value))


def text_chars(values) -> np.ndarray:
    """Length of each string; -1 for null, -2 for a value that is not text."""

    def chars(value: Any) -> int:
        if is_null(value):
            return -1
        return len(value) if isinstance(value, str) else -2

    return np.fromiter((chars(v) for v in values), dtype=np.int64, count=len(values))


def text_checks(column: str, limits: Limits) -> list[Check]:
    """A required text column: present, text, within the length limits (its chars fact: `_<column>_chars`)."""
    chars = f"_{column}_chars"
    return [
        Check(f"null_{column}", column, "ExpectColumnValuesToNotBeInSet", chars, {"value_set": [-1]}),
        Check(f"bad_type_{column}", column, "ExpectColumnValuesToNotBeInSet", chars, {"value_set": [-2]}),
        Check(
            f"{column}_length",
            column,
            "ExpectColumnValuesToBeBetween",
            chars,
            {"min_value": limits.min_chars, "max_value": limits.max_chars},
            hint=f"text must be {limits.min_chars}-{limits.max_chars} characters",
        ),
    ]


class RowFormat(ABC):
    """One form of row. Subclasses set the class attributes and implement the checks and facts."""

    name: ClassVar[str]
    kind: ClassVar[ModelKind]
    columns: ClassVar[tuple[Column, ...]]
    needs: ClassVar[str]  # the columns in words, for the error when a file lacks them
    # The form valid rows are normalized to: formats that share it are interchangeable (a ShareGPT
    # pool for a `messages` validation set). None: the format's own name.
    normal_form: ClassVar[str | None] = None

    @classmethod
    def normalizes_to(cls) -> str:
        return cls.normal_form or cls.name

    @classmethod
    def required(cls) -> tuple[str, ...]:
        return tuple(c.name for c in cls.columns if c.required)

    @classmethod
    def payload(cls) -> tuple[str, ...]:
        """The columns that make a row what it is: its content hash covers these, no others."""
        return tuple(c.name for c in cls.columns)

    @classmethod
    def row_hashes(cls, frame: pd.DataFrame) -> pd.Series:
        """Each row's content hash: over the payload columns, so ids and pass-through columns never change it."""
        return row_hashes(frame, cls.payload())

    @classmethod
    def model_columns(cls) -> tuple[str, ...]:
        """The columns a model reads (with the content hash and id: what a reference sample keeps)."""
        return (HASH_COLUMN, "id", *cls.payload())

    @classmethod
    def matches(cls, names) -> bool:
        """Whether a file with these columns holds rows of this format."""
        return all(name in names for name in cls.required())

    @classmethod
    def missing(cls, names) -> str | None:
        """The first required column a file lacks (None: none)."""
        return next((name for name in cls.required() if name not in names), None)

    @abstractmethod
    def checks(self, limits: Limits) -> list[Check]:
        """The format's checks, in the order a row's first failure is reported."""

    @abstractmethod
    def facts(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The derived columns the checks read (values Python must judge: lengths, types, finiteness)."""

    def fixed_by(self, validation: pd.DataFrame) -> dict[str, Any]:
        """What the validation set fixes for every other file of this format (a feature length, labels)."""
        return {}

    def target_checks(self, fixed: dict[str, Any]) -> list[Check]:
        """Checks that depend on the target (what `fixed_by` found), run after the format's own."""
        return []

    def target_facts(self, frame: pd.DataFrame, fixed: dict[str, Any]) -> dict[str, np.ndarray]:
        """The facts the target checks read that are not row columns (valid or raw rows alike)."""
        return {}

    def normalize(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Valid rows with clean types (what the selection and the models get)."""
        return frame

    def encode(self, rows: pd.DataFrame, tokens: Tokens) -> list[Encoded]:
        """(input ids, labels) per row for a causal LM: formats of the `text` kind implement it."""
        raise NotImplementedError(f"{self.name} rows are not read by a causal LM")


def common_checks(has_id: bool) -> list[Check]:
    """What every row of every format must satisfy: whole (not the element a cut-off JSON array ends
    inside), valid Unicode, and a non-null id where ids are given."""
    found = [
        Check(
            "cut_off",
            CUT_COLUMN,
            "ExpectColumnValuesToBeNull",
            CUT_COLUMN,
            hint="the file ends inside this element: it was cut off (the elements before it are read)",
        ),
        Check(
            "invalid_unicode",
            UNICODE_COLUMN,
            "ExpectColumnValuesToBeNull",
            UNICODE_COLUMN,
            hint="the text holds a lone UTF-16 surrogate (e.g. \\ud800), which is not valid Unicode",
        ),
    ]
    if has_id:
        found.append(Check("null_id", "id", "ExpectColumnValuesToNotBeNull", "id"))
    return found
