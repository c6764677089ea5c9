"""Exactly once from every entry point, decided by the flow itself: a pool version curated by one run
is left alone by every later run of the same settings, and a run started for a version that has
been replaced since ends as superseded, with no output folder. The real flow on the session's
Prefect API (its claims mutex a real global concurrency limit)."""

from __future__ import annotations

import os

import pandas as pd

from curation.config import CurationSettings
from flows.pools import curate_pools, pool_slug
from flows.service.once import CLAIMS_LIMIT, claim_tag, current_version, left_alone, superseded_by


def settings_for(task, tmp_path, budget: int = 40) -> CurationSettings:
    return CurationSettings(
        validation=str(task["validation"]),
        model="linear",
        budget=budget,
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )


def test_a_pool_version_is_curated_once_and_later_runs_name_the_run_that_did(labelled_task, prefect_api_url, tmp_path):
    from prefect.client.orchestration import get_client

    pool, runs = tmp_path / "pool.parquet", tmp_path / "runs"
    pool.write_bytes(labelled_task["pool_first_half"].read_bytes())
    settings = settings_for(labelled_task, tmp_path)
    first = curate_pools([str(pool)], str(runs), settings, return_state=True)
    assert first.is_completed() and first.name == "Completed"
    again = curate_pools([str(pool)], str(runs), settings, version="", return_state=True)  # e.g. from the UI
    with get_client(sync_client=True) as client:
        first_run = client.read_flow_run(first.state_details.flow_run_id)
        assert client.read_global_concurrency_limit_by_name(CLAIMS_LIMIT).limit == 1
    assert again.is_completed() and again.name == "AlreadyCurated"
    assert f"already curated by run {first_run.name}" in again.message
    assert len(list((runs / pool_slug(str(pool))).iterdir())) == 1  # one output folder: no second curation
    other = settings_for(labelled_task, tmp_path, budget=41)  # other settings: curated again
    assert curate_pools([str(pool)], str(runs), other, return_state=True).name == "Completed"


def test_a_run_started_for_a_replaced_version_ends_as_superseded_without_work(labelled_task, prefect_api_url, tmp_path):
    pool, runs = tmp_path / "pool.parquet", tmp_path / "runs"
    pool.write_bytes(labelled_task["pool_first_half"].read_bytes())
    started_for = current_version(str(pool))
    pool.write_bytes(labelled_task["pool_second_half"].read_bytes())  # replaced before the run reads it
    os.utime(pool, (1, 1))  # whatever the clock did
    state = curate_pools([str(pool)], str(runs), settings_for(labelled_task, tmp_path), started_for, return_state=True)
    assert state.is_completed() and state.name == "Superseded"
    assert f"superseded by version {current_version(str(pool))}" in state.message and started_for in state.message
    assert not runs.exists()


def test_the_claim_key_follows_the_content_and_the_settings_not_the_file_time(labelled_task, tmp_path):
    pool = tmp_path / "pool.parquet"
    pool.write_bytes(labelled_task["pool_first_half"].read_bytes())
    settings = settings_for(labelled_task, tmp_path)
    tag = claim_tag(str(pool), settings)
    os.utime(pool, (5, 5))  # touched, same bytes: the same version of the pool
    assert claim_tag(str(pool), settings) == tag and tag.startswith("curated:")
    assert claim_tag(str(pool), settings_for(labelled_task, tmp_path, budget=7)) != tag
    pd.read_parquet(labelled_task["pool_second_half"]).to_parquet(pool)
    assert claim_tag(str(pool), settings) != tag


def test_superseded_only_when_a_version_was_named_and_the_file_changed(tmp_path):
    pool = tmp_path / "p.jsonl"
    pool.write_text('{"text": "a"}\n')
    now = current_version(str(pool))
    assert superseded_by(str(pool), now) is None and superseded_by(str(pool), "") is None
    assert superseded_by(str(pool), "12-34") == now
    assert current_version(str(tmp_path)) is None and current_version(str(tmp_path / "*.jsonl")) is None


def test_outcomes_name_why_a_pool_was_left_alone():
    assert left_alone("superseded by version 9-9 (...)") == "Superseded"
    assert left_alone("already curated by run curate-pools-x") == "AlreadyCurated"
    assert left_alone("/runs/pool-1234/20261206T000000Z") is None
