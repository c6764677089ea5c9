"""`curate serve`: the deployments registered and served from this process, the runs a previous
`curate serve` left interrupted resumed first, and (with `--watch`) the watcher in a thread beside them."""

from __future__ import annotations

import os
import sys
import threading

from curation.config import ServiceConfig
from flows.service.automations import install_automations
from flows.service.deployments import service_deployments
from flows.service.resume import resume_interrupted
from flows.service.watch_state import watch_state_for


def serve(config: ServiceConfig) -> None:
    """Register the deployments with the server and run their flow runs from this process."""
    from prefect import serve as prefect_serve

    require_server("serve")
    deployments = service_deployments(config)
    for name in resume_interrupted([deployment.name for deployment in deployments]):
        print(f"resuming run {name}: a previous curate serve left it interrupted", flush=True)
    install_automations(resume=False)  # this process resumes interrupted runs itself; drift pauses a deployment
    if config.watch_prefix:
        start_watcher(config)
    # pause_on_shutdown=False: a stopped service leaves the nightly schedule on, so a night missed
    # while it was down runs when it comes back (late), as an interrupted run does.
    prefect_serve(*deployments, limit=config.runs_at_once, pause_on_shutdown=False)


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
