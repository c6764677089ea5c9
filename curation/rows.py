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
CUT_COLUMN = "_cut_off"  # set on the last element of a JSON array cut off mid-element (as ShareGPT V3 ships)
# A chat row's tokens under the score's span, made when validation checks its trained tokens and
# carried in the run's shards, so scoring tokenizes no row again; and whether the row was cut to fit.
SCORE_IDS_COLUMN, SCORE_LABELS_COLUMN, TRUNCATED_COLUMN = "_score_ids", "_score_labels", "_truncated"
CARRIED_COLUMNS = (SCORE_IDS_COLUMN, SCORE_LABELS_COLUMN, TRUNCATED_COLUMN)
INTERNAL_COLUMNS = (FILE_COLUMN, ROW_COLUMN, HASH_COLUMN, UNICODE_COLUMN, CUT_COLUMN, *CARRIED_COLUMNS)

CLASSIFIER_MODELS = ("linear", "mlp")


def public_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in INTERNAL_COLUMNS]
