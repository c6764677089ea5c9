"""A device slot a crash cannot keep: a run killed with kill -9 while its scoring holds the slot of
a global concurrency limit frees it when its lease runs out, and a second run waiting for the slot
starts scoring then, with no hand reset. A real `prefect server start` on PostgreSQL (its
repossessor frees expired leases) and real processes."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import REPO, make_feature_rows
from polling import stays, wait_for
from prefectserver import prefect_server, server_env, stop

from tasks.slots import LEASE_S

pytestmark = pytest.mark.service
SLOT = "test-gpu"  # a CPU stands in for the GPU: the runs name the limit themselves
REPOSSESSOR_S = 15  # how often the server frees expired leases


HOLDER = f"""
import time
from prefect import flow
from tasks.slots import device_slot

@flow(name="holds-the-slot")
def long_scoring() -> None:  # a run whose scoring holds the slot far longer than the test waits
    with device_slot({SLOT!r}, 0, "score"):
        time.sleep(3600)

long_scoring()
"""


def test_a_run_killed_holding_the_slot_frees_it_within_the_lease(prefect_database, tmp_path):
    """The first process is a flow run whose score stage holds the slot through tasks/slots.py and
    never ends; the second a real `curate run` that asks for the same slot and waits."""
    rng = np.random.default_rng(3)
    rule = rng.normal(size=(6, 3))
    for name, rows in (("validation", 100), ("pool", 300)):
        make_feature_rows(rng, rule, rows).to_parquet(tmp_path / f"{name}.parquet")
    with prefect_server(tmp_path / "server", prefect_database) as server:
        env = {**server_env(tmp_path / "home"), "PREFECT_API_URL": f"{server}/api", "PYTHONFAULTHANDLER": "1"}

        def start(log: str, command: list[str]) -> subprocess.Popen:
            out = open(tmp_path / log, "w")  # noqa: SIM115  (the process writes it until it ends)
            return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

        said = lambda log: (tmp_path / log).read_text()  # noqa: E731
        first, second = start("first.log", [sys.executable, "-c", HOLDER]), None
        try:
            wait_for(lambda: f"score: holding a slot of '{SLOT}'" in said("first.log"), 120, "the first run's slot",
                     first, tmp_path / "first.log")  # fmt: skip
            second = start("second.log", [
                sys.executable, "-m", "flows.cli", "run", "--device-slot", SLOT, "--skip-finetune",
                "--pool", str(tmp_path / "pool.parquet"), "--validation", str(tmp_path / "validation.parquet"),
                "--model", "linear", "--method", "lossdrop", "--budget", "50", "--out", str(tmp_path / "second"),
                "--cache", str(tmp_path / "cache"),
            ])  # fmt: skip
            wait_for(lambda: f"score: waiting for a slot of '{SLOT}'" in said("second.log"), 300,
                     "the second run to ask for the slot", second, tmp_path / "second.log")  # fmt: skip
            stays(lambda: "holding a slot" not in said("second.log"), 5, "the second run waiting", second)
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            first.wait(timeout=30)
            wait_for(lambda: f"score: holding a slot of '{SLOT}'" in said("second.log"), LEASE_S + 120,
                     "the second run to get the dead run's slot", second, tmp_path / "second.log")  # fmt: skip
            waited = time.monotonic() - killed
            assert second.wait(timeout=300) == 0, said("second.log")[-3000:]
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    stop(process)
    print(f"kill -9 to the second run's scoring start: {waited:.1f} s")
    assert 1 < waited <= LEASE_S + REPOSSESSOR_S + 30  # freed by the lease running out, not by hand
