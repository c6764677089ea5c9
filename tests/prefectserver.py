"""A real Prefect server for tests: `prefect server start` on a free loopback port, no telemetry; its
database SQLite under its home, or a PostgreSQL database (tests/postgres.py) where one is given."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(home: Path) -> dict[str, str]:
    """A process environment of its own: Prefect home (and so its SQLite database) under `home`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    return {
        **env,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PYTHONWARNINGS": "ignore",
    }


@contextmanager
def prefect_server(home: Path, database: str | None = None, startup_timeout: float = 90, port: int | None = None):
    """Start the server (API and UI) and yield its base URL, e.g. http://127.0.0.1:PORT. `database`:
    an SQLAlchemy URL (postgresql+asyncpg://...); None for SQLite in `home`, kept across restarts.
    `port`: the one it listened on before a restart (its clients keep their URL); a free one if None."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    log = open(log_path, "w")
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        # The UI asks its API at PREFECT_UI_API_URL, which would otherwise default to port 4200.
        env={
            **server_env(home),
            "PREFECT_API_DATABASE_CONNECTION_URL": database or f"sqlite+aiosqlite:///{home / 'prefect.db'}",
            # Leases on disk under `home`, as infra/docker-compose.yml keeps them: a restart keeps them.
            "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
            "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
        },
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not answer within {startup_timeout} s:\n{log_path.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        stop(process)
        log.close()


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Ask a process to end; kill it if it has not within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
