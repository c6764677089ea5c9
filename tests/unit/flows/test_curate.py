"""The curate flow's own pieces: a run named after its pool and the time, and per-stage timings (the
flow end to end: tests/e2e/test_flow.py and the rest of tests/e2e/)."""

from __future__ import annotations

import re

from prefect.logging import disable_run_logger

from flows.curate import Stages, run_name


def test_a_run_is_named_after_its_pools_last_path_part_and_the_utc_time(prefect_api_url):
    """A flow named like `curate`, given its config as the UI and a deployment give it (a dict) or as
    `curate run` does (a CurateConfig)."""
    from prefect import flow
    from prefect.runtime import flow_run

    from curation.config import CurateConfig

    @flow(flow_run_name=run_name)
    def named(config) -> str:
        return flow_run.name

    assert re.fullmatch(
        r"curate-pool-7\.parquet-\d{4}-\d{2}-\d{2}-\d{4}", named({"pool": "s3://b/landing/pool-7.parquet"})
    )
    config = CurateConfig(pool="/data/shards/", out="o", validation="v", model="linear", budget=1)
    assert named(config).startswith("curate-shards-")
    assert named({}).startswith("curate-pool-")


def test_each_stage_adds_up_its_seconds():
    stage = Stages()
    with disable_run_logger():
        with stage("score"):
            pass
        with stage("select"):
            sum(range(1_000_000))
        first = stage.timings["select"]
        with stage("select"):
            sum(range(1_000_000))
    assert list(stage.timings) == ["score", "select"]
    assert stage.timings["select"] >= first > 0 and stage.timings["select"] == round(stage.timings["select"], 3)
