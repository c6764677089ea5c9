"""A source's rows: each file read by its kind, in batches with provenance (file, row within the
file), a small set whole, every Parquet footer checked before any row is read."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from layouts import saved_to_disk

from curation.errors import InputError
from curation.io.batches import check_files, iter_batches, read_rows, reader
from curation.io.columnar import arrow_batches, parquet_batches
from curation.io.json_rows import json_array_batches, jsonl_batches
from curation.io.sources import open_source
from curation.rows import FILE_COLUMN, ROW_COLUMN

TURNS = [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]


def test_each_file_is_read_by_its_kind(tmp_path):
    (tmp_path / "array.json").write_text(' \n[{"id": "a"}]')
    (tmp_path / "lines.json").write_text('{"id": "a"}\n')
    assert reader(str(tmp_path / "array.json")) is json_array_batches
    assert reader(str(tmp_path / "lines.json")) is jsonl_batches
    assert reader("pool.JSONL") is jsonl_batches and reader("pool.ndjson") is jsonl_batches
    assert reader("data-00000-of-00001.arrow") is arrow_batches
    assert reader("part.parquet") is parquet_batches and reader("part.pq") is parquet_batches


def test_batches_carry_their_file_and_row_within_it(tmp_path):
    pd.DataFrame({"text": [f"p{i}" for i in range(5)]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps({"text": f"j{i}"}) + "\n" for i in range(3)))
    frames = list(iter_batches(open_source(str(tmp_path)), batch_rows=2))
    assert [len(f) for f in frames] == [2, 2, 1, 2, 1]
    rows = pd.concat(frames, ignore_index=True)
    assert rows[ROW_COLUMN].tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert rows[FILE_COLUMN].tolist() == [str(tmp_path / "a.parquet")] * 5 + [str(tmp_path / "b.jsonl")] * 3
    assert rows["text"].tolist() == ["p0", "p1", "p2", "p3", "p4", "j0", "j1", "j2"]


def test_a_json_array_is_read_whole_with_provenance(tmp_path):
    path = tmp_path / "sharegpt.json"
    rows = [{"id": f"c{i}", "conversations": TURNS} for i in range(5)]
    path.write_text("  \n" + json.dumps(rows, indent=2))
    frame = read_rows(str(path))
    assert frame["id"].tolist() == [f"c{i}" for i in range(5)] and frame["conversations"].iloc[0] == TURNS
    assert frame[ROW_COLUMN].tolist() == list(range(5)) and set(frame[FILE_COLUMN]) == {str(path)}
    lines = tmp_path / "lines.json"  # a .json file of JSON lines stays JSON lines
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_rows(str(lines))["id"].tolist() == frame["id"].tolist()


def test_a_glob_matching_directories_reads_them_as_directory_pools(tmp_path):
    saved_to_disk(tmp_path / "d")
    frame = read_rows(str(tmp_path / "d" / "d?"))
    assert frame["text"].tolist() == ["one", "two"] * 2 and frame[ROW_COLUMN].tolist() == [0, 1, 0, 1]


def test_a_set_without_rows_is_one_clear_error(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(InputError, match="holds no rows") as err:
        read_rows(str(tmp_path / "empty.jsonl"))
    assert err.value.file == str(tmp_path / "empty.jsonl")


def test_every_parquet_footer_is_checked_before_any_row_is_read(tmp_path):
    """A bad part among good ones (a wrong column type) stops the read before any batch."""
    pd.DataFrame({"features": [[1.0, 2.0]], "label": [1]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"features": [[1.0, 2.0]], "label": ["cat"]}).to_parquet(tmp_path / "b.parquet")
    (tmp_path / "c.jsonl").write_text('{"label": "not checked here"}\n')
    with pytest.raises(InputError, match="field 'label'") as err:
        check_files(open_source(str(tmp_path)))
    assert err.value.file == str(tmp_path / "b.parquet")
    with pytest.raises(InputError, match="field 'label'"):
        read_rows(str(tmp_path))
    check_files(open_source(str(tmp_path / "c.jsonl")))
