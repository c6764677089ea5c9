"""The internal columns every row carries, kept out of what a user gets back."""

from __future__ import annotations

import pandas as pd

from curation.rows import (
    CARRIED_COLUMNS,
    FILE_COLUMN,
    HASH_COLUMN,
    INTERNAL_COLUMNS,
    ROW_COLUMN,
    SCORE_IDS_COLUMN,
    public_columns,
)


def test_public_columns_drop_every_internal_column_and_keep_the_order_of_the_rest():
    frame = pd.DataFrame(columns=["response", FILE_COLUMN, "id", HASH_COLUMN, SCORE_IDS_COLUMN, "prompt", ROW_COLUMN])
    assert public_columns(frame) == ["response", "id", "prompt"]


def test_internal_columns_are_underscored_distinct_and_include_those_carried_to_scoring():
    assert set(CARRIED_COLUMNS) <= set(INTERNAL_COLUMNS)
    assert len(set(INTERNAL_COLUMNS)) == len(INTERNAL_COLUMNS)
    assert all(name.startswith("_") for name in INTERNAL_COLUMNS)
