"""Which runs a restarted `curate serve` takes for interrupted, the orphaned process it kills
(a real child process), and what it asks the server to do (a client that records the calls)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from types import SimpleNamespace

import pytest
from prefect.states import Cancelled, Cancelling, Completed, Crashed, Failed, Pending, Running, Scheduled

from curation.tempfiles import process_alive
from flows.service.resume import SHUTDOWN_MESSAGE, interrupted, resume_interrupted, stop_orphan


@pytest.mark.parametrize(
    "state,expected",
    [
        (Crashed(), True),
        (Running(), True),
        (Pending(), True),
        (Cancelling(), True),
        (Cancelled(message=SHUTDOWN_MESSAGE), True),  # stopped with the service (SIGTERM)
        (Cancelled(message="cancelled by a user"), False),  # a user's cancel stays
        (Completed(), False),
        (Failed(), False),
        (Scheduled(), False),
        (None, False),
    ],
)
def test_interrupted_runs_are_those_the_service_left_unfinished(state, expected):
    assert interrupted(SimpleNamespace(state=state)) is expected


@pytest.fixture
def child():
    """A real process of our own, as a run's process left behind by a killed `curate serve`."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


def test_an_orphaned_run_process_on_this_host_is_killed(child):
    stop_orphan(f"{socket.gethostname()}:{child.pid}")
    assert child.wait(timeout=30) == -signal.SIGKILL


@pytest.mark.parametrize("recorded", ["other-host:{pid}", "{pid}", "{host}:", "{host}:not-a-pid", "", None])
def test_a_process_elsewhere_or_not_named_is_left_alone(child, recorded):
    stop_orphan(recorded and recorded.format(host=socket.gethostname(), pid=child.pid))
    assert child.poll() is None and process_alive(child.pid)


def test_the_serving_process_itself_and_a_gone_process_are_left_alone(child):
    stop_orphan(f"{socket.gethostname()}:{os.getpid()}")  # still here to assert
    child.kill()
    child.wait(timeout=30)
    assert not process_alive(child.pid)
    stop_orphan(f"{socket.gethostname()}:{child.pid}")  # gone already: nothing to do, no error


class RecordingClient:
    """The sync Prefect client's two calls `resume_interrupted` makes, recorded."""

    def __init__(self, runs):
        self.runs, self.read, self.set = runs, [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def read_flow_runs(self, **filters):
        self.read.append(filters)
        return self.runs

    def set_flow_run_state(self, run_id, state, force=False):
        self.set.append((run_id, state, force))


def test_interrupted_runs_are_scheduled_again_as_the_same_runs_their_orphans_killed(child, monkeypatch):
    import prefect.client.orchestration

    here = socket.gethostname()
    runs = [
        SimpleNamespace(id="r1", name="crashed-run", state=Crashed(), infrastructure_pid=f"{here}:{child.pid}"),
        SimpleNamespace(
            id="r2", name="stopped-run", state=Cancelled(message=SHUTDOWN_MESSAGE), infrastructure_pid=None
        ),
        SimpleNamespace(id="r3", name="user-cancel", state=Cancelled(message="by a user"), infrastructure_pid=None),
    ]
    client = RecordingClient(runs)
    monkeypatch.setattr(prefect.client.orchestration, "get_client", lambda sync_client: client)

    assert resume_interrupted(["nightly", "pool-landed"]) == ["crashed-run", "stopped-run"]
    assert child.wait(timeout=30) == -signal.SIGKILL  # killed before its run starts again
    (filters,) = client.read
    assert filters["flow_filter"].name.any_ == ["curate-pools"]
    assert filters["deployment_filter"].name.any_ == ["nightly", "pool-landed"]
    asked = {t.value for t in filters["flow_run_filter"].state.type.any_}
    assert asked == {"CRASHED", "RUNNING", "PENDING", "CANCELLING", "CANCELLED"}
    assert [(run_id, state.type.value, force) for run_id, state, force in client.set] == [
        ("r1", "SCHEDULED", True),
        ("r2", "SCHEDULED", True),
    ]
    assert all(state.message == "interrupted: resumed by curate serve" for _, state, _ in client.set)
