"""The deployments `curate serve` builds from a `ServiceConfig`: names, schedule, trigger and the
parameters every run gets (built, not registered: no server)."""

from __future__ import annotations

import pytest

from curation.config import ServiceConfig
from flows.service.deployments import POOL_TEMPLATE, VERSION_TEMPLATE, flow_parameters, service_deployments, watch_pools
from flows.service.watch_state import default_watch_state
from flows.watch import EVENT


def config(**options) -> ServiceConfig:
    return ServiceConfig(validation="s3://b/v.parquet", model="linear", budget=5, out_root="s3://b/runs", **options)


def test_every_run_gets_the_out_root_and_the_shared_settings():
    parameters = flow_parameters(config(seed=3, pools=["s3://b/p.parquet"]))
    assert set(parameters) == {"out_root", "settings"} and parameters["out_root"] == "s3://b/runs"
    settings = parameters["settings"]
    assert settings["validation"] == "s3://b/v.parquet" and settings["seed"] == 3 and settings["budget"] == 5
    assert "pools" not in settings and "out_root" not in settings  # service options are not run settings


def test_pools_to_curate_nightly_add_the_nightly_deployment_on_its_cron():
    nightly, landed = service_deployments(
        config(pools=["s3://b/p.parquet", "s3://b/q.parquet"], cron="30 3 * * 1", timezone="Europe/Berlin")
    )
    assert (nightly.name, landed.name) == ("nightly", "pool-landed")
    assert nightly.entrypoint.endswith("flows/pools.py:curate_pools")
    (schedule,) = nightly.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone, schedule.active) == (
        "30 3 * * 1",
        "Europe/Berlin",
        True,
    )
    assert nightly.parameters["pools"] == ["s3://b/p.parquet", "s3://b/q.parquet"] and not nightly.triggers
    assert nightly.parameters["settings"] == flow_parameters(config())["settings"]
    assert nightly.tags == ["curation", "nightly"] and "Curate 2 pools" in nightly.description


@pytest.mark.parametrize("prefix,match", [("s3://b/landing/", {"prefect.resource.id": "s3://b/landing/*"}), (None, {})])
def test_pool_landed_runs_on_the_landed_event_for_pools_under_the_watched_prefix(prefix, match):
    (landed,) = service_deployments(config(watch_prefix=prefix))  # no pools: no nightly
    assert landed.name == "pool-landed" and not landed.schedules
    (trigger,) = landed.triggers
    assert trigger.expect == {EVENT} and trigger.match.root == match
    assert trigger.parameters == {"pools": [POOL_TEMPLATE], "version": VERSION_TEMPLATE}
    assert landed.parameters == flow_parameters(config()) and "pools" not in landed.parameters


def test_the_watcher_deployment_lists_on_its_interval_into_the_default_state():
    built = config(watch_prefix="s3://b/landing/", watch_every_s=60)
    watcher = watch_pools(built)
    assert watcher.name == "watch-pools" and watcher.entrypoint.endswith("flows/watch.py:watch_pools")
    assert watcher.schedules[0].schedule.interval.total_seconds() == 60
    assert watcher.parameters == {
        "prefix": "s3://b/landing/",
        "state": default_watch_state("s3://b/landing", "s3://b/runs"),
    }
    assert "pool-landed run per new pool version" in watcher.description
    named = watch_pools(built.model_copy(update={"watch_state": "s3://b/state.json"}))
    assert named.parameters["state"] == "s3://b/state.json"
