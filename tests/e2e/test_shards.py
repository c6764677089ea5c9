"""Sharded scoring: the per-row score cache skips known rows; a killed run resumes to the same outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import MATH, REPO, WEB
from runs import curate_run


def test_a_pool_repeating_earlier_rows_scores_only_the_new_ones(labelled_task, tmp_path, prefect_api_url):
    common = dict(
        validation=str(labelled_task["validation"]),
        model="linear",
        budget=100,
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
        shard_rows=300,
    )
    first = curate_run(pool=str(labelled_task["pool_first_half"]), out=str(tmp_path / "a"), **common)
    second = curate_run(pool=str(labelled_task["pool"]), out=str(tmp_path / "b"), **common)
    assert first["cache"]["rows_scored"] == 1200 and first["cache"]["rows_reused"] == 0
    assert second["cache"]["rows_scored"] == 1200 and second["cache"]["rows_reused"] == 1200
    a = pd.read_parquet(tmp_path / "a" / "scores.parquet").set_index("id")
    b = pd.read_parquet(tmp_path / "b" / "scores.parquet").set_index("id")
    pd.testing.assert_frame_equal(a, b.loc[a.index])
    third = curate_run(pool=str(labelled_task["pool"]), out=str(tmp_path / "c"), **common)
    assert third["cache"]["rows_scored"] == 0 and third["cache"]["rows_reused"] == 2400


@pytest.fixture(scope="module")
def big_text_pool(tmp_path_factory):
    root = tmp_path_factory.mktemp("big-text")
    n = 6_000
    sentences = WEB + MATH
    pd.DataFrame(
        {
            "prompt": [f"Note {i}: " for i in range(n)],
            "response": [f"{sentences[i % len(sentences)]} ({i})" for i in range(n)],
        }
    ).to_parquet(root / "pool.parquet")
    return root / "pool.parquet"


def _cli(args, env):
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_run_killed_mid_scoring_resumes_to_identical_outputs(
    tiny_lm, text_task, big_text_pool, tmp_path, prefect_api_url
):
    env = {**os.environ, "PREFECT_API_URL": prefect_api_url, "PYTHONWARNINGS": "ignore"}

    def args(out, cache):
        return [
            "run",
            "--pool",
            str(big_text_pool),
            "--validation",
            str(text_task["validation"]),
            "--model",
            tiny_lm,
            "--budget",
            "500",
            "--out",
            str(out),
            "--cache",
            str(cache),
            "--skip-finetune",
            "--shard-rows",
            "250",
            "--warmup-steps",
            "10",
            "--method",
            "lossdrop",  # the sharded, cached scoring this test kills (`auto` may choose embedding here)
        ]

    clean = _cli(args(tmp_path / "clean", tmp_path / "clean-cache"), env)
    assert clean.wait(timeout=600) == 0, clean.stderr.read()

    victim = _cli(args(tmp_path / "out", tmp_path / "cache"), env)
    deadline = time.monotonic() + 300
    shards = []
    while time.monotonic() < deadline and victim.poll() is None:
        shards = list((tmp_path / "cache").glob("row-scores/*/shard-*.parquet"))
        if len(shards) >= 3:
            break
        time.sleep(0.02)
    assert victim.poll() is None, "the run finished before it could be killed"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    finished = list((tmp_path / "cache").glob("row-scores/*/shard-*.parquet"))
    assert 3 <= len(finished) < 24
    rows_done = sum(len(pd.read_parquet(f)) for f in finished)
    assert not (tmp_path / "out" / "report.json").exists()  # nothing looks complete

    resumed = _cli(args(tmp_path / "out", tmp_path / "cache"), env)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read()
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["cache"]["rows_reused"] == rows_done  # the finished shards, and only those
    assert report["cache"]["rows_scored"] + rows_done == report["counts"]["valid"]
    for name in ("scores.parquet", "selection.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "out" / name), pd.read_parquet(tmp_path / "clean" / name)
        )


def test_the_row_cache_ignores_what_a_crash_left_half_written(tmp_path):
    from curation.cache.keys import shard_key
    from curation.cache.row_scores import RowScoreCache
    from curation.rows import HASH_COLUMN

    cache = RowScoreCache(str(tmp_path), "warm-key")
    losses = pd.DataFrame({HASH_COLUMN: ["a", "b"], "loss_base": [1.0, 2.0], "loss_warm": [0.5, 2.5]})
    key = shard_key(losses[HASH_COLUMN])
    cache.store_shard(key, losses)
    # a crash mid-write leaves only a hidden temporary file, which readers skip
    (tmp_path / "row-scores" / "warm-key" / ".shard-x.parquet.tmp-123").write_bytes(b"PAR1 half a file")
    assert cache.read_shard(key)[0].equals(losses)
    assert cache.read_shard(shard_key(pd.Series(["a"]))) == (None, 0)
    known, damaged = cache.known_rows(pd.Series(["b", "c"]))
    assert known[HASH_COLUMN].tolist() == ["b"] and known["loss_warm"].tolist() == [2.5] and damaged == 0


def test_a_lookup_while_another_shard_is_being_written_sees_no_half_files(tmp_path):
    """Shards run concurrently: a lookup may list the cache while only a hidden temporary file exists."""
    from curation.cache.row_scores import RowScoreCache
    from curation.rows import HASH_COLUMN

    cache = RowScoreCache(str(tmp_path), "warm-key")
    root = tmp_path / "row-scores" / "warm-key"
    root.mkdir(parents=True)
    (root / ".shard-abc.parquet.tmp-1").write_bytes(b"PAR1 being written")
    known, damaged = cache.known_rows(pd.Series(["a"]))
    assert known.empty and damaged == 0
    assert list(known.columns) == [HASH_COLUMN, "loss_base", "loss_warm"]
