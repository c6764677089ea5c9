"""A pool file that is still being written says so from its ends: real Parquet cut at every kind of
place, JSON lines cut inside a row, and whole files of both that must never wait."""

from __future__ import annotations

import fsspec
import pandas as pd
import pytest

from curation.io.completeness import incomplete_reason

FS = fsspec.filesystem("file")


def reason(path) -> str | None:
    return incomplete_reason(FS, str(path), path.stat().st_size)


@pytest.fixture
def parquet_bytes(tmp_path) -> bytes:
    whole = tmp_path / "whole.parquet"
    pd.DataFrame({"text": [f"row {i} é ☃" for i in range(500)], "label": range(500)}).to_parquet(whole)
    return whole.read_bytes()


def test_a_whole_parquet_file_looks_whole(tmp_path, parquet_bytes):
    (tmp_path / "p.parquet").write_bytes(parquet_bytes)
    assert reason(tmp_path / "p.parquet") is None


@pytest.mark.parametrize("cut", [0, 3, 4, 11, 100, -9, -5, -4, -1])
def test_a_parquet_file_cut_anywhere_looks_half_written(tmp_path, parquet_bytes, cut):
    part = parquet_bytes[:cut] if cut >= 0 else parquet_bytes[:cut]
    (tmp_path / "p.parquet").write_bytes(part)
    assert reason(tmp_path / "p.parquet") is not None


def test_a_parquet_file_whose_footer_claims_more_than_the_file_holds(tmp_path, parquet_bytes):
    forged = b"PAR1" + b"\0" * 8 + (10**6).to_bytes(4, "little") + b"PAR1"
    (tmp_path / "p.PARQUET").write_bytes(forged)
    assert "its footer claims 1000000 bytes" in reason(tmp_path / "p.PARQUET")


@pytest.mark.parametrize(
    "text, waits",
    [
        ('{"a": 1}\n{"a": 2}\n', False),
        ('{"a": 1}\n{"a": 2}', False),  # no newline at the end, but a whole row
        ('{"a": 1}\n  ', False),  # trailing blanks: the readers skip blank lines
        ('{"a": 1}\r\n{"a": 2}\r\n', False),
        ("", True),  # a writer has just opened it
        ('{"a": 1}\n{"a": ', True),
        ('{"a": "☃ cut insi', True),
    ],
)
def test_json_lines_wait_only_when_cut_inside_a_row(tmp_path, text, waits):
    (tmp_path / "p.jsonl").write_text(text, encoding="utf-8")
    assert (reason(tmp_path / "p.jsonl") is not None) == waits


def test_json_lines_cut_inside_a_multibyte_character_wait(tmp_path):
    (tmp_path / "p.jsonl").write_bytes('{"a": "☃"}'.encode()[:-3])
    assert reason(tmp_path / "p.jsonl") is not None


def test_a_last_row_longer_than_the_tail_read_is_still_judged(tmp_path):
    long_row = '{"text": "' + "é" * 1_500_000 + '"}'  # about 3 MB: longer than one MiB read backwards
    (tmp_path / "p.jsonl").write_text('{"a": 1}\n' + long_row[:-5], encoding="utf-8")
    assert reason(tmp_path / "p.jsonl") is not None
    (tmp_path / "p.jsonl").write_text('{"a": 1}\n' + long_row, encoding="utf-8")
    assert reason(tmp_path / "p.jsonl") is None


def test_a_cut_parquet_file_whose_last_bytes_look_like_a_footer_waits(tmp_path, parquet_bytes):
    cut = parquet_bytes[: len(parquet_bytes) // 2]
    (tmp_path / "p.parquet").write_bytes(cut + (40).to_bytes(4, "little") + b"PAR1")
    assert "no Parquet footer" in reason(tmp_path / "p.parquet")
