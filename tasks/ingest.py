"""Ingest: find a pool's files (Parquet or JSONL, local or s3://) and stream them in batches.

`open_source` lists the files and what identifies their content (size and the ETag on S3, a fast
digest of the bytes locally), so a pool validated before is found in the cache (`curation.cache.pools`) without a
read. `check_files` reads every Parquet footer up front (column types), so that a truncated part
among good parts, or a column of the wrong type, stops the run before anything is scored.
`iter_batches` then streams record batches with provenance (file, row), so memory does not grow
with the pool; the validate step detects the row format and hashes each row's content.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.errors import EnvironmentFault, InputError, environment_fault
from curation.formats import FORMATS, Column
from curation.rows import CUT_COLUMN, FILE_COLUMN, ROW_COLUMN, UNICODE_COLUMN
from curation.storage import filesystem

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")  # a .json file may also hold one JSON array of rows
PARQUET_SUFFIXES = (".parquet", ".pq")
ARROW_SUFFIXES = (".arrow",)  # Arrow IPC streams: what `datasets`' save_to_disk writes
DATA_SUFFIXES = (*PARQUET_SUFFIXES, *JSONL_SUFFIXES, *ARROW_SUFFIXES)
# The metadata `datasets` writes beside the data (save_to_disk, Hub repositories): never rows.
METADATA_FILES = frozenset({"dataset_info.json", "dataset_infos.json", "state.json", "dataset_dict.json"})
BATCH_ROWS = 65_536


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


def _is_jsonl(url: str) -> bool:
    return url.lower().endswith(JSONL_SUFFIXES)


def _is_parquet(url: str) -> bool:
    return url.lower().endswith(PARQUET_SUFFIXES)


def _declared_columns() -> dict[str, Column]:
    """Every column a registered row format declares, by name (the first declaration of a name)."""
    declared: dict[str, Column] = {}
    for row_format in FORMATS.values():
        for column in row_format.columns:
            declared.setdefault(column.name, column)
    return declared


def _check_footer(url: str) -> None:
    """Read a Parquet footer and check the declared columns' types."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"not a readable Parquet file (truncated, or another format): {err}", file=url) from None
        schema = parquet.schema_arrow
        for column in _declared_columns().values():
            if column.name in schema.names and not column.accepts(schema.field(column.name).type):
                found = schema.field(column.name).type
                hint = "text must be UTF-8 strings" if pa.types.is_binary(found) else None
                raise InputError(
                    f"column has type {found}, expected {column.type} "
                    f"(expectation expect_column_values_to_be_of_type failed)",
                    file=url,
                    field=column.name,
                    hint=hint,
                )


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


def open_source(url: str) -> Source:
    """The files behind a path and their identities (a listing and a stat each; a local file's bytes
    are hashed, at GB/s)."""
    files = resolve_files(url)
    return Source(url=url, files=tuple(files), identity=tuple(_identity(f) for f in files))


def check_files(source: Source) -> None:
    """Check every Parquet file's footer (readable, column types) before any row is read."""
    for file in source.files:
        if _is_parquet(file):
            _check_footer(file)


def _parquet_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"Parquet file is corrupt or not valid UTF-8 text: {err}", file=url) from None


def _arrow_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """An Arrow IPC stream (or file), as `datasets`' save_to_disk writes its shards, batch by batch."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            reader = pa.ipc.open_stream(handle)
        except (pa.ArrowException, OSError, ValueError):
            handle.seek(0)
            try:  # the Arrow file format (random access) rather than a stream
                opened = pa.ipc.open_file(handle)
            except (pa.ArrowException, OSError, ValueError) as err:
                raise InputError(f"not a readable Arrow stream or file: {err}", file=url) from None
            reader = (opened.get_batch(i) for i in range(opened.num_record_batches))
        try:
            for batch in reader:
                table = pa.Table.from_batches([batch])
                for start in range(0, table.num_rows, batch_rows):
                    yield table.slice(start, batch_rows).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"Arrow file is corrupt or truncated: {err}", file=url) from None


def _json_array_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A .json file holding one array of row objects, streamed element by element (ijson), after a
    UTF-8 byte order mark if there is one. ijson's pure-Python backend: its C backend writes a lone
    surrogate (`"\\ud800"`) as `?` in silence, where this one keeps it, to be quarantined as
    `invalid_unicode` exactly as in JSON lines (about 20 MB/s here: 6 s for ShareGPT V3's 125 MB).

    An array cut off inside an element (ShareGPT V3 ships so: 125.5 MB, cut mid-string) gives its
    whole elements as rows and the element it ends inside as a row marked in CUT_COLUMN, which
    validation quarantines as `cut_off` (in a validation set: an error naming it). JSON that is
    invalid before the end is an error, as in JSON lines."""
    import ijson
    from ijson.common import ObjectBuilder

    parse = ijson.get_backend("python")
    fs, path = filesystem(url)
    records: list[dict] = []
    read, last, element = 0, None, None  # element: the object being built (None between elements)
    with storage_errors(url), fs.open(path, "rb") as handle:
        if handle.read(3) != b"\xef\xbb\xbf":
            handle.seek(0)
        try:
            for prefix, event, value in parse.parse(handle, use_float=True):
                if not prefix:  # the array itself
                    continue
                if element is None:
                    if prefix != "item" or event != "start_map":
                        raise InputError(f"element {read} of the JSON array is not an object", file=url, row=read)
                    element = ObjectBuilder()
                element.event(event, value)
                if prefix == "item" and event == "end_map":
                    records.append(_mark_lone_surrogates(element.value))
                    read, last, element = read + 1, element.value, None
                    if len(records) == batch_rows:
                        yield pd.DataFrame.from_records(records)
                        records = []
        except ijson.IncompleteJSONError as err:
            if last is None and element is not None:  # cut inside the first element: nothing whole to read
                raise InputError(
                    f"the JSON array is cut off or not valid JSON after {read} elements: {str(err).splitlines()[0]}",
                    file=url,
                    row=read,
                ) from None
            if element is not None:  # cut inside an element; cut between two: the whole ones are all there is
                records.append({**dict.fromkeys(last), CUT_COLUMN: f"the file ends inside element {read}"})
        except ijson.JSONError as err:
            raise InputError(
                f"the JSON array is not valid JSON after {read} elements: {str(err).splitlines()[0]}",
                file=url,
                row=read,
            ) from None
    if records:
        yield pd.DataFrame.from_records(records)


