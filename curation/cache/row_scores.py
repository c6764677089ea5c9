"""The per-row score cache: endpoint losses keyed by (row-score key, row content hash).

Scores depend only on θT and how losses are computed (`curation.cache.keys.row_score_key`) and on
a row's content, so they are kept per row and reused by every later pool that repeats the row.
Entries are sealed files, one Parquet file per scored shard (`row-scores/<key>/shard-<shard key>.parquet`,
columns `_content_hash`, `loss_base`, `loss_warm`, in the shard's row order), written atomically: a
file's presence is the shard's completion marker, so a crashed run resumes by rescoring only the
shards that have no file yet.

Each file is sealed: its Parquet metadata holds its row count and the SHA-256 of its hashes and
losses, and the shard key is the hash of its rows' content hashes in order. A read checks all
three; a file that fails (cut short, altered, another shard's rows, half its rows) is set aside
and its rows are scored again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from curation.cache.entry import SealedFile, look_up, obtain
from curation.cache.integrity import DIGEST_KEY, Damaged
from curation.cache.keys import shard_key
from curation.rows import HASH_COLUMN
from curation.storage import filesystem, join, parquet_bytes, size, write_bytes_atomic

COLUMNS = [HASH_COLUMN, "loss_base", "loss_warm"]
SCHEMA = pa.schema([(HASH_COLUMN, pa.string()), ("loss_base", pa.float64()), ("loss_warm", pa.float64())])
ROWS_KEY = "curate.rows"


def _content_digest(table: pa.Table) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(table.column(HASH_COLUMN).to_pylist()).encode())
    for column in ("loss_base", "loss_warm"):
        digest.update(np.ascontiguousarray(table.column(column).to_numpy(), dtype="<f8").tobytes())
    return digest.hexdigest()


def seal(table: pa.Table) -> pa.Table:
    """The table with its row count and content digest in its schema metadata."""
    return table.replace_schema_metadata({ROWS_KEY: str(table.num_rows), DIGEST_KEY: _content_digest(table)})


def unseal(data: bytes, key: str, url: str) -> pa.Table:
    """A shard file's table if it is whole and holds exactly the rows of shard `key`; else Damaged."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
        meta = table.schema.metadata or {}
        table = table.select(COLUMNS).cast(SCHEMA)
        rows, digest = meta.get(ROWS_KEY.encode()), meta.get(DIGEST_KEY.encode())
        if rows is None or digest is None:
            raise Damaged(f"{url}: carries no row count or digest")
        if int(rows) != table.num_rows:
            raise Damaged(f"{url}: holds {table.num_rows} rows, sealed with {int(rows)}")
        if table.column(HASH_COLUMN).null_count:  # a flipped bit can mark a row's hash as null
            raise Damaged(f"{url}: a row's content hash is missing")
        if digest.decode() != _content_digest(table):  # decoding the strings checks their UTF-8 too
            raise Damaged(f"{url}: hashes or losses do not match the digest")
        if shard_key(table.column(HASH_COLUMN).to_pylist()) != key:
            raise Damaged(f"{url}: holds other rows than shard {key}")
    except (pa.ArrowException, OSError, ValueError, KeyError) as err:  # UnicodeDecodeError is a ValueError
        raise Damaged(f"{url}: not a readable shard file ({type(err).__name__}: {err})") from None
    return table


def _frame_bytes(key: str, losses: pd.DataFrame) -> bytes:
    """A shard's losses (rows in the shard's order) as sealed Parquet bytes."""

    frame = losses[COLUMNS].reset_index(drop=True).astype({HASH_COLUMN: str, "loss_base": float, "loss_warm": float})
    table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
    if shard_key(table.column(HASH_COLUMN).to_pylist()) != key:
        raise ValueError(f"losses of other rows than shard {key}")  # a bug, never user input
    return parquet_bytes(seal(table))


@dataclass(frozen=True)
class ShardLosses(SealedFile[pd.DataFrame]):
    """The losses of one shard under a row-score key; `compute` scores them when the cache has none."""

    row_key: str
    shard: str
    compute: Callable[[], pd.DataFrame] | None = None
    what = "row-score shard"

    @property
    def key(self) -> str:
        return self.shard

    def url(self, cache: str) -> str:
        return join(cache, "row-scores", self.row_key, f"shard-{self.shard}.parquet")

    def lock_name(self) -> str:
        return f"row-scores-{self.row_key}-{self.shard}"

    def build(self) -> bytes:
        if self.compute is None:
            raise RuntimeError(f"shard {self.shard} is not in the row-score cache")
        return _frame_bytes(self.shard, self.compute())

    def open(self, data: bytes, url: str) -> pd.DataFrame:
        return unseal(data, self.shard, url).to_pandas()


class RowScoreCache:
    """The row-score shards of one row-score key."""

    def __init__(self, cache: str, key: str):
        self.cache, self.key = cache, key
        self.root = join(cache, "row-scores", key)

    def shard_url(self, key: str) -> str:
        return ShardLosses(self.key, key).url(self.cache)

    def shard_bytes(self, key: str) -> int:
        """Bytes a finished shard's file takes in the cache."""
        return size(self.shard_url(key))

    def read_shard(self, key: str) -> tuple[pd.DataFrame | None, int]:
        """(the verified losses of shard `key` or None if absent, 1 if a damaged file was set aside else 0)."""
        return look_up(ShardLosses(self.key, key), self.cache)

    def obtain_shard(self, key: str, compute: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, str, int]:
        """(shard `key`'s losses, "hit" or "miss", damaged files set aside): read, or `compute()`d and stored."""
        found = obtain(ShardLosses(self.key, key, compute), self.cache)
        return found.value, found.status, found.damaged

    def known_rows(self, hashes: pd.Series) -> tuple[pd.DataFrame, int]:
        """(cached losses of whichever of these rows any earlier shard scored, damaged files set aside)."""
        fs, path = filesystem(self.root)
        # Finished shard files only: another shard may be writing its hidden temporary file now.
        files = fs.glob(f"{path}/shard-*.parquet") if fs.exists(path) else []
        wanted = pa.array(hashes.astype(str).unique())
        found, damaged = [], 0
        for file in files:
            key = file.rsplit("/shard-", 1)[1].removesuffix(".parquet")
            frame, bad = self.read_shard(key)
            damaged += bad
            if frame is not None:
                table = pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False)
                found.append(table.filter(pc.is_in(table.column(HASH_COLUMN), value_set=wanted)))
        if not found:
            return SCHEMA.empty_table().to_pandas(), damaged
        return pa.concat_tables(found).to_pandas().drop_duplicates(HASH_COLUMN), damaged

    def store_shard(self, key: str, losses: pd.DataFrame) -> None:
        """Write a shard's losses (rows in the shard's order), sealed, over any file there."""
        write_bytes_atomic(self.shard_url(key), _frame_bytes(key, losses))
