"""JSON rows: JSON lines and one JSON array streamed element by element, after a byte order mark;
an array cut off, odd JSON as one clear error, and lone surrogates kept escaped and marked."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.errors import InputError
from curation.io.json_rows import json_array_batches, jsonl_batches, mark_lone_surrogates, starts_an_array
from curation.rows import CUT_COLUMN, UNICODE_COLUMN

TURNS = [{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}]


def whole(read, path, batch_rows: int = 1000) -> pd.DataFrame:
    return pd.concat(list(read(str(path), batch_rows)), ignore_index=True)


def test_a_json_array_is_read_element_by_element_in_batches(tmp_path):
    path = tmp_path / "sharegpt.json"
    rows = [{"id": f"c{i}", "conversations": TURNS} for i in range(5)]
    path.write_text("  \n" + json.dumps(rows, indent=2))
    assert starts_an_array(str(path))
    assert [len(f) for f in json_array_batches(str(path), 2)] == [2, 2, 1]
    frame = whole(json_array_batches, path)
    assert frame["id"].tolist() == [f"c{i}" for i in range(5)] and frame["conversations"].iloc[0] == TURNS
    lines = tmp_path / "lines.json"  # a .json file of JSON lines is not an array
    lines.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert not starts_an_array(str(lines)) and whole(jsonl_batches, lines)["id"].tolist() == frame["id"].tolist()


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
        whole(json_array_batches, path)
    assert expected in str(err.value) and err.value.file == str(path) and err.value.row == row


def test_an_array_cut_off_inside_an_element_gives_its_whole_elements_and_marks_the_cut_one(tmp_path):
    """As ShareGPT V3 ships (cut mid-string): the whole elements are rows, the cut one is marked for
    validation to quarantine as `cut_off`."""
    path = tmp_path / "pool.json"
    path.write_text('[{"id": "a", "conversations": []}, {"id": "b", "conversations": [{"from": "human", "val')
    frame = whole(json_array_batches, path)
    assert len(frame) == 2 and frame["id"].iloc[0] == "a" and frame["id"].isna().iloc[1]
    assert frame[CUT_COLUMN].isna().tolist() == [True, False] and "element 1" in frame[CUT_COLUMN].iloc[1]


def test_an_array_cut_between_elements_is_its_whole_elements_only(tmp_path):
    """The helper's attack: `[{..}, {..}` (no closing bracket) or a trailing comma is not a cut element."""
    for text in ('[{"id": "a"}, {"id": "b"}', '[{"id": "a"}, {"id": "b"},', '[{"id": "a"}, {"id": "b"}, '):
        (tmp_path / "pool.json").write_text(text)
        frame = whole(json_array_batches, tmp_path / "pool.json")
        assert frame["id"].tolist() == ["a", "b"] and CUT_COLUMN not in frame.columns


def test_an_array_or_json_lines_after_a_byte_order_mark_are_read(tmp_path):
    """Finding 12: Windows tools write a UTF-8 BOM before the array."""
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([{"id": "a", "conversations": TURNS}]).encode())
    assert starts_an_array(str(path)) and whole(json_array_batches, path)["conversations"].iloc[0] == TURNS
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + b'{"id": "a"}\n{"id": "b"}\n')
    assert whole(jsonl_batches, tmp_path / "bom.jsonl")["id"].tolist() == ["a", "b"]


def test_a_lone_surrogate_in_a_json_array_is_marked_as_in_json_lines(tmp_path):
    """Finding 6: the array reader keeps a lone surrogate (to be quarantined as invalid_unicode), never `?`."""
    row = (
        '{"id": "a", "conversations": [{"from": "human", "value": "bad \\ud800 here"}, {"from": "gpt", "value": "x"}]}'
    )
    good = (
        '{"id": "b", "conversations": [{"from": "human", "value": "ok \\ud83d\\ude00"}, {"from": "gpt", "value": "y"}]}'
    )
    (tmp_path / "rows.json").write_text(f"[{row}, {good}]")
    (tmp_path / "rows.jsonl").write_text(f"{row}\n{good}\n")
    array, lines = whole(json_array_batches, tmp_path / "rows.json"), whole(jsonl_batches, tmp_path / "rows.jsonl")
    for frame in (array, lines):
        assert frame[UNICODE_COLUMN].iloc[0] == "conversations" and frame[UNICODE_COLUMN].isna().iloc[1]
        assert "?" not in frame["conversations"].iloc[0][0]["value"]
        assert frame["conversations"].iloc[1][0]["value"] == "ok \U0001f600"
    assert array["conversations"].iloc[0] == lines["conversations"].iloc[0]


def test_a_lone_surrogate_is_escaped_in_keys_and_values_and_its_field_named():
    clean = {"id": "a", "text": "ok \U0001f600"}
    assert mark_lone_surrogates(clean) is clean
    marked = mark_lone_surrogates({"id": "a", "meta": {"k\udc80": ["x", "y\ud800"]}, "text": "fine"})
    assert marked["meta"] == {"k\\udc80": ["x", "y\\ud800"]} and marked[UNICODE_COLUMN] == "meta"
    marked["meta"]["k\\udc80"][1].encode("utf-8")  # UTF-8 can hold it now


def test_json_lines_are_read_in_batches_skipping_blank_lines(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"id": "a"}\n\n   \n{"id": "b"}\n{"id": "c"}\n')
    assert [f["id"].tolist() for f in jsonl_batches(str(path), 2)] == [["a", "b"], ["c"]]


@pytest.mark.parametrize(
    "content,expected,row",
    [
        (b'{"response": "ok"}\n{"response": "\xff\xfe"}\n', "line 2 is not valid UTF-8", 1),
        (b'{"id": "a"}\n{"id": \n', "line 2 is not valid JSON", 1),
        (b'["a", "b"]\n', "line 1 is not a JSON object", 0),
    ],
)
def test_an_odd_json_line_is_one_clear_error_naming_it(tmp_path, content, expected, row):
    (tmp_path / "bad.jsonl").write_bytes(content)
    with pytest.raises(InputError, match=expected) as err:
        whole(jsonl_batches, tmp_path / "bad.jsonl")
    assert err.value.file == str(tmp_path / "bad.jsonl") and err.value.row == row
