"""The internal columns every row carries, and the names of the classifier models.

The row forms themselves (their columns, checks, hashing and encoding) are `curation.formats`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

# Internal provenance columns: where a row came from, for error messages and quarantine.
FILE_COLUMN = "_source_file"
ROW_COLUMN = "_source_row"
HASH_COLUMN = "_content_hash"
UNICODE_COLUMN = "_invalid_unicode"  # the field of a JSONL row that held a lone surrogate ("\ud800")
INTERNAL_COLUMNS = (FILE_COLUMN, ROW_COLUMN, HASH_COLUMN, UNICODE_COLUMN)

CLASSIFIER_MODELS = ("linear", "mlp")


def public_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in INTERNAL_COLUMNS]