def _starts_an_array(url: str) -> bool:
    """Whether a .json file holds one JSON array (its first non-blank byte is '[') rather than JSON lines."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def _reader(url: str):
    """The batch reader of a data file, by its suffix (and, for .json, its first byte)."""
    if url.lower().endswith(ARROW_SUFFIXES):
        return _arrow_batches
    if _is_jsonl(url):
        return _json_array_batches if url.lower().endswith(".json") and _starts_an_array(url) else _jsonl_batches
    return _parquet_batches


def _jsonl_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    fs, path = filesystem(url)
    records: list[dict] = []
    with storage_errors(url), fs.open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8").strip()  # a BOM before line 1
            except UnicodeDecodeError:
                raise InputError(f"line {line_no} is not valid UTF-8 text", file=url, row=line_no - 1) from None
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {line_no} is not valid JSON: {err.msg}", file=url, row=line_no - 1) from None
            if not isinstance(record, dict):
                raise InputError(f"line {line_no} is not a JSON object", file=url, row=line_no - 1)
            if "\\ud" in line or "\\uD" in line:  # a JSON escape of a UTF-16 surrogate: maybe a lone one
                record = _mark_lone_surrogates(record)
            records.append(record)
            if len(records) == batch_rows:
                yield pd.DataFrame.from_records(records)
                records = []
    if records:
        yield pd.DataFrame.from_records(records)


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _escaped(value):
    """The value with lone surrogates written as `\\udXXX` text, which UTF-8 can hold."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _mark_lone_surrogates(record: dict) -> dict:
    """A record whose text holds a lone surrogate (valid JSON, invalid Unicode: no UTF-8 encoding
    exists) is kept with the text escaped and the field named in UNICODE_COLUMN, so validation
    quarantines it (or, in a validation set, names it) instead of a later write crashing."""
    bad = next((field for field, value in record.items() if _has_surrogate(field) or _has_surrogate(value)), None)
    if bad is None:
        return record
    marked = _escaped(record)
    marked[UNICODE_COLUMN] = _escaped(bad)
    return marked


def iter_batches(source: Source, batch_rows: int = BATCH_ROWS) -> Iterator[pd.DataFrame]:
    """Batches of rows with their file and row number within the file."""
    for url in source.files:
        reader = _reader(url)
        offset = 0
        for frame in reader(url, batch_rows):
            frame = frame.reset_index(drop=True)
            frame[FILE_COLUMN] = url
            frame[ROW_COLUMN] = range(offset, offset + len(frame))
            offset += len(frame)
            yield frame


def read_rows(url: str) -> pd.DataFrame:
    """All rows behind a path in memory (for validation and test sets, which are small)."""
    source = open_source(url)
    check_files(source)
    frames = list(iter_batches(source))
    if not frames or sum(len(f) for f in frames) == 0:
        raise InputError("holds no rows", file=url)
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _not_input_error(task, task_run, state) -> bool:
    """Retry transient storage errors, never bad input."""
    try:
        state.result()
    except InputError:
        return False
    except Exception:
        return True
    return False


# Reading may meet a passing storage fault (S3): retried twice, unless the input itself is bad.
IO_TASK = dict(
    retries=2,
    retry_delay_seconds=2,
    retry_condition_fn=_not_input_error,
    tags=["io"],
    persist_result=False,
    cache_policy=NO_CACHE,
)


@task(name="ingest", **IO_TASK)
def ingest(url: str) -> Source:
    """Find and check the files behind a path (Parquet or JSONL; local or s3://)."""
    return open_source(url)


@task(name="read-target-rows", **IO_TASK)
def read_target(url: str | None) -> pd.DataFrame | None:
    """Read a (small) validation or test set into memory (None: no such set)."""
    return read_rows(url) if url is not None else None
