"""The row-score cache: one sealed Parquet file per shard, read back only whole and only for its own
rows; rows any earlier shard scored are found again by content hash."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.cache.integrity import Damaged
from curation.cache.keys import shard_key
from curation.cache.row_scores import RowScoreCache, seal, unseal
from curation.rows import HASH_COLUMN


def losses(hashes: list[str], offset: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            HASH_COLUMN: hashes,
            "loss_base": [1.0 + i + offset for i in range(len(hashes))],
            "loss_warm": [0.5 + i for i in range(len(hashes))],
        }
    )


A, B = ["a1", "a2", "a3"], ["b1", "a2"]


def test_a_stored_shard_reads_back_verified_and_a_second_obtain_is_a_hit(tmp_path):
    cache = RowScoreCache(str(tmp_path), "rk")
    key = shard_key(A)
    assert cache.read_shard(key) == (None, 0)
    calls = []
    value, status, damaged = cache.obtain_shard(key, lambda: calls.append(1) or losses(A))
    assert (status, damaged, len(calls)) == ("miss", 0, 1)
    again, status, _ = cache.obtain_shard(key, lambda: calls.append(1) or losses(A))
    assert status == "hit" and len(calls) == 1
    pd.testing.assert_frame_equal(again, losses(A))
    assert cache.shard_url(key) == f"{tmp_path}/row-scores/rk/shard-{key}.parquet"
    assert cache.shard_bytes(key) == (tmp_path / "row-scores" / "rk" / f"shard-{key}.parquet").stat().st_size


def test_losses_of_other_rows_than_the_shard_are_refused_before_writing(tmp_path):
    cache = RowScoreCache(str(tmp_path), "rk")
    with pytest.raises(ValueError, match="other rows"):
        cache.store_shard(shard_key(A), losses(list(reversed(A))))  # the shard's rows, in another order
    assert not (tmp_path / "row-scores").exists()


def sealed_bytes(frame: pd.DataFrame) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(seal(pa.Table.from_pandas(frame, preserve_index=False)), sink)
    return sink.getvalue().to_pybytes()


def test_unseal_refuses_altered_losses_cut_rows_another_shard_and_an_unsealed_file():
    data = sealed_bytes(losses(A))
    assert unseal(data, shard_key(A), "u").column("loss_base").to_pylist() == [1.0, 2.0, 3.0]
    with pytest.raises(Damaged, match="other rows than shard"):
        unseal(data, shard_key(B), "u")
    table = pq.read_table(pa.BufferReader(data))
    altered = table.set_column(1, "loss_base", pa.array([1.0, 2.0, 3.5]))  # the seal's metadata kept
    sink = pa.BufferOutputStream()
    pq.write_table(altered, sink)
    with pytest.raises(Damaged, match="do not match the digest"):
        unseal(sink.getvalue().to_pybytes(), shard_key(A), "u")
    sink = pa.BufferOutputStream()
    pq.write_table(table.slice(0, 2), sink)  # half its rows, under the whole shard's seal
    with pytest.raises(Damaged, match="holds 2 rows, sealed with 3"):
        unseal(sink.getvalue().to_pybytes(), shard_key(A), "u")
    sink = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pandas(losses(A), preserve_index=False), sink)
    with pytest.raises(Damaged, match="no row count or digest"):
        unseal(sink.getvalue().to_pybytes(), shard_key(A), "u")
    with pytest.raises(Damaged, match="not a readable shard file"):
        unseal(data[: len(data) // 2], shard_key(A), "u")


def test_a_damaged_shard_file_is_set_aside_and_its_rows_scored_again(tmp_path):
    cache = RowScoreCache(str(tmp_path), "rk")
    key = shard_key(A)
    cache.store_shard(key, losses(A))
    path = tmp_path / "row-scores" / "rk" / f"shard-{key}.parquet"
    path.write_bytes(path.read_bytes()[:-20])
    value, status, damaged = cache.obtain_shard(key, lambda: losses(A, offset=10.0))
    assert (status, damaged) == ("miss", 1) and value["loss_base"].tolist() == [11.0, 12.0, 13.0]
    assert list((tmp_path / "damaged").rglob(f"shard-{key}.parquet"))


def test_known_rows_are_found_in_any_earlier_shard_by_content_hash(tmp_path):
    cache = RowScoreCache(str(tmp_path), "rk")
    cache.store_shard(shard_key(A), losses(A))
    cache.store_shard(shard_key(B), losses(B, offset=100.0))
    found, damaged = cache.known_rows(pd.Series(["a2", "b1", "zz", "a2"]))
    assert damaged == 0 and sorted(found[HASH_COLUMN]) == ["a2", "b1"]  # each row once, unknown rows absent
    assert found.set_index(HASH_COLUMN).loc["b1", "loss_base"] == 101.0
    other = RowScoreCache(str(tmp_path), "another-key")  # another θT: nothing known
    assert len(other.known_rows(pd.Series(["a1"]))[0]) == 0


def test_theta0s_table_keeps_its_own_column_apart_from_the_targets_losses(tmp_path):
    from curation.cache.row_scores import BASE_LOSSES

    shared = RowScoreCache(str(tmp_path), "theta0", BASE_LOSSES)
    frame = pd.DataFrame({HASH_COLUMN: ["a", "b"], "loss_base": [1.5, 2.5]})
    key = shard_key(["a", "b"])
    shared.store_shard(key, frame)
    assert (tmp_path / "theta0-rows" / "theta0" / f"shard-{key}.parquet").exists()
    read, damaged = shared.read_shard(key)
    assert damaged == 0 and list(read.columns) == [HASH_COLUMN, "loss_base"]
    assert read["loss_base"].tolist() == [1.5, 2.5]
    known, _ = shared.known_rows(pd.Series(["b", "z"]))
    assert known.to_dict("records") == [{HASH_COLUMN: "b", "loss_base": 2.5}]
    assert RowScoreCache(str(tmp_path), "theta0").read_shard(key) == (None, 0)  # a target's table is another
