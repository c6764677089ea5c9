"""Paths through fsspec so that local paths and s3:// behave the same; atomic writes.

Every output is written under a temporary name and moved into place, so a crash never leaves a
file that looks whole. S3 credentials and endpoint come from the standard AWS_* environment
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL), or from a Prefect Secret
block named by CURATE_S3_BLOCK whose value is a JSON object with `key`, `secret` and optionally
`endpoint_url`. Neither is ever logged or written to a report.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
import os
import uuid
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def _storage_options(url: str) -> dict[str, Any]:
    if not url.startswith("s3://"):
        return {}
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["endpoint_url"] = endpoint
    block = os.environ.get("CURATE_S3_BLOCK")
    if block:
        options.update(_block_credentials(block))
    # S3-compatible servers (rclone, MinIO) reject botocore's newer default checksums on ranged reads.
    options["config_kwargs"] = {
        "response_checksum_validation": "when_required",
        "request_checksum_calculation": "when_required",
    }
    return options


@functools.lru_cache(maxsize=8)
def _block_credentials(name: str) -> dict[str, str]:
    """key, secret and endpoint_url from a Prefect Secret block holding a JSON object."""
    from prefect.blocks.system import Secret

    from curation.errors import InputError

    try:
        value = Secret.load(name).get()
    except ValueError as err:
        raise InputError(f"cannot load the Prefect Secret block {name!r}: {err}", field="CURATE_S3_BLOCK") from None
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict) or not {"key", "secret"} <= set(value):
        raise InputError(
            f"the Secret block {name!r} must hold a JSON object with 'key' and 'secret'", field="CURATE_S3_BLOCK"
        )
    return {k: str(value[k]) for k in ("key", "secret", "endpoint_url") if value.get(k)}


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec filesystem for a URL and the path within it."""
    fs, path = fsspec.core.url_to_fs(url, **_storage_options(url))
    return fs, path


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *parts])


def exists(url: str) -> bool:
    fs, path = filesystem(url)
    return fs.exists(path)


def size(url: str) -> int:
    """Bytes a stored file takes."""
    fs, path = filesystem(url)
    return int(fs.size(path))


def makedirs(url: str) -> None:
    fs, path = filesystem(url)
    fs.makedirs(path, exist_ok=True)


def remove(url: str, recursive: bool = False) -> None:
    fs, path = filesystem(url)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


@contextlib.contextmanager
def naming_a_full_disk(url: str):
    """A full disk while writing `url` ends as an EnvironmentFault (exit 3) that names it."""
    try:
        yield
    except OSError as err:
        from curation.errors import DISK_FULL, EnvironmentFault

        if err.errno not in DISK_FULL:
            raise

        raise EnvironmentFault(
            f"no space left on the device writing {url} ({err.strerror}); free some space "
            "or point --out/--cache elsewhere, then run again: finished shards are kept"
        ) from err


