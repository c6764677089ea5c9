"""Parquet and Arrow IPC files: a footer's column types checked before any row is read, and the
rows streamed in batches of the size asked for."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.errors import InputError
from curation.io.columnar import arrow_batches, check_footer, parquet_batches


def texts(frames) -> list[str]:
    return [t for frame in frames for t in frame["text"]]


def test_arrow_shards_are_read_as_streams_and_as_files_in_batches(tmp_path):
    table = pa.table({"id": ["a", "b", "c"], "text": ["one", "two", "three"]})
    with pa.ipc.new_stream(tmp_path / "stream.arrow", table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    with pa.ipc.new_file(tmp_path / "file.arrow", table.schema) as writer:
        writer.write_table(table)
    for name in ("stream.arrow", "file.arrow"):
        assert texts(arrow_batches(str(tmp_path / name), 10)) == ["one", "two", "three"]
    assert [len(f) for f in arrow_batches(str(tmp_path / "file.arrow"), 2)] == [2, 1]
    (tmp_path / "bad.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(InputError, match="not a readable Arrow stream or file") as err:
        list(arrow_batches(str(tmp_path / "bad.arrow"), 10))
    assert err.value.file == str(tmp_path / "bad.arrow")


def test_parquet_rows_come_in_batches_of_the_size_asked_for(tmp_path):
    pd.DataFrame({"text": [f"row {i}" for i in range(5)]}).to_parquet(tmp_path / "pool.parquet")
    frames = list(parquet_batches(str(tmp_path / "pool.parquet"), 2))
    assert [len(f) for f in frames] == [2, 2, 1] and texts(frames) == [f"row {i}" for i in range(5)]


def test_a_column_of_the_wrong_type_is_found_in_the_footer(tmp_path):
    pd.DataFrame({"features": [[1.0, 2.0, 3.0]], "label": ["cat"]}).to_parquet(tmp_path / "pool.parquet")
    with pytest.raises(
        InputError, match=r"pool.parquet, field 'label': column has type (large_)?string, expected integer"
    ):
        check_footer(str(tmp_path / "pool.parquet"))
    pd.DataFrame({"features": [[1.0, 2.0, 3.0]], "label": [1], "extra": ["any type"]}).to_parquet(tmp_path / "ok.pq")
    check_footer(str(tmp_path / "ok.pq"))  # undeclared columns pass through


def test_text_stored_as_bytes_is_refused_with_a_hint(tmp_path):
    table = pa.table({"prompt": pa.array([b"q"], pa.binary()), "response": pa.array([b"\xff\xfe bad"], pa.binary())})
    pq.write_table(table, tmp_path / "binary.parquet")
    with pytest.raises(InputError, match="field 'prompt'.*binary.*UTF-8") as err:
        check_footer(str(tmp_path / "binary.parquet"))
    assert err.value.hint == "text must be UTF-8 strings"


def test_a_truncated_parquet_file_is_refused_at_its_footer(tmp_path):
    pd.DataFrame({"text": ["one", "two"]}).to_parquet(tmp_path / "pool.parquet")
    whole = (tmp_path / "pool.parquet").read_bytes()
    (tmp_path / "pool.parquet").write_bytes(whole[:-20])
    with pytest.raises(InputError, match="not a readable Parquet file"):
        check_footer(str(tmp_path / "pool.parquet"))
