"""The validated-pool cache: a pool is checked once per content version and row format; later runs,
whatever their target, admit its cached rows without reading a pool file; a damaged entry is rebuilt."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from runs import curate_run

from curation.cache.keys import pool_key
from curation.cache.pools import QUARANTINE, PoolEntry
from curation.formats import Limits
from curation.io.batches import read_rows
from curation.io.sources import open_source
from curation.validation.pool import check_pool_for
from curation.validation.target import check_target, reference_from


@pytest.fixture
def two_targets(labelled_task, tmp_path):
    """The labelled pool and two validation sets of the same task (different rows, so other targets)."""
    validation = pd.read_parquet(labelled_task["validation"])
    paths = {
        "pool": str(tmp_path / "pool.parquet"),
        "first": str(tmp_path / "v1.parquet"),
        "second": str(tmp_path / "v2.parquet"),
    }
    pd.read_parquet(labelled_task["pool"]).to_parquet(paths["pool"])  # a copy: a test may spoil it
    validation.iloc[:100].to_parquet(paths["first"])
    validation.iloc[100:].to_parquet(paths["second"])
    return paths


def _target(path: str):
    return check_target(read_rows(path), None, "features", Limits())


def test_a_second_target_admits_the_cached_rows_without_reading_the_pool(two_targets, tmp_path, monkeypatch):
    import curation.validation.scan

    cache = str(tmp_path / "cache")
    first = check_pool_for(
        open_source(two_targets["pool"]), _target(two_targets["first"]), str(tmp_path / "a"), cache, Limits()
    )
    assert first.cache == "miss" and first.valid_rows == first.rows_read == 2400
    # A run that read the pool's rows (or footers) again would fail here; the cache entry of this version serves it.
    for reader in ("iter_batches", "check_files"):
        monkeypatch.setattr(curation.validation.scan, reader, lambda *a, **k: pytest.fail("the pool was read again"))
    pool = two_targets["pool"]
    second = check_pool_for(open_source(pool), _target(two_targets["second"]), str(tmp_path / "b"), cache, Limits())
    assert second.cache == "hit" and second.valid_rows == 2400 and second.pool_hash == first.pool_hash
    pd.testing.assert_frame_equal(first.load_valid(), second.load_valid())


def test_an_edit_of_the_same_size_with_the_old_mtime_is_a_new_version(tmp_path):
    """Finding 5: `cp -p`, `rsync -t` and restored backups keep the mtime across an edit; the cache
    must not serve the old rows (a local file's identity is a digest of its bytes)."""
    pool = tmp_path / "pool.jsonl"
    rows = [{"prompt": f"q{i}", "response": f"an answer number {i}"} for i in range(20)]
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    validation = tmp_path / "v.jsonl"
    validation.write_text("".join(json.dumps({"prompt": "v", "response": f"val {i}"}) + "\n" for i in range(8)))
    target = check_target(read_rows(str(validation)), None, "text", Limits())
    cache = str(tmp_path / "cache")
    first = check_pool_for(open_source(str(pool)), target, str(tmp_path / "a"), cache, Limits())
    stat = os.stat(pool)
    pool.write_text(pool.read_text().replace("answer number 3", "ANSWER number 3"))
    os.utime(pool, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert os.stat(pool).st_size == stat.st_size and os.stat(pool).st_mtime_ns == stat.st_mtime_ns
    second = check_pool_for(open_source(str(pool)), target, str(tmp_path / "b"), cache, Limits())
    assert (first.cache, second.cache) == ("miss", "miss")
    assert "an ANSWER number 3" in set(second.load_valid()["response"])


def test_a_new_version_of_the_pool_is_checked_again(labelled_task, tmp_path):
    pool = tmp_path / "pool.parquet"
    pd.read_parquet(labelled_task["pool"]).iloc[:300].to_parquet(pool)
    ref, _ = reference_from(read_rows(str(labelled_task["validation"])), "features")
    before = pool_key(open_source(str(pool)).identity, "features", {})
    pd.read_parquet(labelled_task["pool"]).iloc[:301].to_parquet(pool)
    assert pool_key(open_source(str(pool)).identity, "features", {}) != before
    assert pool_key(open_source(str(pool)).identity, "prompt-response", {}) != pool_key(
        open_source(str(pool)).identity, "features", {}
    )
    # Settings that change what the checks find change the key; the share of rejects allowed does not.
    identity = open_source(str(pool)).identity
    keys = {pool_key(identity, "features", limits.scan_settings()) for limits in (Limits(), Limits(max_chars=10))}
    assert len(keys) == 2 and Limits(max_reject_share=0.9).scan_settings() == Limits().scan_settings()


def test_a_damaged_part_is_set_aside_and_the_pool_checked_again(two_targets, tmp_path):
    cache, target = str(tmp_path / "cache"), _target(two_targets["first"])
    source = open_source(two_targets["pool"])
    first = check_pool_for(source, target, str(tmp_path / "a"), cache, Limits(batch_rows=1000))
    entry = next((tmp_path / "cache" / "pools").iterdir())
    part = entry / "part-00001.parquet"
    part.write_bytes(part.read_bytes()[:-100])  # cut short
    again = check_pool_for(source, target, str(tmp_path / "b"), cache, Limits(batch_rows=1000))
    assert again.cache == "miss" and again.valid_rows == first.valid_rows  # rebuilt from the pool
    assert (first.damaged, again.damaged) == (0, 1)  # report.json's cache.damaged.pool
    manifest = entry / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])  # a manifest cut short: found at the look-up
    assert check_pool_for(source, target, str(tmp_path / "c"), cache, Limits(batch_rows=1000)).damaged == 1
    assert list((tmp_path / "cache" / "damaged").rglob("part-00001.parquet"))
    assert (entry / QUARANTINE).exists() and (entry / "manifest.json").exists()
    assert PoolEntry(entry.name, None).url(cache).endswith(entry.name)


def test_the_report_says_the_second_run_reused_the_validated_pool(two_targets, tmp_path, prefect_api_url):
    runs = {}
    for name in ("first", "second"):
        runs[name] = curate_run(
            pool=two_targets["pool"],
            validation=two_targets[name],
            model="linear",
            budget=100,
            out=str(tmp_path / name),
            cache=str(tmp_path / "cache"),
            skip_finetune=True,
            warmup="fixed",
        )
    assert runs["first"]["cache"]["pool"] == "miss" and runs["second"]["cache"]["pool"] == "hit"
    assert runs["first"]["hashes"]["pool"] == runs["second"]["hashes"]["pool"]
    assert runs["first"]["counts"]["rows_read"] == runs["second"]["counts"]["rows_read"] == 2400
