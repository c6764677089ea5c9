"""How a `curate` command starts, talks to Prefect, and ends: one line and an exit code per failure.

- The Prefect API: the one `PREFECT_API_URL` names, checked reachable first (exit 3 if not), or a
  temporary server this process starts and stops. Prefect's own temporary server outlives a
  killed parent and gives up after 20 s on a cold database; this one dies with its parent
  (PR_SET_PDEATHSIG), is recorded for the sweep of `curation.tempfiles`, and waits 120 s.
- Signals: SIGTERM is turned into an exception like SIGINT's KeyboardInterrupt, so the flow's
  clean-up runs (staged outputs removed, temporary folders deleted, the server stopped) before
  the command exits 143 (130 for SIGINT).
- The console: Prefect echoes a failing task's and flow's exception (with tracebacks) on its
  way out; those echoes are dropped from the terminal, the run's logs in the Prefect API keep
  them, and the command prints the error once, as the last line of stderr.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from typing import Iterator

from curation.errors import EnvironmentFault, InputError, environment_fault, exception_chain
from curation.tempfiles import record_server, run_dir

SERVER_START_TIMEOUT_S = 120
API_CHECKS = (0.0, 1.0, 2.0)  # seconds before each attempt to reach a given PREFECT_API_URL


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that clean-up runs as for Ctrl-C."""


def _on_sigterm(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not interrupt the clean-up
    raise Terminated()


def _on_unraisable(unraisable) -> None:
    """A SIGTERM's exception raised inside a callback Python cannot raise from (the import lock's
    weakref callback, a `__del__`) is only printed, and the command would go on to finish: raise it
    again 50 ms later, where the main thread runs ordinary code. Outside a flow run it is our
    Terminated; inside one, Prefect's own handler raises its TerminationSignal."""
    exception = unraisable.exc_value
    if isinstance(exception, Terminated) or type(exception).__name__ == "TerminationSignal":

        def again(signum, frame):
            raise exception

        signal.signal(signal.SIGALRM, again)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        return
    sys.__unraisablehook__(unraisable)


def install_signal_handlers() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.unraisablehook = _on_unraisable


# --- the Prefect API ----------------------------------------------------------------------------
def _die_with_parent() -> None:  # runs in the child between fork and exec
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(api_url: str, timeout: float = 5.0) -> str | None:
    """None if the API answers its health check, else why not."""
    import httpx

    try:
        response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as err:
        return f"{type(err).__name__}: {err}"
    return None if response.status_code == 200 else f"HTTP {response.status_code}"


def check_api(api_url: str) -> None:
    """EnvironmentFault unless the Prefect API answers within a few attempts."""
    problem = None
    for delay in API_CHECKS:
        time.sleep(delay)
        problem = _healthy(api_url)
        if problem is None:
            return
    raise EnvironmentFault(
        f"cannot reach the Prefect API at {api_url} after {len(API_CHECKS)} tries ({problem}); "
        "start it (prefect server start) or unset PREFECT_API_URL to use a temporary server"
    )


@contextmanager
def prefect_api() -> Iterator[str]:
    """The API every flow of this command reports to: the configured one, or a temporary server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    configured = PREFECT_API_URL.value()
    if configured:
        check_api(configured)
        yield configured
        return
    port = _free_port()
    log_path = os.path.join(run_dir(), "prefect-server.log")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _server_command(port),
            env=_server_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    record_server(process.pid)
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while _healthy(api_url, timeout=2.0) is not None:
            if process.poll() is not None or time.monotonic() > deadline:
                with open(log_path, errors="replace") as handle:
                    tail = " | ".join(handle.read().strip().splitlines()[-3:])
                raise EnvironmentFault(
                    f"the temporary Prefect server did not start ({tail or 'no output'}); "
                    "run `prefect server start` and set PREFECT_API_URL"
                )
            time.sleep(0.2)
        with temporary_settings({PREFECT_API_URL: api_url}):
            try:
                yield api_url
            finally:
                _drain_prefect_workers()  # logs and events still queued go out while the server is up
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _drain_prefect_workers(timeout_s: float = 10.0) -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        try:
            worker.drain_all(timeout=timeout_s)
        except Exception:  # noqa: BLE001  best effort: the run's outcome is already decided
            pass


def _server_command(port: int) -> list[str]:
    """Prefect's own temporary-server command (prefect.server.api.server.SubprocessASGIServer)."""
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _server_env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    return {
        **os.environ,
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
        **get_current_settings().to_environment_variables(exclude_unset=True),
    }


# --- the console ---------------------------------------------------------------------------------
_ECHOES = (
    "Encountered exception during execution",
    "Task run failed with exception",
    "Finished in state Failed",
    "Finished in state Crashed",
    "Crash detected",
)


class _OneLineErrors(logging.Filter):
    """Keep Prefect's progress lines; drop its echoes of a failure and every traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(_ECHOES):
            return False
        record.exc_info, record.exc_text = None, None
        return True


def quiet_console() -> None:
    """Apply `_OneLineErrors` to the handlers that print to the terminal."""
    for name in ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.engine", ""):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.addFilter(_OneLineErrors())


def exit_code_for(err: BaseException) -> tuple[int, str]:
    """(exit code, the one line to print) for an exception that ended a command."""
    code, message = _exit_code_for(err)
    return code, " | ".join(line.strip() for line in message.splitlines() if line.strip())


def _exit_code_for(err: BaseException) -> tuple[int, str]:
    # A signal first, wherever it sits in the chain: during a flow run Prefect's own SIGTERM
    # handler raises its TerminationSignal, and Prefect may fail while handling it (a ValueError
    # "Task run is not set" when the signal lands as a task run is created).
    for link in exception_chain(err):
        if isinstance(link, KeyboardInterrupt):
            return 130, "curate: interrupted (SIGINT); temporary files removed, no outputs published"
        if isinstance(link, Terminated) or type(link).__name__ == "TerminationSignal":
            return 143, "curate: terminated (SIGTERM); temporary files removed, no outputs published"
    if isinstance(err, InputError):
        return err.exit_code, f"curate: error: {err}"
    fault = environment_fault(err)
    if fault is not None:
        return fault.exit_code, f"curate: error: {fault}"
    # A bug: the traceback goes to a file that outlives this process, the terminal gets one line.
    from curation.config import default_cache_dir

    log = os.path.expanduser(os.environ.get("CURATE_ERROR_LOG_DIR") or os.path.join(default_cache_dir(), "errors"))
    try:
        os.makedirs(log, exist_ok=True)
        path = os.path.join(log, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log")
        with open(path, "w") as handle:
            traceback.print_exception(err, file=handle)
        where = f"; traceback in {path}"
    except OSError:
        where = ""
    return 1, f"curate: internal error: {type(err).__name__}: {err}{where}"
