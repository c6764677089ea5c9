"""The service's deployments, in code: `nightly`, `pool-landed` and (optionally) `watch-pools`.

`curate serve` builds them from its options and serves them from one process (a laptop setup);
`infra/prefect.yaml` declares the same three for workers of a self-hosted stack.

- `nightly` runs `curate-pools` on a cron schedule (02:00 UTC by default) over the configured pools;
- `pool-landed` runs it for one pool when a `curation.pool.landed` event arrives: the pool URL is
  the event's resource id, templated into the run's parameters;
- `watch-pools` runs the watcher on an interval: one `pool-landed` run per new pool version, created
  with an idempotency key (flows/watch.py). `infra/prefect.yaml` deploys it for workers; `curate
  serve --watch` runs the watcher in a thread of its own instead (`start_watcher`), so it never
  queues behind a curation run for the process's run slots and leaves no flow run per listing.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from typing import Any

from curation.config import ServiceConfig, default_cache_dir

POOL_TEMPLATE = "{{ event.resource.id }}"
VERSION_TEMPLATE = "{{ event.payload.version }}"


def flow_parameters(config: ServiceConfig) -> dict[str, Any]:
    """The `curate-pools` parameters every deployment shares."""
    return {"out_root": config.out_root, "settings": config.settings().model_dump(mode="json")}


def default_watch_state(prefix: str, out_root: str | None, cache: str | None = None) -> str:
    """One state file per watched prefix, named by the prefix without its trailing slash (so
    `s3://b/landing` and `s3://b/landing/` share it): beside the service's outputs
    (`<out-root>/watch-state/`), not in a cache one clears; under the cache without an out-root."""
    digest = hashlib.sha256(prefix.rstrip("/").encode()).hexdigest()[:16]
    if out_root:
        return f"{out_root.rstrip('/')}/watch-state/{digest}.json"
    return f"{(cache or default_cache_dir()).rstrip('/')}/watch/{digest}.json"


def watch_state_for(prefix: str, out_root: str | None, cache: str | None) -> str:
    """The default state file, started from an older watcher's state where one exists."""
    state = default_watch_state(prefix, out_root, cache)
    adopt_legacy_state(state, prefix, cache)
    return state


def adopt_legacy_state(state: str, prefix: str, cache: str | None) -> None:
    """A watcher upgraded from the state under the cache (named by the literal prefix) starts from it:
    without it, every pool already under the prefix would be curated again (their old runs carry no
    idempotency key the server could answer with)."""
    from curation.storage import exists, read_json, write_json_atomic

    if exists(state):
        return
    for literal in (prefix, prefix.rstrip("/"), prefix.rstrip("/") + "/"):
        digest = hashlib.sha256(literal.encode()).hexdigest()[:16]
        legacy = f"{(cache or default_cache_dir()).rstrip('/')}/watch/{digest}.json"
        if exists(legacy):
            write_json_atomic(state, read_json(legacy))
            return


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
        description=f"Emit a pool-landed event per new pool object under {config.watch_prefix}.",
    )


def service_deployments(config: ServiceConfig) -> list:
    """The deployments `curate serve` runs: nightly when pools are configured, pool-landed always
    (the watcher, with `--watch`, runs beside them: `start_watcher`)."""
    deployments = [pool_landed(config)]
    if config.pools:
        deployments.insert(0, nightly(config))
    return deployments


def start_watcher(config: ServiceConfig) -> threading.Thread:
    """`curate serve --watch`: the watcher in a daemon thread beside the served runs, listing every
    `--watch-every` seconds whatever the runs do (as a deployment it would wait for a run slot:
    measured in benchmarks/RESULTS.md, issue 15). A state file of another prefix stops `serve` first."""
    from flows.watch import WatchHooks, load_state, watch

    prefix = config.watch_prefix
    state = config.watch_state or watch_state_for(prefix, config.out_root, config.cache)
    load_state(state, prefix)  # an InputError (exit 2) now, not a silent thread later

    def failed(err: Exception) -> None:
        print(f"curate serve: watcher: listing or starting failed, retrying in {config.watch_every_s} s: {err}",
              file=sys.stderr, flush=True)  # fmt: skip

    hooks = WatchHooks(on_start=lambda said: print(*said, sep="\n", flush=True) if said else None, on_error=failed)
    thread = threading.Thread(
        target=watch, args=(prefix, state, config.watch_every_s, hooks), name="pool-watcher", daemon=True
    )
    thread.start()
    return thread


