"""Shared fixtures: one real Prefect test harness per session, tiny models and tiny data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
# The SQLite server's task-run recorder holds the database's write lock while it records task
# runs for the UI, and a task's first tag-concurrency lease of each flow run waits ~2 s behind it
# (benchmarks/RESULTS.md). No test reads task-run records, and hundreds of short flow runs would
# spend minutes waiting; flow runs, artifacts, events and deployments are unaffected.
os.environ.setdefault("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One torch thread per xdist worker: two workers on two cores with torch's default two threads
    # each oversubscribe the cores, and on a loaded machine the tiny model's pretraining fixture took
    # 189 s instead of 2.5 s. The command-line runs the tests start are processes of their own.
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """Tiers by what a test needs: a Prefect API (the flow or the CLI end to end) is `e2e`, the S3
    server `s3`; tests/service/ marks itself `service` (a real server) and `browser`. The fast
    tier is `pytest -m "not e2e and not service"`."""
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        if needs & {"prefect_api_url", "curate_cli"}:
            item.add_marker(pytest.mark.e2e)
        if needs & {"s3", "s3_env"}:
            item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def prefect_api_url():
    """A real Prefect API (the test harness: server in a subprocess, SQLite) for the session."""
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield PREFECT_API_URL.value()


@pytest.fixture
def curate_cli(prefect_api_url, tmp_path):
    """Run the real `curate` console script in a new process against the session's Prefect API."""

    def run(*args: str, check: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        env = {
            **os.environ,
            "PREFECT_API_URL": prefect_api_url,
            "PREFECT_HOME": str(tmp_path / "prefect"),
            "PYTHONWARNINGS": "ignore",
            "PYTHONFAULTHANDLER": "1",  # a native abort prints every thread's stack
            **(env or {}),
        }
        result = subprocess.run(
            [sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
        )
        if check and result.returncode != 0:
            raise AssertionError(f"curate {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    return run


# --- feature rows ----------------------------------------------------------------------------
def make_feature_rows(rng: np.random.Generator, weights: np.ndarray, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Rows labelled by a fixed linear rule: label = argmax(x @ weights)."""
    x = rng.normal(size=(n, weights.shape[0])) + shift
    return pd.DataFrame({"features": list(x.astype(np.float32)), "label": (x @ weights).argmax(1)})


@pytest.fixture(scope="session")
def labelled_task(tmp_path_factory) -> dict[str, Path]:
    """A 4-class target task; its pool mixes clean rows with wrong-label copies of other rows."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(7)
    weights = rng.normal(size=(8, 4))
    make_feature_rows(rng, weights, 200).to_parquet(root / "validation.parquet")
    make_feature_rows(rng, weights, 1000).to_parquet(root / "test.parquet")
    clean = make_feature_rows(rng, weights, 1200).assign(source="clean")
    noisy = make_feature_rows(rng, weights, 1200).assign(source="wrong-label")
    noisy["label"] = (noisy["label"] + rng.integers(1, 4, len(noisy))) % 4
    pool = pd.concat([clean, noisy]).sample(frac=1.0, random_state=0).reset_index(drop=True)
    pool.insert(0, "id", [f"row-{i:05d}" for i in range(len(pool))])
    pool.to_parquet(root / "pool.parquet")
    pool.iloc[:1200].to_parquet(root / "pool_first_half.parquet")
    pool.iloc[1200:].to_parquet(root / "pool_second_half.parquet")
    return {
        name: root / f"{name}.parquet" for name in ("validation", "test", "pool", "pool_first_half", "pool_second_half")
    }


# --- text rows and a tiny causal LM -------------------------------------------------------------
def label_runs(tokenizer, labels) -> list[str]:
    """The labelled stretches of a row's labels, each decoded: what a chat row's loss covers."""
    from curation.formats.base import IGNORE

    runs, current = [], []
    for label in [*labels, IGNORE]:
        if label == IGNORE and current:
            runs.append(tokenizer.decode(current))
            current = []
        elif label != IGNORE:
            current.append(label)
    return runs


WEB = [
    "The HTTP client sends a request line, headers and an optional body to the server.",
    "A URL is split into scheme, network location, path, query and fragment.",
    "The server answers with a status code such as 200 or 404 and response headers.",
    "Cookies are set by the server in a header and returned by the client later.",
    "A redirect tells the client to fetch the resource from another location.",
    "Query strings carry key and value pairs separated by ampersands.",
]
MATH = [
    "The square root of a negative number is not a real number.",
    "A fraction is reduced by dividing numerator and denominator by their gcd.",
    "The mean of a sample is the sum of its values divided by their count.",
    "Factorials grow faster than any exponential function with a fixed base.",
    "The logarithm of a product is the sum of the logarithms.",
    "A prime number has exactly two distinct positive divisors.",
]


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    """A 1-layer, 32-wide GPT-2 with a BPE tokenizer trained here on a few sentences."""
    from curation.tinylm import build_model

    directory = tmp_path_factory.mktemp("tiny-lm") / "model"
    return build_model(
        str(directory),
        WEB + MATH,
        vocab_size=300,
        layers=1,
        width=32,
        heads=2,
        context=64,
        pretrain_steps=300,
        batch_size=8,
        lr=1e-2,
    )


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    """A 1-layer, 32-wide Llama-style model (q/k/v/o and gated-MLP projections), lightly pretrained."""
    from curation.tinylm import build_model

    directory = tmp_path_factory.mktemp("tiny-llama") / "model"
    return build_model(
        str(directory), WEB + MATH, vocab_size=300, layers=1, width=32, heads=2, context=64, pretrain_steps=100,
        batch_size=8, lr=1e-2, arch="llama",
    )  # fmt: skip


@pytest.fixture(scope="session")
def text_task(tmp_path_factory) -> dict[str, Path]:
    """Validation/test on the web domain; a pool of web and math rows (prompt/response)."""
    root = tmp_path_factory.mktemp("text")

    def rows(sentences, n, offset=0):
        return pd.DataFrame(
            {
                "prompt": [f"Note {i + offset}: " for i in range(n)],
                "response": [sentences[(i + offset) % len(sentences)] + f" ({i + offset})" for i in range(n)],
            }
        )

    rows(WEB, 24).to_parquet(root / "validation.parquet")
    rows(WEB, 12, offset=100).to_parquet(root / "test.parquet")
    pool = pd.concat(
        [rows(WEB, 30, offset=200).assign(domain="web"), rows(MATH, 60, offset=300).assign(domain="math")]
    ).reset_index(drop=True)
    pool.to_parquet(root / "pool.parquet")
    return {name: root / f"{name}.parquet" for name in ("validation", "test", "pool")}


# --- a real S3-compatible server ---------------------------------------------------------------
@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the session (Debian's package, loopback, a temporary folder)."""
    from postgres import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture
def prefect_database(request) -> str | None:
    """The database of a test's own Prefect server (tests/postgres.py `operations_database`)."""
    from postgres import operations_database

    return operations_database(request)


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """`rclone serve s3` on a free loopback port with one bucket for the session."""
    from s3server import rclone_s3, s3_env

    root = tmp_path_factory.mktemp("s3root")
    bucket = f"curate-{os.getpid()}"
    (root / bucket).mkdir()
    with rclone_s3(root) as endpoint:
        yield {"endpoint": endpoint, "bucket": bucket, "root": root, "env": s3_env(endpoint)}


@pytest.fixture
def s3_env(s3, monkeypatch):
    """The AWS variables for this test's process, and fresh s3fs clients that read them."""
    import fsspec

    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    fsspec.filesystem("s3").clear_instance_cache()
    yield s3
    fsspec.filesystem("s3").clear_instance_cache()
