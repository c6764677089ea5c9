"""Row kinds and their columns (the file contract of DESIGN.md section 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pandas as pd

RowKind = Literal["text", "features"]

# Internal provenance columns: where a row came from, for error messages and quarantine.
FILE_COLUMN = "_source_file"
ROW_COLUMN = "_source_row"
HASH_COLUMN = "_content_hash"
UNICODE_COLUMN = "_invalid_unicode"  # the field of a JSONL row that held a lone surrogate ("\ud800")
INTERNAL_COLUMNS = (FILE_COLUMN, ROW_COLUMN, HASH_COLUMN, UNICODE_COLUMN)

CLASSIFIER_MODELS = ("linear", "mlp")


def kind_for_model(model: str) -> RowKind:
    """`linear`/`mlp` read feature rows; anything else is a local Hugging Face directory of a causal LM."""
    return "features" if model in CLASSIFIER_MODELS else "text"


def text_columns(frame: pd.DataFrame) -> tuple[str, ...]:
    """The payload columns of a text file: ('prompt', 'response') or ('text',), or () if neither."""
    if "response" in frame.columns:
        return ("prompt", "response") if "prompt" in frame.columns else ("response",)
    if "text" in frame.columns:
        return ("text",)
    return ()


def public_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in INTERNAL_COLUMNS]
