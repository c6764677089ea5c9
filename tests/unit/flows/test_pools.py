"""The service flow's naming: a folder per pool (its name and a hash of its URL), a folder per run
(its UTC time), a run name from the pools and the version, a failed run's reason in a line (the
flow itself: tests/e2e/test_pools.py)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from prefect.states import Failed

from curation.config import CurationSettings
from flows.pools import pool_slug, pools_run_name, run_out_dir, trends_folder, why


def test_a_pool_folder_is_its_name_and_a_hash_of_its_whole_url():
    slug = pool_slug("s3://bucket/a/data.parquet")
    assert re.fullmatch(r"data-[0-9a-f]{8}", slug)
    assert pool_slug("s3://bucket/b/data.parquet") != slug  # two prefixes holding data.parquet
    assert pool_slug("s3://bucket/a/data.parquet") == slug
    assert pool_slug("/pools/chat.jsonl").startswith("chat-") and pool_slug("/pools/v.json").startswith("v-")
    assert pool_slug("s3://bucket/shards/").startswith("shards-")
    assert pool_slug("/pools/part-*.parquet").startswith("part--")
    assert pool_slug("/").startswith("pool-")


def test_a_runs_folder_is_the_pools_folder_and_the_utc_time():
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    out = run_out_dir("s3://bucket/runs/", "/pools/a.parquet", started)
    assert out == f"s3://bucket/runs/{pool_slug('/pools/a.parquet')}/20260102T030405Z"


def test_a_run_is_named_after_its_pool_or_its_pool_count_and_the_version():
    one = pools_run_name(["s3://bucket/landing/pool.parquet"], version='"9f1c2a7b5e-3"')
    assert re.fullmatch(r"curate-pools-pool-9f1c2a7b-\d{4}-\d{2}-\d{2}-\d{4}", one)
    assert re.fullmatch(r"curate-pools-3-pools-\d{4}-\d{2}-\d{2}-\d{4}", pools_run_name(["a", "b", "c"]))


def test_a_failed_runs_reason_is_its_exceptions_first_line():
    state = Failed(message="Flow run encountered an exception: InputError: file p, row 3: bad\nTraceback ...")
    assert why(state) == "InputError: file p, row 3: bad"
    assert why(Failed()) == "Failed"


def test_a_deployments_runs_of_a_pool_keep_their_trends_beside_its_outputs(monkeypatch):
    settings = CurationSettings.parse(validation="v.parquet", model="linear", budget=5)
    slug = pool_slug("s3://b/p.parquet")
    assert trends_folder(settings, "s3://b/runs", "s3://b/p.parquet") is None  # not a deployment's run, no --trends
    given = settings.model_copy(update={"trends": "/trends/"})
    assert trends_folder(given, "s3://b/runs", "s3://b/p.parquet") == f"/trends/{slug}/trends/runs"
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "pool landed")  # as inside a deployment's run
    assert trends_folder(settings, "s3://b/runs/", "s3://b/p.parquet") == f"s3://b/runs/{slug}/trends/pool-landed"
