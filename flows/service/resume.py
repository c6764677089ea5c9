"""Runs a previous `curate serve` left interrupted (killed, or stopped with SIGTERM) are scheduled
again when it starts, as the same runs; a process such a run left behind on this host is killed first."""

from __future__ import annotations

import os

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
