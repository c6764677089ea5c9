"""Ingest: which files a directory holds rows in, and each kind of file read as rows (JSON lines,
one JSON array streamed element by element, Arrow IPC shards as `datasets` writes them)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from curation.errors import InputError
from curation.rows import FILE_COLUMN, ROW_COLUMN
from tasks.ingest import open_source, read_rows, resolve_files

TURNS = [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]


def test_a_directory_holds_data_files_but_never_metadata_or_hidden_files(tmp_path):
    for name in ("data/train-0.parquet", "data/train-1.jsonl", "saved/data-00000-of-00001.arrow", "rows.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name in ("dataset_info.json", "saved/state.json", "dataset_dict.json", ".cache/x.parquet", "_tmp/y.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = [f[len(str(tmp_path)) + 1 :] for f in resolve_files(str(tmp_path))]
    assert found == ["data/train-0.parquet", "data/train-1.jsonl", "rows.json", "saved/data-00000-of-00001.arrow"]


def test_a_json_array_is_read_element_by_element_with_provenance(tmp_path):
    path = tmp_path / "sharegpt.json"
    rows = [{"id": f"c{i}", "conversations": TURNS} for i in range(5)]
    path.write_text("  \n" + json.dumps(rows, indent=2))
    frame = read_rows(str(path))
    assert frame["id"].tolist() == [f"c{i}" for i in range(5)] and frame["conversations"].iloc[0] == TURNS
    assert frame[ROW_COLUMN].tolist() == list(range(5)) and set(frame[FILE_COLUMN]) == {str(path)}
    lines = tmp_path / "lines.json"  # a .json file of JSON lines stays JSON lines
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_rows(str(lines))["id"].tolist() == frame["id"].tolist()


@pytest.mark.parametrize(
    "text,expected,row",
    [
        ('[{"id": "a", "conversations": [{"from": "human", "val', "cut off or not valid JSON after 0", 0),
        ('[{"id": "a"}, {"id" "b"}]', "not valid JSON after 1", 1),
        ('[{"id": "a"}, 3]', "element 1 of the JSON array is not an object", 1),
    ],
)
def test_an_odd_json_array_is_one_clear_error(tmp_path, text, expected, row):
    path = tmp_path / "pool.json"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_rows(str(path))
    assert expected in str(err.value) and err.value.file == str(path) and err.value.row == row


def test_an_array_cut_off_inside_an_element_gives_its_whole_elements_and_marks_the_cut_one(tmp_path):
    """As ShareGPT V3 ships (cut mid-string): the whole elements are rows, the cut one is marked for
    validation to quarantine as `cut_off`."""
    from curation.rows import CUT_COLUMN

    path = tmp_path / "pool.json"
    path.write_text('[{"id": "a", "conversations": []}, {"id": "b", "conversations": [{"from": "human", "val')
    frame = read_rows(str(path))
    assert frame["id"].iloc[0] == "a" and frame["id"].isna().iloc[1] and frame[ROW_COLUMN].tolist() == [0, 1]
    assert frame[CUT_COLUMN].isna().tolist() == [True, False] and "element 1" in frame[CUT_COLUMN].iloc[1]


def test_arrow_shards_are_read_as_streams_and_as_files(tmp_path):
    table = pa.table({"id": ["a", "b", "c"], "text": ["one", "two", "three"]})
    with pa.ipc.new_stream(tmp_path / "stream.arrow", table.schema) as writer:
        writer.write_table(table, max_chunksize=2)
    with pa.ipc.new_file(tmp_path / "file.arrow", table.schema) as writer:
        writer.write_table(table)
    for name in ("stream.arrow", "file.arrow"):
        assert read_rows(str(tmp_path / name))["text"].tolist() == ["one", "two", "three"]
    (tmp_path / "bad.arrow").write_bytes(b"not arrow at all")
    with pytest.raises(InputError, match="Arrow"):
        read_rows(str(tmp_path / "bad.arrow"))
    assert len(open_source(str(tmp_path)).files) == 3


def test_a_json_array_after_a_byte_order_mark_is_read(tmp_path):
    """Finding 12: Windows tools write a UTF-8 BOM before the array."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "a", "conversations": TURNS}]).encode())
    assert read_rows(str(path))["conversations"].iloc[0] == TURNS


