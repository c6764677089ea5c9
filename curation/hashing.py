"""Content hashes: of rows (ids and caches), of whole datasets (order-independent) and of models."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd


def _canonical(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iu" or (value.dtype.kind == "f" and np.isfinite(value).all()):
            return value.tolist()  # what the element-wise path below gives, without a Python call per element
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return repr(value) if not math.isfinite(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def row_hashes(frame: pd.DataFrame, payload: Iterable[str]) -> pd.Series:
    """A sha256 (hex, 32 chars) per row over its payload columns (those of `payload` the frame has),
    stable across files and runs; other columns (id, source, extras) do not change it."""
    if not len(frame):
        return pd.Series(dtype="string")
    columns = [c for c in payload if c in frame.columns]
    records = frame[columns].to_dict("records")
    digests = [
        hashlib.sha256(
            json.dumps({k: _canonical(v) for k, v in rec.items()}, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()[:32]
        for rec in records
    ]
    return pd.Series(digests, index=frame.index, dtype="string")


class DatasetHasher:
    """Order-independent hash of a dataset, fed row hashes batch by batch in constant memory.

    The sum (mod 2^128) of the row hashes, with the row count, is the same for any row order.
    """

    def __init__(self) -> None:
        self.total, self.count = 0, 0

    def update(self, hashes: Iterable[str]) -> None:
        for h in hashes:
            self.total = (self.total + int(h, 16)) % (1 << 128)
            self.count += 1

    def hexdigest(self) -> str:
        return hashlib.sha256(f"{self.count}:{self.total:032x}".encode()).hexdigest()


def dataset_hash(hashes: Iterable[str]) -> str:
    """Order-independent hash of a dataset, from its row hashes."""
    hasher = DatasetHasher()
    hasher.update(hashes)
    return hasher.hexdigest()


def json_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(handle, size: int, whole_up_to: int = 256 << 20) -> str:
    """sha256 of a file; past `whole_up_to` bytes, of its size and three 1 MiB windows.

    Multi-GB weight files would take tens of seconds to hash whole on every run; the size plus
    windows at start, middle and end changes whenever a checkpoint is replaced in practice.
    """
    digest = hashlib.sha256(str(size).encode())
    if size <= whole_up_to:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        return digest.hexdigest()
    for offset in (0, size // 2, max(0, size - (1 << 20))):
        handle.seek(offset)
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()
