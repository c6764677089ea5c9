"""Sources: which files a path holds rows in (a file, a directory, a glob), what identifies each
one's content, and storage failures as one-line errors."""

from __future__ import annotations

import os

import pytest
from layouts import saved_to_disk

from curation.errors import EnvironmentFault, InputError
from curation.io.sources import open_source, resolve_files, storage_errors


def relative(root, files: list[str]) -> list[str]:
    return [f[len(str(root)) + 1 :] for f in files]


def test_a_directory_holds_data_files_but_never_metadata_or_hidden_files(tmp_path):
    for name in ("data/train-0.parquet", "data/train-1.jsonl", "saved/data-00000-of-00001.arrow", "rows.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for name in ("dataset_info.json", "saved/state.json", "dataset_dict.json", ".cache/x.parquet", "_tmp/y.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    found = relative(tmp_path, resolve_files(str(tmp_path)))
    assert found == ["data/train-0.parquet", "data/train-1.jsonl", "rows.json", "saved/data-00000-of-00001.arrow"]


def test_a_glob_matching_directories_gives_their_data_files(tmp_path):
    """Finding 11: `--pool 'd/d?'` of save_to_disk directories, or `hub/*` beside a hidden `.cache/`."""
    saved_to_disk(tmp_path / "d")
    (tmp_path / "hub" / "data").mkdir(parents=True)
    (tmp_path / "hub" / ".cache").mkdir()
    (tmp_path / "hub" / ".cache" / "x.jsonl").write_text('{"text": "hidden"}\n')
    (tmp_path / "hub" / "data" / "train.jsonl").write_text('{"text": "one"}\n')
    (tmp_path / "hub" / "README.md").write_text("# a dataset card")
    assert relative(tmp_path, resolve_files(str(tmp_path / "d" / "d?"))) == [
        "d/d1/data-00000-of-00001.arrow",
        "d/d2/data-00000-of-00001.arrow",
    ]
    assert relative(tmp_path, resolve_files(str(tmp_path / "hub" / "*"))) == ["hub/data/train.jsonl"]


def test_a_glob_gives_each_file_once_and_a_bad_pattern_is_one_clear_error(tmp_path):
    (tmp_path / "g" / "sub").mkdir(parents=True)
    (tmp_path / "g" / "sub" / "one.jsonl").write_text('{"text": "a"}\n{"text": "b"}\n')
    assert relative(tmp_path, resolve_files(str(tmp_path / "g" / "**"))) == ["g/sub/one.jsonl"]
    with pytest.raises(InputError, match="not a valid glob pattern"):
        resolve_files(str(tmp_path / "g" / "**.jsonl"))


def test_a_missing_path_or_a_directory_without_data_files_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no rows here")
    for path in (tmp_path / "missing.parquet", tmp_path / "empty"):
        with pytest.raises(InputError, match="no such file, or no .parquet/.jsonl files under it") as err:
            resolve_files(str(path))
        assert err.value.file == str(path)


def test_a_files_identity_is_its_size_and_a_digest_of_its_bytes_never_its_mtime(tmp_path):
    pool = tmp_path / "pool.jsonl"
    pool.write_text('{"text": "one"}\n')
    source = open_source(str(pool))
    assert source.url == str(pool) and source.files == (str(pool),)
    ((file, size, version),) = source.identity
    assert file == str(pool) and size == pool.stat().st_size and version.startswith("xxh3:")
    stat = os.stat(pool)
    pool.write_text('{"text": "two"}\n')  # the same size, the old mtime
    os.utime(pool, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    edited = open_source(str(pool)).identity
    assert edited[0][1] == size and edited[0][2] != version
    os.utime(pool, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched, not changed
    assert open_source(str(pool)).identity == edited


def test_storage_failures_become_one_line_errors():
    with pytest.raises(InputError, match="not found") as err:
        with storage_errors("s3://bucket/pool.parquet"):
            raise FileNotFoundError("bucket/pool.parquet")
    assert err.value.file == "s3://bucket/pool.parquet" and "check the bucket and key" in err.value.hint
    with pytest.raises(InputError, match="access denied"):
        with storage_errors("s3://bucket/pool.parquet"):
            raise PermissionError("denied")
    with pytest.raises(EnvironmentFault, match="cannot reach the storage for s3://bucket/pool.parquet"):
        with storage_errors("s3://bucket/pool.parquet"):
            raise ConnectionRefusedError("refused")
    mine = InputError("bad row", file="f")
    with pytest.raises(InputError) as err:
        with storage_errors("s3://bucket/pool.parquet"):
            raise mine
    assert err.value is mine
    with pytest.raises(KeyError):  # not a storage failure: passed on as it is
        with storage_errors("s3://bucket/pool.parquet"):
            raise KeyError("x")


def test_missing_credentials_are_bad_input_not_an_unreachable_store():
    class NoCredentialsError(Exception):
        """As botocore names it: not an OSError."""

    with pytest.raises(InputError, match=r"no usable storage credentials \(NoCredentialsError\)") as err:
        with storage_errors("s3://bucket/pool.parquet"):
            raise NoCredentialsError("Unable to locate credentials")
    assert "CURATE_S3_BLOCK" in err.value.hint


def test_a_file_name_that_is_not_utf8_is_one_error_naming_it(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"text": "one"}\n')
    with open(os.path.join(os.fsencode(tmp_path), b"b-\xff\xfe.jsonl"), "w") as handle:
        handle.write('{"text": "two"}\n')
    with pytest.raises(InputError, match="a file name that is not valid UTF-8: .*b-") as caught:
        resolve_files(str(tmp_path))
    assert caught.value.file == str(tmp_path) and "\\udcff" in str(caught.value)
