"""The ingest tasks: what they return, and that they retry a passing storage fault but never bad input."""

from __future__ import annotations

import pandas as pd
from prefect.states import Completed, Failed

from curation.errors import InputError
from curation.io.sources import Source
from curation.rows import FILE_COLUMN
from tasks.ingest import _not_input_error, ingest, read_target


def test_ingest_finds_the_files_and_their_identities(tmp_path):
    pd.DataFrame({"text": ["one", "two"]}).to_parquet(tmp_path / "pool.parquet")
    source = ingest.fn(str(tmp_path))
    assert isinstance(source, Source) and source.files == (str(tmp_path / "pool.parquet"),)
    assert source.identity[0][1] == (tmp_path / "pool.parquet").stat().st_size


def test_read_target_reads_a_set_whole_or_gives_none_for_no_set(tmp_path):
    (tmp_path / "validation.jsonl").write_text('{"text": "one"}\n{"text": "two"}\n')
    rows = read_target.fn(str(tmp_path / "validation.jsonl"))
    assert rows["text"].tolist() == ["one", "two"] and set(rows[FILE_COLUMN]) == {str(tmp_path / "validation.jsonl")}
    assert read_target.fn(None) is None


def test_both_tasks_retry_a_storage_fault_but_never_bad_input():
    for reading in (ingest, read_target):
        assert reading.retries == 2 and reading.tags == {"io"} and reading.retry_condition_fn is _not_input_error
    assert _not_input_error(None, None, Failed(data=ConnectionError("the store went away"))) is True
    assert _not_input_error(None, None, Failed(data=InputError("bad row", file="f"))) is False
    assert _not_input_error(None, None, Completed(data=1)) is False
