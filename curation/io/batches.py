"""A source's rows: each file read by its suffix (and, for .json, its first byte), in batches with
provenance (file, row within the file); a small set whole; every Parquet footer checked first."""

from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd

from curation.errors import InputError
from curation.io.columnar import arrow_batches, check_footer, parquet_batches
from curation.io.json_rows import json_array_batches, jsonl_batches, starts_an_array
from curation.io.sources import ARROW_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES, Source, open_source
from curation.rows import FILE_COLUMN, ROW_COLUMN

BATCH_ROWS = 65_536


def _is_jsonl(url: str) -> bool:
    return url.lower().endswith(JSONL_SUFFIXES)


def _is_parquet(url: str) -> bool:
    return url.lower().endswith(PARQUET_SUFFIXES)


def check_files(source: Source) -> None:
    """Check every Parquet file's footer (readable, column types) before any row is read."""
    for file in source.files:
        if _is_parquet(file):
            check_footer(file)


def reader(url: str) -> Callable[[str, int], Iterator[pd.DataFrame]]:
    """The batch reader of a data file, by its suffix (and, for .json, its first byte)."""
    if url.lower().endswith(ARROW_SUFFIXES):
        return arrow_batches
    if _is_jsonl(url):
        return json_array_batches if url.lower().endswith(".json") and starts_an_array(url) else jsonl_batches
    return parquet_batches


def iter_batches(source: Source, batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """Batches of rows with their file and row number within the file."""
    for url in source.files:
        read = reader(url)
        offset = 0
        for frame in read(url, batch_rows):
            frame = frame.reset_index(drop=True)
            frame[FILE_COLUMN] = url
            frame[ROW_COLUMN] = range(offset, offset + len(frame))
            offset += len(frame)
            yield frame


def read_rows(url: str) -> pd.DataFrame:
    """All rows behind a path in memory (for validation and test sets, which are small)."""
    source = open_source(url)
    check_files(source)
    frames = list(iter_batches(source))
    if not frames or sum(len(f) for f in frames) == 0:
        raise InputError("holds no rows", file=url)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
