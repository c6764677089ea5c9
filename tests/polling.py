"""Waiting in tests without a fixed sleep: poll a condition until it holds, against a deadline
(`wait_for`), or for a while that it keeps holding, failing the first time it does not (`stays`).
A process given is watched too: its exit ends the wait at once, with its log."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any, Callable

POLL_S = 0.5


def log_tail(log: Path | None) -> str:
    return log.read_text()[-4000:] if log else ""


def wait_for(
    condition: Callable[[], Any],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> Any:
    """What `condition()` returns once it is truthy, polled every POLL_S seconds for at most `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited while waiting for {what}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log_tail(log)}")
        time.sleep(POLL_S)


def stays(
    condition: Callable[[], Any],
    for_s: float,
    what: str,
    process: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    """Poll `condition()` every POLL_S seconds for `for_s` seconds; fail as soon as it is falsy
    (say, a second run appeared), not only when the time is up."""
    started = time.monotonic()
    while True:
        if not condition():
            raise AssertionError(f"{what}: no longer so after {time.monotonic() - started:.1f} s\n{log_tail(log)}")
        if process is not None and process.poll() is not None:
            raise AssertionError(f"process exited while checking {what}:\n{log_tail(log)}")
        if time.monotonic() - started >= for_s:
            return
        time.sleep(POLL_S)