def write_bytes_atomic(url: str, data: bytes) -> None:
    """Write to a temporary sibling and move it into place."""
    fs, path = filesystem(url)
    parent, name = path.rsplit("/", 1) if "/" in path else ("", path)
    if parent:
        fs.makedirs(parent, exist_ok=True)
    # A leading dot: readers of a directory (pyarrow datasets, globs) skip a file a crash left behind.
    tmp = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:12]}" if parent else f".{name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        with naming_a_full_disk(url), fs.open(tmp, "wb") as handle:
            handle.write(data)
        fs.mv(tmp, path)
    except BaseException:  # a full disk or an interrupt: no temporary file left behind
        try:
            if fs.exists(tmp):
                fs.rm(tmp)
        except Exception:
            pass
        raise


def read_bytes(url: str) -> bytes:
    fs, path = filesystem(url)
    with fs.open(path, "rb") as handle:
        return handle.read()


def finite_json(obj: Any) -> Any:
    """obj with NaN and ±inf as None (JSON has no such numbers; strict parsers reject them)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:  # a NumPy scalar
        return finite_json(obj.item())
    return obj


def write_json_atomic(url: str, obj: Any) -> None:
    """Strictly valid JSON (NaN and ±inf written as null), written atomically."""
    text = json.dumps(finite_json(obj), indent=2, sort_keys=True, default=str, allow_nan=False)
    write_bytes_atomic(url, (text + "\n").encode())


def read_json(url: str) -> Any:
    return json.loads(read_bytes(url))


def _parquet_can_hold(kind: pa.DataType) -> bool:
    """Arrow types Parquet cannot store: a struct with no fields (a JSONL `{}`), at any depth."""
    if pa.types.is_struct(kind):
        return kind.num_fields > 0 and all(_parquet_can_hold(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _parquet_can_hold(kind.value_type)
    if pa.types.is_map(kind):
        return _parquet_can_hold(kind.key_type) and _parquet_can_hold(kind.item_type)
    return True


def plain(value: Any) -> Any:
    """A value as JSON has it: NumPy arrays and scalars as lists and numbers, NaN and NA as None."""
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bytes, bytearray)):  # binary text from Parquet: as text, undecodable bytes escaped
        return bytes(value).decode("utf-8", "backslashreplace")
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def _as_json_text(frame: pd.DataFrame, column: str) -> None:
    """A column Arrow cannot type as a whole: the values it can type together (lists, such as a
    conversation's turns) stay nested, nulls stay null, and the rest go to `<column>_json` as JSON
    text, so every row can still be loaded, mended and resubmitted."""
    values = [plain(v) for v in frame[column]]
    nested = _typed_together([v if isinstance(v, list) else None for v in values])
    rest = [None if v is None or n is not None else json.dumps(v, ensure_ascii=False) for v, n in zip(values, nested)]
    if any(n is not None for n in nested):
        frame[column] = pd.Series(nested, index=frame.index, dtype=object)
        if any(r is not None for r in rest):
            frame[f"{column}_json"] = rest
    else:
        frame[column] = rest


def _typed_together(values: list) -> list:
    """The values Arrow (and Parquet) can hold in one column: all of them, or those of the type most
    of them have alone (a turn whose content is a number does not unnest every other row); None for
    the others."""

    def fits(found) -> bool:
        try:
            return _parquet_can_hold(pa.array(found).type)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            return False

    if fits(values):
        return values
    kinds = [str(pa.array([v]).type) if v is not None and fits([v]) else None for v in values]
    typed = [k for k in kinds if k and "null" not in k]  # an empty list tells no type
    common = max(typed, key=kinds.count, default=None)
    kept = [v if k == common else None for v, k in zip(values, kinds)]
    return kept if common is not None and fits(kept) else [None] * len(values)


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A Parquet-ready table; a pass-through column Arrow or Parquet cannot type (mixed types or
    empty objects, possible in JSONL) is kept as JSON text."""
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        frame = frame.copy()
        for column in frame.columns:
            try:
                pa.array(frame[column], from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                _as_json_text(frame, column)
        table = pa.Table.from_pandas(frame, preserve_index=False)
    unwritable = [f.name for f in table.schema if not _parquet_can_hold(f.type)]
    if not unwritable:
        return table
    frame = frame.copy()
    for column in unwritable:
        _as_json_text(frame, column)
    return pa.Table.from_pandas(frame, preserve_index=False)


def parquet_bytes(table: pa.Table) -> bytes:
    """A table as the bytes of one Parquet file."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def write_parquet_atomic(url: str, frame: pd.DataFrame | pa.Table) -> None:
    table = frame if isinstance(frame, pa.Table) else arrow_table(frame)
    write_bytes_atomic(url, parquet_bytes(table))


def read_parquet(url: str) -> pd.DataFrame:
    fs, path = filesystem(url)
    return pq.read_table(path, filesystem=fs).to_pandas()
