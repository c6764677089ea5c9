"""The per-row score cache: endpoint losses keyed by (warmup key, row content hash).

Scores depend only on θT (its warmup key) and a row's content, so they are kept per row and
reused by every later pool that repeats the row. Entries are written one Parquet file per
scored shard (`row-scores/<warmup key>/shard-<shard key>.parquet`, columns `_content_hash`,
`loss_base`, `loss_warm`), atomically: a file's presence is the shard's completion marker, so a
crashed run resumes by rescoring only the shards that have no file yet.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from curation.rows import HASH_COLUMN
from curation.storage import exists, filesystem, join, size, write_parquet_atomic

COLUMNS = [HASH_COLUMN, "loss_base", "loss_warm"]
SCHEMA = pa.schema([(HASH_COLUMN, pa.string()), ("loss_base", pa.float64()), ("loss_warm", pa.float64())])


def shard_key(hashes: pd.Series) -> str:
    """A shard's identity: the hash of its rows' content hashes, in order."""
    digest = hashlib.sha256()
    for h in hashes:
        digest.update(h.encode())
    return digest.hexdigest()[:32]


class RowScoreCache:
    def __init__(self, cache: str, warm_key: str):
        self.root = join(cache, "row-scores", warm_key)

    def shard_url(self, key: str) -> str:
        return join(self.root, f"shard-{key}.parquet")

    def shard_bytes(self, key: str) -> int:
        """Bytes a finished shard's file takes in the cache."""
        return size(self.shard_url(key))

    def has_shard(self, key: str) -> bool:
        """Whether the shard was scored and stored completely."""
        return exists(self.shard_url(key))

    def finished_shard(self, key: str) -> pd.DataFrame | None:
        """The losses of a shard scored before (this run's pool or an earlier one), or None."""
        url = self.shard_url(key)
        if not exists(url):
            return None
        fs, path = filesystem(url)
        with fs.open(path, "rb") as handle:
            return pd.read_parquet(handle)

    def known_rows(self, hashes: pd.Series) -> pd.DataFrame:
        """Cached losses of whichever of these rows any earlier shard scored."""
        fs, path = filesystem(self.root)
        # Finished shard files only: another shard may be writing its hidden temporary file now.
        files = fs.glob(f"{path}/shard-*.parquet") if fs.exists(path) else []
        if not files:
            return pd.DataFrame({HASH_COLUMN: pd.Series(dtype=str), "loss_base": pd.Series(dtype=float),
                                 "loss_warm": pd.Series(dtype=float)})
        dataset = ds.dataset(files, filesystem=fs, format="parquet", schema=SCHEMA)
        wanted = pa.array(hashes.astype(str).unique())
        table = dataset.to_table(columns=COLUMNS, filter=pc.is_in(ds.field(HASH_COLUMN), value_set=wanted))
        return table.to_pandas().drop_duplicates(HASH_COLUMN)

    def store_shard(self, key: str, losses: pd.DataFrame) -> None:
        frame = losses[COLUMNS].reset_index(drop=True).astype({HASH_COLUMN: str, "loss_base": float, "loss_warm": float})
        write_parquet_atomic(self.shard_url(key), pa.Table.from_pandas(frame, schema=SCHEMA, preserve_index=False))
