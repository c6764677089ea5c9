"""Storage through fsspec: atomic writes that leave nothing behind when they fail, strict JSON,
Parquet that holds any pass-through column, and the S3 settings taken from the environment."""

from __future__ import annotations

import errno
import json

import numpy as np
import pandas as pd
import pytest

from curation.errors import EnvironmentFault
from curation.storage import (
    arrow_table,
    exists,
    filesystem,
    finite_json,
    join,
    makedirs,
    naming_a_full_disk,
    plain,
    read_bytes,
    read_json,
    read_parquet,
    remove,
    size,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)


def test_an_atomic_write_creates_its_folders_and_replaces_a_file_whole(tmp_path):
    url = str(tmp_path / "a" / "b" / "out.bin")
    write_bytes_atomic(url, b"first")
    write_bytes_atomic(url, b"second, longer")
    assert read_bytes(url) == b"second, longer" and size(url) == len(b"second, longer")
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["out.bin"]


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_temporary_one(tmp_path):
    url = str(tmp_path / "report.json")
    write_bytes_atomic(url, b"the old report")
    with pytest.raises(TypeError):
        write_bytes_atomic(url, "not bytes: the write fails once the temporary file is open")  # type: ignore[arg-type]
    assert read_bytes(url) == b"the old report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no .report.json.tmp-* left


def test_a_full_disk_names_the_file_being_written_and_other_errors_pass_through():
    with pytest.raises(EnvironmentFault) as fault:
        with naming_a_full_disk("s3://bucket/run/scores.parquet"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert "s3://bucket/run/scores.parquet" in str(fault.value) and "No space left on device" in str(fault.value)
    assert isinstance(fault.value.__cause__, OSError) and fault.value.exit_code == 3
    with pytest.raises(PermissionError):
        with naming_a_full_disk("out/x"):
            raise PermissionError(errno.EACCES, "Permission denied")


def test_json_is_written_strictly_with_nan_and_infinities_as_null(tmp_path):
    value = {"lift": float("nan"), "scores": [1.5, float("inf"), np.float32(-np.inf)], "n": np.int64(3)}
    assert finite_json(value) == {"lift": None, "scores": [1.5, None, None], "n": 3}
    url = str(tmp_path / "report.json")
    write_json_atomic(url, value)

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    text = (tmp_path / "report.json").read_text()
    assert json.loads(text, parse_constant=refuse) == {"lift": None, "n": 3, "scores": [1.5, None, None]}
    assert text.endswith("\n") and read_json(url)["n"] == 3


def test_plain_values_are_what_json_holds():
    assert plain(np.array([[1, 2], [3, 4]])) == [[1, 2], [3, 4]]
    assert plain({"a": (np.float64(0.5), pd.NA, float("nan"))}) == {"a": [0.5, None, None]}
    assert plain(b"caf\xc3\xa9 \xff") == "café \\xff"  # undecodable bytes escaped, never an error


def test_parquet_keeps_a_column_arrow_cannot_type_as_json_text(tmp_path):
    frame = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "mixed": [1, "two", 3.5],  # no one Arrow type
            "empty": [{}, {}, {}],  # a struct with no fields: Parquet cannot hold it
            "turns": [[{"role": "user"}], [{"role": "assistant"}], 5],  # most rows nested, one a number
        }
    )
    table = arrow_table(frame)
    assert set(table.column_names) == {"id", "mixed", "empty", "turns", "turns_json"}
    url = str(tmp_path / "quarantine.parquet")
    write_parquet_atomic(url, frame)
    back = read_parquet(url)
    assert back["mixed"].tolist() == ["1", '"two"', "3.5"]
    assert back["empty"].tolist() == ["{}", "{}", "{}"]
    assert [list(v) if v is not None else None for v in back["turns"]][:2] == [
        [{"role": "user"}],
        [{"role": "assistant"}],
    ]
    assert back["turns"].iloc[2] is None and back["turns_json"].isna().tolist() == [True, True, False]
    assert back["turns_json"].iloc[2] == "5"


def test_paths_join_exist_and_are_removed(tmp_path):
    folder = join(str(tmp_path) + "/", "runs", "one")
    assert folder == f"{tmp_path}/runs/one"
    makedirs(folder)
    write_bytes_atomic(join(folder, "x.bin"), b"123")
    assert exists(join(folder, "x.bin")) and size(join(folder, "x.bin")) == 3
    remove(join(folder, "x.bin"))
    remove(join(folder, "x.bin"))  # already gone: no error
    assert not exists(join(folder, "x.bin"))
    remove(str(tmp_path / "runs"), recursive=True)
    assert not (tmp_path / "runs").exists()


def test_an_s3_path_takes_its_endpoint_from_the_environment_and_relaxed_checksums(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("CURATE_S3_BLOCK", raising=False)
    fs, path = filesystem("s3://bucket/runs/scores.parquet")
    assert path == "bucket/runs/scores.parquet" and fs.storage_options["endpoint_url"] == "http://127.0.0.1:9"
    assert fs.storage_options["config_kwargs"]["response_checksum_validation"] == "when_required"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:10")  # the S3-specific variable wins
    assert filesystem("s3://bucket/x")[0].storage_options["endpoint_url"] == "http://127.0.0.1:10"
    local, local_path = filesystem("/tmp/x.parquet")
    assert local_path == "/tmp/x.parquet" and "endpoint_url" not in local.storage_options
