"""Temporary files of a process, and the sweep that removes those of processes that died.

Every temporary folder a run makes (validated pool parts, a warmup being saved or loaded) lives
in one folder per process, `<tmp>/curate-run-<pid>-<random>/`, which also records the pid of a
temporary Prefect server the process started. It is removed when the process ends normally or
on SIGINT/SIGTERM; after a kill -9 nothing runs, so every run first sweeps the folders whose
owner process is gone, stopping the server they name if it is still up.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import tempfile
import threading
from contextlib import contextmanager
from typing import Iterator

RUN_DIR = re.compile(r"^curate-run-(\d+)-")
_lock = threading.Lock()
_run_dir: str | None = None


def process_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_dir() -> str:
    """This process's temporary folder (made on first use, removed at exit)."""
    global _run_dir
    with _lock:
        if _run_dir is None or not os.path.isdir(_run_dir):
            _run_dir = tempfile.mkdtemp(prefix=f"curate-run-{os.getpid()}-")
            atexit.register(remove_run_dir)
        return _run_dir


def remove_run_dir() -> None:
    global _run_dir
    with _lock:
        if _run_dir is not None:
            shutil.rmtree(_run_dir, ignore_errors=True)
            _run_dir = None


def make_temp_dir(purpose: str) -> str:
    """A new folder under this process's temporary folder; the caller removes it."""
    return tempfile.mkdtemp(prefix=f"{purpose}-", dir=run_dir())


@contextmanager
def temporary_dir(purpose: str) -> Iterator[str]:
    path = make_temp_dir(purpose)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def record_server(pid: int) -> None:
    """Note the temporary Prefect server this process started, for the sweep after a kill -9."""
    with open(os.path.join(run_dir(), "server.json"), "w") as handle:
        json.dump({"pid": pid}, handle)


def _is_our_server(pid: int) -> bool:
    """Whether pid still runs a Prefect API server (and is not a process that reused the pid)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ")
    except OSError:
        return False
    return b"uvicorn" in command and b"prefect.server" in command


def sweep_stale() -> list[str]:
    """Remove the temporary folders (and stop the servers) of curate processes that are gone."""
    removed = []
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        match = RUN_DIR.match(name)
        if not match or process_alive(int(match.group(1))):
            continue
        path = os.path.join(root, name)
        try:
            with open(os.path.join(path, "server.json")) as handle:
                server = int(json.load(handle)["pid"])
            if _is_our_server(server):
                os.kill(server, signal.SIGTERM)
        except (OSError, ValueError, KeyError, TypeError):
            pass
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed
