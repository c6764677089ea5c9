"""The per-row caches: a row's losses keyed by (key, row content hash), kept per row and reused by
every later pool that repeats the row.

Two tables share the code (`RowTable`):
- `LOSSES` (`row-scores/<key>/`): a target's endpoint losses, `loss_base` and `loss_warm`, under its
  row-score key (`curation.cache.keys.row_score_key`: θT and how losses are computed).
- `BASE_LOSSES` (`theta0-rows/<key>/`): θ0's loss alone, under the base key (`base_loss_key`: θ0 and
  how it reads rows, no target). Every target that starts from θ0 and every later run reads it, so
  K targets cost one θ0 pass per row and one θT pass per target, not two passes per target.
Entries are sealed files, one Parquet file per scored shard (`<table>/<key>/shard-<shard key>.parquet`,
in the shard's row order), written atomically: a file's presence is the shard's completion marker,
so a crashed run resumes by rescoring only the shards that have no file yet.

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

ROWS_KEY = "curate.rows"


@dataclass(frozen=True)
class RowTable:
    """A per-row cache's folder and loss columns (float64, beside the content hash)."""

    folder: str
    losses: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [HASH_COLUMN, *self.losses]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(HASH_COLUMN, pa.string()), *((name, pa.float64()) for name in self.losses)])


LOSSES = RowTable("row-scores", ("loss_base", "loss_warm"))
BASE_LOSSES = RowTable("theta0-rows", ("loss_base",))
COLUMNS, SCHEMA = LOSSES.columns, LOSSES.schema


def _content_digest(table: pa.Table, losses: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    digest.update("\n".join(table.column(HASH_COLUMN).to_pylist()).encode())
    for column in losses:
        digest.update(np.ascontiguousarray(table.column(column).to_numpy(), dtype="<f8").tobytes())
    return digest.hexdigest()


def seal(table: pa.Table, kind: RowTable = LOSSES) -> pa.Table:
    """The table with its row count and content digest in its schema metadata."""
    digest = _content_digest(table, kind.losses)
    return table.replace_schema_metadata({ROWS_KEY: str(table.num_rows), DIGEST_KEY: digest})


def unseal(data: bytes, key: str, url: str, kind: RowTable = LOSSES) -> pa.Table:
    """A shard file's table if it is whole and holds exactly the rows of shard `key`; else Damaged."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
        meta = table.schema.metadata or {}
        table = table.select(kind.columns).cast(kind.schema)
        rows, digest = meta.get(ROWS_KEY.encode()), meta.get(DIGEST_KEY.encode())
        if rows is None or digest is None:
            raise Damaged(f"{url}: carries no row count or digest")
        if int(rows) != table.num_rows:
            raise Damaged(f"{url}: holds {table.num_rows} rows, sealed with {int(rows)}")
        if table.column(HASH_COLUMN).null_count:  # a flipped bit can mark a row's hash as null
            raise Damaged(f"{url}: a row's content hash is missing")
        if digest.decode() != _content_digest(table, kind.losses):  # decoding the strings checks their UTF-8 too
            raise Damaged(f"{url}: hashes or losses do not match the digest")
        if shard_key(table.column(HASH_COLUMN).to_pylist()) != key:
            raise Damaged(f"{url}: holds other rows than shard {key}")
    except (pa.ArrowException, OSError, ValueError, KeyError) as err:  # UnicodeDecodeError is a ValueError
        raise Damaged(f"{url}: not a readable shard file ({type(err).__name__}: {err})") from None
    return table


def _frame_bytes(key: str, losses: pd.DataFrame, kind: RowTable) -> bytes:
    """A shard's losses (rows in the shard's order) as sealed Parquet bytes."""
    types = {HASH_COLUMN: str, **{name: float for name in kind.losses}}
    frame = losses[kind.columns].reset_index(drop=True).astype(types)
    table = pa.Table.from_pandas(frame, schema=kind.schema, preserve_index=False)
    if shard_key(table.column(HASH_COLUMN).to_pylist()) != key:
        raise ValueError(f"losses of other rows than shard {key}")  # a bug, never user input
    return parquet_bytes(seal(table, kind))


@dataclass(frozen=True)
class ShardLosses(SealedFile[pd.DataFrame]):
    """The losses of one shard under a row-score key; `compute` scores them when the cache has none."""

    row_key: str
    shard: str
    compute: Callable[[], pd.DataFrame] | None = None
    kind: RowTable = LOSSES
    what = "row-score shard"

    @property
    def key(self) -> str:
        return self.shard

    def url(self, cache: str) -> str:
        return join(cache, self.kind.folder, self.row_key, f"shard-{self.shard}.parquet")

    def lock_name(self) -> str:
        return f"{self.kind.folder}-{self.row_key}-{self.shard}"

    def build(self) -> bytes:
        if self.compute is None:
            raise RuntimeError(f"shard {self.shard} is not in the {self.kind.folder} cache")
        return _frame_bytes(self.shard, self.compute(), self.kind)

    def open(self, data: bytes, url: str) -> pd.DataFrame:
        return unseal(data, self.shard, url, self.kind).to_pandas()


class RowScoreCache:
    """The shards of one key in one per-row table (a target's endpoint losses unless `kind` says otherwise)."""

    def __init__(self, cache: str, key: str, kind: RowTable = LOSSES):
        self.cache, self.key, self.kind = cache, key, kind
        self.root = join(cache, kind.folder, key)

    def shard_url(self, key: str) -> str:
        return ShardLosses(self.key, key, kind=self.kind).url(self.cache)

    def shard_bytes(self, key: str) -> int:
        """Bytes a finished shard's file takes in the cache."""
        return size(self.shard_url(key))

    def read_shard(self, key: str) -> tuple[pd.DataFrame | None, int]:
        """(the verified losses of shard `key` or None if absent, 1 if a damaged file was set aside else 0)."""
        return look_up(ShardLosses(self.key, key, kind=self.kind), self.cache)

    def obtain_shard(self, key: str, compute: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, str, int]:
        """(shard `key`'s losses, "hit" or "miss", damaged files set aside): read, or `compute()`d and stored."""
        found = obtain(ShardLosses(self.key, key, compute, self.kind), self.cache)
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
                table = pa.Table.from_pandas(frame, schema=self.kind.schema, preserve_index=False)
                found.append(table.filter(pc.is_in(table.column(HASH_COLUMN), value_set=wanted)))
        if not found:
            return self.kind.schema.empty_table().to_pandas(), damaged
        return pa.concat_tables(found).to_pandas().drop_duplicates(HASH_COLUMN), damaged

    def store_shard(self, key: str, losses: pd.DataFrame) -> None:
        """Write a shard's losses (rows in the shard's order), sealed, over any file there."""
        write_bytes_atomic(self.shard_url(key), _frame_bytes(key, losses, self.kind))