def test_a_lone_surrogate_in_a_json_array_is_marked_as_in_json_lines(tmp_path):
    """Finding 6: the array reader keeps a lone surrogate (to be quarantined as invalid_unicode), never `?`."""
    from curation.rows import UNICODE_COLUMN

    row = (
        '{"id": "a", "conversations": [{"from": "human", "value": "bad \\ud800 here"}, {"from": "gpt", "value": "x"}]}'
    )
    good = (
        '{"id": "b", "conversations": [{"from": "human", "value": "ok \\ud83d\\ude00"}, {"from": "gpt", "value": "y"}]}'
    )
    (tmp_path / "rows.json").write_text(f"[{row}, {good}]")
    (tmp_path / "rows.jsonl").write_text(f"{row}\n{good}\n")
    array, lines = read_rows(str(tmp_path / "rows.json")), read_rows(str(tmp_path / "rows.jsonl"))
    for frame in (array, lines):
        assert frame[UNICODE_COLUMN].iloc[0] == "conversations" and frame[UNICODE_COLUMN].isna().iloc[1]
        assert "?" not in frame["conversations"].iloc[0][0]["value"]
        assert frame["conversations"].iloc[1][0]["value"] == "ok \U0001f600"
    assert array["conversations"].iloc[0] == lines["conversations"].iloc[0]


def test_a_glob_matching_directories_reads_them_as_directory_pools(tmp_path):
    """Finding 11: `--pool 'd/d?'` of save_to_disk directories, or `hub/*` beside a hidden `.cache/`."""
    table = pa.table({"id": ["a", "b"], "text": ["one", "two"]})
    for name in ("d1", "d2"):
        (tmp_path / "d" / name).mkdir(parents=True)
        with pa.ipc.new_stream(tmp_path / "d" / name / "data-00000-of-00001.arrow", table.schema) as writer:
            writer.write_table(table)
        (tmp_path / "d" / name / "state.json").write_text("{}")
    (tmp_path / "hub" / "data").mkdir(parents=True)
    (tmp_path / "hub" / ".cache").mkdir()
    (tmp_path / "hub" / ".cache" / "x.jsonl").write_text('{"text": "hidden"}\n')
    (tmp_path / "hub" / "data" / "train.jsonl").write_text('{"text": "one"}\n')
    (tmp_path / "hub" / "README.md").write_text("# a dataset card")
    assert len(read_rows(str(tmp_path / "d" / "d?"))) == 4
    assert read_rows(str(tmp_path / "hub" / "*"))["text"].tolist() == ["one"]


def test_an_array_cut_between_elements_is_its_whole_elements_only(tmp_path):
    """The helper's attack: `[{..}, {..}` (no closing bracket) or a trailing comma is not a cut element."""
    from curation.rows import CUT_COLUMN

    for text in ('[{"id": "a"}, {"id": "b"}', '[{"id": "a"}, {"id": "b"},', '[{"id": "a"}, {"id": "b"}, '):
        (tmp_path / "pool.json").write_text(text)
        frame = read_rows(str(tmp_path / "pool.json"))
        assert frame["id"].tolist() == ["a", "b"] and CUT_COLUMN not in frame.columns


def test_json_lines_after_a_byte_order_mark_are_read(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + b'{"id": "a"}\n{"id": "b"}\n')
    assert read_rows(str(tmp_path / "bom.jsonl"))["id"].tolist() == ["a", "b"]


def test_a_glob_reads_each_file_once_and_a_bad_pattern_is_one_clear_error(tmp_path):
    (tmp_path / "g" / "sub").mkdir(parents=True)
    (tmp_path / "g" / "sub" / "one.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    assert read_rows(str(tmp_path / "g" / "**"))["text"].tolist() == ["a", "b"]
    with pytest.raises(InputError, match="not a valid glob pattern"):
        resolve_files(str(tmp_path / "g" / "**.jsonl"))
