"""`curate serve`: the deployments registered and served from this process, the runs a previous
`curate serve` left interrupted resumed first, and (with `--watch`) the watcher in a thread beside them.
One `curate serve` per server: a second one stands by until the first stops (`serving_lease`)."""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Iterator

from curation.config import ServiceConfig
from flows.service.automations import install_automations
from flows.service.deployments import service_deployments
from flows.service.resume import resume_interrupted
from flows.service.watch_state import watch_state_for

SERVE_LIMIT = "curate-serve"
SERVE_LEASE_S = 60  # the server's shortest lease


def serve(config: ServiceConfig) -> None:
    """Register the deployments with the server and run their flow runs from this process, once this
    process holds the server's serving lease."""
    require_server("serve")
    with serving_lease():
        serve_deployments(config)


def serve_deployments(config: ServiceConfig) -> None:
    """Resume what a previous `curate serve` left interrupted, install the automations, start the
    watcher, then run the deployments' flow runs until stopped."""
    from prefect import serve as prefect_serve

    deployments = service_deployments(config)
    for name in resume_interrupted([deployment.name for deployment in deployments]):
        print(f"resuming run {name}: a previous curate serve left it interrupted", flush=True)
    # A run that crashes while this process serves (its process died: say the server restarted under it,
    # measured in benchmarks/burst.py) is scheduled again by the server; drift pauses a deployment.
    install_automations()
    if config.watch_prefix:
        start_watcher(config)
    # pause_on_shutdown=False: a stopped service leaves the nightly schedule on, so a night missed
    # while it was down runs when it comes back (late), as an interrupted run does.
    prefect_serve(*deployments, limit=config.runs_at_once, pause_on_shutdown=False)


@contextmanager
def serving_lease() -> Iterator[None]:
    """One `curate serve` per server: the one slot of the global concurrency limit `curate-serve`,
    held under a lease renewed while it serves. A second `curate serve` stands by (says so, touches
    no run) until the first stops: a clean stop releases the lease at once, a `kill -9` when the
    lease runs out (SERVE_LEASE_S and the server's 15-s sweep)."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    from tasks.slots import ensure_limit

    with get_client(sync_client=True) as client:
        ensure_limit(client, SERVE_LIMIT)
        if client.read_global_concurrency_limit_by_name(SERVE_LIMIT).active_slots >= 1:
            print(
                f"standing by: another curate serve holds the lease {SERVE_LIMIT!r} on this server; "
                "this one takes over when it stops",
                flush=True,
            )
    with concurrency(SERVE_LIMIT, occupy=1, lease_duration=SERVE_LEASE_S, strict=True,
                     raise_on_lease_renewal_failure=False):  # fmt: skip
        print(f"holding the lease {SERVE_LIMIT!r}: serving", flush=True)
        yield


def start_watcher(config: ServiceConfig) -> threading.Thread:
    """`curate serve --watch`: the watcher in a daemon thread beside the served runs, listing every
    `--watch-every` seconds whatever the runs do (as a deployment it would wait for a run slot:
    measured in benchmarks/RESULTS.md). A state file of another prefix stops `serve` first."""
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