def require_server(command: str) -> str:
    """The API URL of a running Prefect server; events and schedules need one that outlives us."""
    from prefect.settings import PREFECT_API_URL

    from curation.errors import InputError

    url = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not url:
        raise InputError(
            f"`curate {command}` needs a running Prefect server: start one with "
            "`prefect server start` and set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)",
            field="PREFECT_API_URL",
        )
    return url


SHUTDOWN_MESSAGE = "Runner is shutting down."  # how Prefect's runner cancels its runs on SIGTERM
INTERRUPTED = ("CRASHED", "RUNNING", "PENDING", "CANCELLING")


def interrupted(run) -> bool:
    """A run of this service's deployments that its process left unfinished: crashed, cancelled by
    the service's shutdown (not by a user), or still marked running or pending. Served deployments
    run only in the process serving them, so at its start none of its runs can be in progress."""
    state = run.state
    if state is None:
        return False
    return state.type.value in INTERRUPTED or (state.type.value == "CANCELLED" and state.message == SHUTDOWN_MESSAGE)


def stop_orphan(recorded: str | None) -> None:
    """Kill the process a run recorded (`host:pid`, flows/pools.py) if it still lives on this host:
    `kill -9` of `curate serve` leaves its runs' processes running, and the run is about to start again."""
    import signal
    import socket

    from curation.tempfiles import process_alive

    host, _, pid = (recorded or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and process_alive(int(pid)):
        os.kill(int(pid), signal.SIGKILL)


def resume_interrupted(names: list[str]) -> list[str]:
    """Schedule again, at once, the runs of the deployments `names` that a previous `curate serve`
    left interrupted (killed, or stopped with SIGTERM): each is the same run (its idempotency key
    kept), and it resumes from the caches (θT and the row scores already computed). Returns their names."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.states import Scheduled

    types = [StateType(name) for name in (*INTERRUPTED, "CANCELLED")]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["curate-pools"])),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=names)),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=types))),
        )
        resumed = [run for run in runs if interrupted(run)]
        for run in resumed:
            stop_orphan(run.infrastructure_pid)
            client.set_flow_run_state(run.id, Scheduled(message="interrupted: resumed by curate serve"), force=True)
    return [run.name for run in resumed]


def serve(config: ServiceConfig) -> None:
    """Register the deployments with the server and run their flow runs from this process."""
    from prefect import serve as prefect_serve

    require_server("serve")
    deployments = service_deployments(config)
    for name in resume_interrupted([deployment.name for deployment in deployments]):
        print(f"resuming run {name}: a previous curate serve left it interrupted", flush=True)
    if config.watch_prefix:
        start_watcher(config)
    # pause_on_shutdown=False: a stopped service leaves the nightly schedule on, so a night missed
    # while it was down runs when it comes back (late), as an interrupted run does.
    prefect_serve(*deployments, limit=config.runs_at_once, pause_on_shutdown=False)


RESUME_AUTOMATION = "curate-pools: resume a crashed run"


def resume_crashed_automation():
    """For worker stacks (infra/setup.sh installs it): a `curate-pools` run that crashed (its worker
    or machine died) is scheduled again, as `curate serve` does at its start; it resumes from the
    caches. `curate_pools` refuses a run past MAX_ATTEMPTS, so a run that always crashes stops."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture

    trigger = EventTrigger(
        expect={"prefect.flow-run.Crashed"},
        match_related={"prefect.resource.role": "flow", "prefect.resource.name": "curate-pools"},
        posture=Posture.Reactive,
        threshold=1,
    )
    action = ChangeFlowRunState(state=StateType.SCHEDULED, message="crashed: resumed by an automation")
    return Automation(name=RESUME_AUTOMATION, description=resume_crashed_automation.__doc__, trigger=trigger,
                      actions=[action])  # fmt: skip


def install_automations() -> None:
    """Create the service's automations on the server, replacing those of the same name (idempotent)."""
    from prefect.automations import Automation

    try:
        Automation.read(name=RESUME_AUTOMATION).delete()
    except ValueError:  # none of that name yet
        pass
    resume_crashed_automation().create()


if __name__ == "__main__":  # `python -m flows.deployments`: what infra/setup.sh runs
    install_automations()
