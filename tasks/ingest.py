"""Ingest: read a Parquet file, directory or glob, or JSONL, local or s3://, into rows with provenance."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.errors import InputError
from curation.hashing import row_hashes
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN
from curation.storage import filesystem

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
DATA_SUFFIXES = (".parquet", ".pq", *JSONL_SUFFIXES)


def resolve_files(url: str) -> list[str]:
    """The data files behind a path: itself, the data files of a directory, or a glob's matches."""
    fs, path = filesystem(url)
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    try:
        if any(ch in path for ch in "*?["):
            found = sorted(fs.glob(path))
        elif fs.isdir(path):
            found = sorted(p for p in fs.find(path) if p.lower().endswith(DATA_SUFFIXES))
        elif fs.exists(path):
            found = [path]
        else:
            found = []
    except (PermissionError, OSError) as err:
        raise InputError(f"cannot list it: {err}", file=url) from None
    if not found:
        raise InputError("no such file, or no .parquet/.jsonl files under it", file=url,
                         hint="check the path; directories and globs must hold .parquet or .jsonl files")
    return [protocol + p if protocol and not p.startswith(protocol) else p for p in found]


def _read_parquet(url: str) -> pd.DataFrame:
    fs, path = filesystem(url)
    try:
        with fs.open(path, "rb") as handle:
            table = pq.read_table(handle)
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as err:
        raise InputError(f"not a readable Parquet file (truncated, or another format): {err}",
                         file=url) from None
    return table.to_pandas()


def _read_jsonl(url: str) -> pd.DataFrame:
    fs, path = filesystem(url)
    records = []
    with fs.open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise InputError(f"line {line_no} is not valid UTF-8", file=url, row=line_no - 1) from None
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {line_no} is not valid JSON: {err.msg}", file=url,
                                 row=line_no - 1) from None
            if not isinstance(record, dict):
                raise InputError(f"line {line_no} is not a JSON object", file=url, row=line_no - 1)
            records.append(record)
    return pd.DataFrame.from_records(records)


def read_file(url: str) -> pd.DataFrame:
    """One data file as a DataFrame, with its file name, row number and content hash per row."""
    frame = _read_jsonl(url) if url.lower().endswith(JSONL_SUFFIXES) else _read_parquet(url)
    frame = frame.reset_index(drop=True)
    frame[FILE_COLUMN] = url
    frame[ROW_COLUMN] = range(len(frame))
    frame[HASH_COLUMN] = row_hashes(frame) if len(frame) else pd.Series(dtype="string")
    return frame


def read_rows(url: str) -> pd.DataFrame:
    """All rows behind a path; fails with InputError (file, row, field) on unreadable input."""
    frames = [read_file(f) for f in resolve_files(url)]
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if frame.empty:
        raise InputError("holds no rows", file=url)
    return frame


def _not_input_error(task, task_run, state) -> bool:
    """Retry transient storage errors, never bad input."""
    try:
        state.result()
    except InputError:
        return False
    except Exception:
        return True
    return False


@task(name="ingest", retries=2, retry_delay_seconds=2, retry_condition_fn=_not_input_error,
      tags=["io"], persist_result=False, cache_policy=NO_CACHE)
def ingest(url: str) -> pd.DataFrame:
    """Read the rows behind a path (file, directory, glob; Parquet or JSONL; local or s3://)."""
    return read_rows(url)
