"""A real PostgreSQL server for tests: Debian's package, a temporary data directory, loopback only,
a password on every TCP connection (SCRAM), as production has.

Production runs the Prefect server on PostgreSQL (infra/docker-compose.yml); the operations tests
run on it too. PostgreSQL refuses to run as root, so where the tests run as root the server runs
as the package's `postgres` user (setpriv, which execs: the process we hold is the server itself).
`infra/install-system-packages.sh` installs the package where it is missing.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefectserver import free_port, stop

USER = "curation"


@dataclass(frozen=True)
class Postgres:
    """A running server: where it listens, and how to make a database on it."""

    port: int
    bindir: Path
    password: str  # recognisable: the secrets test looks for it in everything the service writes

    def new_database(self) -> str:
        """A database of its own (one per Prefect server), as an SQLAlchemy URL for asyncpg."""
        name = f"prefect_{uuid.uuid4().hex[:12]}"
        self.client("createdb", name)
        return f"postgresql+asyncpg://{USER}:{self.password}@127.0.0.1:{self.port}/{name}"

    def query(self, database: str, sql: str) -> str:
        """One query's rows through psql, as text (`database` as new_database gave it)."""
        return self.client("psql", "-d", database.rpartition("/")[2], "-tAc", sql).strip()

    def client(self, program: str, *args: str) -> str:
        command = [str(self.bindir / program), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, *args]
        env = {**os.environ, "PGPASSWORD": self.password}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout


def operations_database(request) -> str | None:
    """The database for an operations test's Prefect server: a PostgreSQL database of its own on the
    session's server, as production runs it; CURATE_TEST_PREFECT_DB=sqlite runs the same test on
    SQLite (None), which is how the two backends' times are compared."""
    if os.environ.get("CURATE_TEST_PREFECT_DB", "postgresql") == "sqlite":
        return None
    return request.getfixturevalue("postgres").new_database()


def bindir() -> Path:
    """Where Debian's package keeps the server's programs (the newest major version installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run `bash infra/install-system-packages.sh`")
    return Path(found[-1]).parent


def run(command: list) -> None:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")


def as_server_user(command: list) -> list:
    """The command as the `postgres` user when we are root (PostgreSQL will not run as root)."""
    if os.geteuid() != 0:
        return command
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *command]


@contextmanager
def postgres_server(startup_timeout: float = 60):
    """initdb in a fresh folder of /tmp, `postgres` on a free loopback port; removed afterwards."""
    programs = bindir()
    folder = Path(tempfile.mkdtemp(prefix="curation-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
    data, password = folder / "data", f"pg-secret-do-not-log-{uuid.uuid4().hex[:8]}"
    (folder / "password").write_text(password)
    if os.geteuid() == 0:
        shutil.chown(folder / "password", "postgres")
    initdb = [programs / "initdb", "-D", data, "-U", USER, "--pwfile", folder / "password", "-E", "UTF8"]
    run(as_server_user([*initdb, "--auth-host=scram-sha-256", "--auth-local=trust", "--no-sync", "--locale=C"]))
    port = free_port()
    log = open(folder / "server.log", "w")  # noqa: SIM115  (closed below, after the server)
    server = [programs / "postgres", "-D", data, "-h", "127.0.0.1", "-p", port, "-k", folder]
    process = subprocess.Popen(
        [str(part) for part in as_server_user([*server, "-c", "max_connections=300"])],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        ready = [programs / "pg_isready", "-h", "127.0.0.1", "-p", str(port), "-U", USER]  # needs no password
        deadline = time.monotonic() + startup_timeout
        while subprocess.run([str(p) for p in ready], capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start:\n{(folder / 'server.log').read_text()}")
            time.sleep(0.2)
        yield Postgres(port=port, bindir=programs, password=password)
    finally:
        stop(process)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
