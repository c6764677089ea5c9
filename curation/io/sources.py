"""The files behind a path (Parquet, JSON lines, JSON arrays or Arrow; local or s3://) and what
identifies each one's content; storage failures as one-line errors."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import xxhash

from curation.errors import EnvironmentFault, InputError, environment_fault
from curation.storage import filesystem

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")  # a .json file may also hold one JSON array of rows
PARQUET_SUFFIXES = (".parquet", ".pq")
ARROW_SUFFIXES = (".arrow",)  # Arrow IPC streams: what `datasets`' save_to_disk writes
DATA_SUFFIXES = (*PARQUET_SUFFIXES, *JSONL_SUFFIXES, *ARROW_SUFFIXES)
# The metadata `datasets` writes beside the data (save_to_disk, Hub repositories): never rows.
METADATA_FILES = frozenset({"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"})


@dataclass(frozen=True)
class Source:
    """The files behind a path, and what identifies each one's content: (file, size, the ETag on S3
    or a digest of the bytes locally)."""

    url: str
    files: tuple[str, ...]
    identity: tuple[tuple[str, int, str], ...] = ()


@contextmanager
def storage_errors(url: str):
    """Storage failures as one-line errors: missing or denied (InputError), unreachable (EnvironmentFault)."""
    try:
        yield
    except InputError:
        raise
    except FileNotFoundError as err:
        raise InputError(f"not found: {err}", file=url, hint="check the bucket and key, or the local path") from None
    except PermissionError as err:
        raise InputError(
            f"access denied: {err}",
            file=url,
            hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket policy",
        ) from None
    except Exception as err:  # botocore's connection errors are not OSErrors
        name = type(err).__name__
        if "Credentials" in name:
            raise InputError(
                f"no usable storage credentials ({name}): {err}",
                file=url,
                hint="set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or CURATE_S3_BLOCK",
            ) from None
        if environment_fault(err) is not None or "Endpoint" in name or "Connect" in name or isinstance(err, OSError):
            # Exit 3 once the task's retries are spent: the input may be fine, the store is not reachable.
            raise EnvironmentFault(
                f"cannot reach the storage for {url} ({name}): {err}; check AWS_ENDPOINT_URL and the network"
            ) from None
        raise


def resolve_files(url: str) -> list[str]:
    """The data files behind a path: itself, the data files of a directory, or a glob's matches."""
    fs, path = filesystem(url)
    protocol = url.split("://", 1)[0] + "://" if "://" in url else ""
    with storage_errors(url):
        if any(ch in path for ch in "*?["):
            found = []  # a directory matched is a directory pool; hidden matches and other files are skipped
            try:
                matches = sorted(fs.glob(path))
            except ValueError as err:  # a pattern the glob refuses (e.g. `**.jsonl`)
                raise InputError(f"not a valid glob pattern: {err}", file=url) from None
            for match in matches:
                name = match.rstrip("/").rsplit("/", 1)[-1]
                if fs.isdir(match):
                    found += [] if name.startswith((".", "_")) else _data_files(fs, match)
                elif _is_data_file(name):
                    found.append(match)
        elif fs.isdir(path):
            found = _data_files(fs, path)
        elif fs.exists(path):
            found = [path]
        else:
            found = []
    found = sorted(set(found))  # a file matched directly and inside a matched directory: once
    for path in found:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:  # a name the file system holds as bytes: it cannot be a row's source_file
            raise InputError(
                f"a file name that is not valid UTF-8: {ascii(path)}", file=url, hint="rename it or move it elsewhere"
            ) from None
    if not found:
        raise InputError(
            "no such file, or no .parquet/.jsonl files under it",
            file=url,
            hint="check the path; directories and globs must hold .parquet or .jsonl files",
        )
    return [protocol + p if protocol and not p.startswith(protocol) else p for p in found]


def _data_files(fs, path: str) -> list[str]:
    return sorted(p for p in fs.find(path) if _is_data_file(p[len(path.rstrip("/")) :]))


def _is_data_file(relative: str) -> bool:
    """A file of rows inside a directory: a data suffix, not `datasets`' metadata, nothing hidden
    (`.git/`, `.cache/`, `_SUCCESS`-style markers)."""
    parts = [p for p in relative.split("/") if p]
    hidden = any(p.startswith((".", "_")) for p in parts)
    return bool(parts) and not hidden and parts[-1] not in METADATA_FILES and parts[-1].lower().endswith(DATA_SUFFIXES)


def _identity(file: str) -> tuple[str, int, str]:
    """(file, size, version): the store's ETag (S3: a digest of the content), else an xxh3-128 digest
    of the bytes. Never a modification time: `cp -p`, `rsync -t` and restored backups keep it across
    an edit of the same size, and the validated-pool cache would serve the old rows."""
    fs, path = filesystem(file)
    with storage_errors(file):
        info = fs.info(path)
        version = info.get("ETag")
        if not version:
            digest = xxhash.xxh3_128()
            with fs.open(path, "rb") as handle:
                for block in iter(lambda: handle.read(8 << 20), b""):
                    digest.update(block)
            version = "xxh3:" + digest.hexdigest()
    return file, int(info.get("size") or 0), str(version)


def object_version(info: dict[str, Any]) -> str:
    """A listed file's version as the watcher knows it (flows/watch.py): the store's ETag (S3, quotes
    stripped: as S3 notifications give it), else size and mtime (cheap: no bytes read)."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if isinstance(mtime, datetime):
        mtime = mtime.timestamp()
    return f"{int(info.get('size') or 0)}-{round(float(mtime) * 1e6)}"


def open_source(url: str) -> Source:
    """The files behind a path and their identities (a listing and a stat each; a local file's bytes
    are hashed, at GB/s)."""
    files = resolve_files(url)
    return Source(url=url, files=tuple(files), identity=tuple(_identity(f) for f in files))
