"""The service's deployments, in code: `nightly`, `pool-landed` and (optionally) `watch-pools`.

`curate serve` builds them from its options and serves them from one process (a laptop setup,
flows/service/serve.py); `infra/prefect.yaml` declares the same three for workers of a self-hosted stack.

- `nightly` runs `curate-pools` on a cron schedule (02:00 UTC by default) over the configured pools;
- `pool-landed` runs it for one pool when a `curation.pool.landed` event arrives: the pool URL is
  the event's resource id, templated into the run's parameters;
- `watch-pools` runs the watcher on an interval: one `pool-landed` run per new pool version, created
  directly with an idempotency key (flows/watch.py: it emits no `curation.pool.landed` event).
  `infra/prefect.yaml` deploys it for workers; `curate serve --watch` runs the watcher in a thread of its own instead
  (`start_watcher` in flows/service/serve.py), so it never queues behind a curation run for the
  process's run slots and leaves no flow run per listing.
"""

from __future__ import annotations

from typing import Any

from curation.config import ServiceConfig
from flows.service.watch_state import default_watch_state

POOL_TEMPLATE = "{{ event.resource.id }}"
VERSION_TEMPLATE = "{{ event.payload.version }}"


def flow_parameters(config: ServiceConfig) -> dict[str, Any]:
    """The `curate-pools` parameters every deployment shares."""
    return {"out_root": config.out_root, "settings": config.settings().model_dump(mode="json")}


def nightly(config: ServiceConfig):
    """`curate-pools` over the configured pools on a cron schedule."""
    from prefect.schedules import Cron

    from flows.pools import curate_pools

    return curate_pools.to_deployment(
        "nightly",
        schedules=[Cron(config.cron, timezone=config.timezone)],
        parameters={"pools": config.pools, **flow_parameters(config)},
        tags=["curation", "nightly"],
        description=f"Curate {len(config.pools)} pools against {config.validation} ({config.cron}, {config.timezone}).",
    )


def pool_landed(config: ServiceConfig):
    """`curate-pools` for the one pool a `curation.pool.landed` event names."""
    from prefect.events import DeploymentEventTrigger

    from flows.pools import curate_pools
    from flows.watch import EVENT

    match = {"prefect.resource.id": config.watch_prefix.rstrip("/") + "/*"} if config.watch_prefix else {}
    trigger = DeploymentEventTrigger(
        name="a pool landed",
        expect={EVENT},
        match=match,
        parameters={"pools": [POOL_TEMPLATE], "version": VERSION_TEMPLATE},
    )
    return curate_pools.to_deployment(
        "pool-landed",
        triggers=[trigger],
        parameters=flow_parameters(config),
        tags=["curation", "pool-landed"],
        description=f"Curate a pool when `{EVENT}` names it (resource id = the pool URL).",
    )


def watch_pools(config: ServiceConfig):
    """The watcher on an interval schedule."""
    from flows.watch import watch_pools as watch_flow

    state = config.watch_state or default_watch_state(config.watch_prefix, config.out_root, config.cache)
    return watch_flow.to_deployment(
        "watch-pools",
        interval=config.watch_every_s,
        parameters={"prefix": config.watch_prefix, "state": state},
        tags=["curation", "watcher"],
        description=f"Start one pool-landed run per new pool version under {config.watch_prefix}.",
    )


def service_deployments(config: ServiceConfig) -> list:
    """The deployments `curate serve` runs: nightly when pools are configured, pool-landed always
    (the watcher, with `--watch`, runs beside them: `start_watcher`)."""
    deployments = [pool_landed(config)]
    if config.pools:
        deployments.insert(0, nightly(config))
    return deployments
