"""The Ray engine (a real local Ray instance, two workers) scores exactly like the local engine."""

from __future__ import annotations

import pandas as pd
from runs import curate_run, on_task


def test_ray_and_local_engines_agree(labelled_task, tmp_path, prefect_api_url):
    reports = {}
    for engine in ("local", "ray"):
        reports[engine] = curate_run(
            **on_task(labelled_task, model="mlp"),
            budget=200,
            out=str(tmp_path / engine),
            cache=str(tmp_path / f"cache-{engine}"),
            skip_finetune=True,
            shard_rows=300,
            engine=engine,
            workers=2,
        )
    assert reports["ray"]["cache"]["rows_scored"] == reports["local"]["cache"]["rows_scored"] == 2400
    for name in ("scores.parquet", "selection.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "ray" / name), pd.read_parquet(tmp_path / "local" / name)
        )
    # both Ray workers took shards, each writing its shards to the row cache
    assert reports["ray"]["scoring"] == {"engine": "ray", "shards": 8, "workers_used": 2}
    assert len(list((tmp_path / "cache-ray").glob("row-scores/*/shard-*.parquet"))) == 8
