"""The flow on s3:// paths against a real S3-compatible server on loopback, and S3 failures."""

from __future__ import annotations

import json

import fsspec
import pandas as pd
import pytest
from s3server import SECRET_KEY
from s3server import s3_env as make_env


def _s3(env):
    return fsspec.filesystem(
        "s3",
        skip_instance_cache=True,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        key=env["AWS_ACCESS_KEY_ID"],
        secret=env["AWS_SECRET_ACCESS_KEY"],
        config_kwargs={
            "response_checksum_validation": "when_required",
            "request_checksum_calculation": "when_required",
        },
    )


def target_flags(url: str) -> list[str]:
    """The S3 task's validation and test sets, the model and the budget, as `curate` flags."""
    return [
        "--validation",
        f"{url}/validation.parquet",
        "--test",
        f"{url}/test.parquet",
        "--model",
        "linear",
        "--budget",
        "200",
    ]


@pytest.fixture(scope="module")
def s3_task(s3, labelled_task):
    """The labelled task uploaded to the bucket; the pool as three part files under a prefix."""
    fs = _s3(s3["env"])
    base = f"{s3['bucket']}/task"
    pool = pd.read_parquet(labelled_task["pool"])
    for i, part in enumerate((pool.iloc[:800], pool.iloc[800:1600], pool.iloc[1600:])):
        with fs.open(f"{base}/pool/part-{i}.parquet", "wb") as handle:
            part.to_parquet(handle)
    fs.put(str(labelled_task["pool_second_half"]), f"{base}/pool_b.parquet")
    fs.put(str(labelled_task["validation"]), f"{base}/validation.parquet")
    fs.put(str(labelled_task["test"]), f"{base}/test.parquet")
    return {"fs": fs, "url": f"s3://{base}", "bucket": s3["bucket"], "env": s3["env"]}


def test_flow_end_to_end_on_s3(s3_task, curate_cli):
    url, env, fs = s3_task["url"], s3_task["env"], s3_task["fs"]
    common = [*target_flags(url), "--cache", f"{url}/cache"]
    first = curate_cli("run", "--pool", f"{url}/pool/", "--out", f"{url}/out-a", *common, env=env, check=True)
    second = curate_cli("run", "--pool", f"{url}/pool_b.parquet", "--out", f"{url}/out-b", *common, env=env, check=True)

    report = json.loads(fs.cat(f"{url[5:]}/out-a/report.json"))
    assert report["counts"]["rows_read"] == 2400 and report["counts"]["valid"] == 2400
    assert report["evaluation"]["lift"] > 0
    assert report["cache"]["warmup"] == "miss"
    assert json.loads(fs.cat(f"{url[5:]}/out-b/report.json"))["cache"]["warmup"] == "hit"
    assert {p.rsplit("/", 1)[-1] for p in fs.ls(f"{url[5:]}/out-a")} == {
        "scores.parquet",
        "selection.parquet",
        "selection.jsonl",
        "quarantine.parquet",
        "report.json",
        "validation.json",
        "score-distribution.png",
    }
    with fs.open(f"{url[5:]}/out-a/selection.parquet", "rb") as handle:
        assert len(pd.read_parquet(handle)) == 200
    assert fs.ls(f"{url[5:]}/cache/warmup")

    # The secret key never reaches logs, reports or any output.
    everything = first.stdout + first.stderr + second.stdout + second.stderr
    for path in fs.find(url[5:]):
        if path.endswith(".json"):
            everything += fs.cat(path).decode()
    assert SECRET_KEY not in everything and env["AWS_ACCESS_KEY_ID"] not in everything


def test_compare_on_an_s3_pool(s3_task, curate_cli):
    url, env, fs = s3_task["url"], s3_task["env"], s3_task["fs"]
    done = curate_cli(
        "compare",
        "--pool",
        f"{url}/pool_b.parquet",
        *target_flags(url),
        "--cache",
        f"{url}/compare-cache",
        "--out",
        f"{url}/compare",
        "--methods",
        "lossdrop,embedding,gradcos",
        "--projection-dim",
        "32",
        env=env,
        check=True,
    )
    with fs.open(f"{url[5:]}/compare/comparison.csv", "rb") as handle:
        table = pd.read_csv(handle)
    assert list(table["method"]) == ["lossdrop", "embedding", "gradcos"] and table["lift over random"].notna().all()
    assert all(fs.exists(f"{url[5:]}/compare/{m}/report.json") for m in ("lossdrop", "embedding", "gradcos"))
    # gradcos keeps its projected gradients in the S3 cache, and says how many bytes they take.
    gradients = fs.glob(f"{url[5:]}/compare-cache/gradcos/*/grads/shard-*.safetensors")
    assert gradients and table.set_index("method").loc["gradcos", "bytes stored"] >= sum(fs.size(g) for g in gradients)
    assert SECRET_KEY not in done.stdout + done.stderr + fs.cat(f"{url[5:]}/compare/comparison.md").decode()


def _run_bad(curate_cli, env, pool, out, validation):
    return curate_cli(
        "run", "--pool", pool, "--validation", validation, "--model", "linear", "--budget", "10", "--out", out, env=env
    )


@pytest.mark.parametrize("case", ["unreachable endpoint", "missing bucket", "missing key", "access denied"])
def test_s3_failures_exit_2_or_3_with_a_clear_message(case, s3_task, curate_cli, tmp_path):
    """Bad input (a missing bucket or key, a wrong secret) exits 2; an unreachable store is an
    environment fault, exit 3 after the ingest task's retries."""
    url, env = s3_task["url"], dict(s3_task["env"])
    pool, validation = f"{url}/pool_b.parquet", f"{url}/validation.parquet"
    expected = {
        "unreachable endpoint": "cannot reach the storage",
        "missing bucket": "no such file",
        "missing key": "no such file",
        "access denied": "access denied",
    }[case]
    if case == "unreachable endpoint":
        env = make_env("http://127.0.0.1:9", env["AWS_SECRET_ACCESS_KEY"])
        env["AWS_MAX_ATTEMPTS"] = "1"
    elif case == "missing bucket":
        pool = "s3://no-such-bucket-here/pool.parquet"
    elif case == "missing key":
        pool = f"{url}/no-such-pool.parquet"
    else:
        env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret"
    result = _run_bad(curate_cli, env, pool, str(tmp_path / "out"), validation)
    assert result.returncode == (3 if case == "unreachable endpoint" else 2), result.stderr
    message = [line for line in result.stderr.splitlines() if line.startswith("curate: error:")]
    assert len(message) == 1 and expected in message[0], result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == message[0]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "report.json").exists()
    assert "wrong-secret" not in result.stderr + result.stdout


def test_truncated_part_among_good_parts_stops_before_scoring(s3_task, curate_cli):
    url, fs, env = s3_task["url"], s3_task["fs"], s3_task["env"]
    data = fs.cat(f"{url[5:]}/pool/part-1.parquet")
    for i in range(3):
        fs.pipe(
            f"{url[5:]}/mixed/part-{i}.parquet",
            data[: len(data) // 3] if i == 2 else fs.cat(f"{url[5:]}/pool/part-{i}.parquet"),
        )
    result = _run_bad(curate_cli, env, f"{url}/mixed/", f"{url}/out-mixed", f"{url}/validation.parquet")
    assert result.returncode == 2
    assert "part-2.parquet" in result.stderr and "Parquet" in result.stderr
    assert not fs.exists(f"{url[5:]}/out-mixed/report.json")
    assert not fs.exists(f"{url[5:]}/out-mixed/selection.parquet")


def test_credentials_from_a_prefect_secret_block(s3_task, prefect_api_url, tmp_path, monkeypatch):
    """No AWS_* variables: key, secret and endpoint come from a Secret block on the Prefect server."""
    import fsspec
    from prefect.blocks.system import Secret
    from runs import curate_run

    from curation.storage import _block_credentials

    env = s3_task["env"]
    Secret(
        value={
            "key": env["AWS_ACCESS_KEY_ID"],
            "secret": env["AWS_SECRET_ACCESS_KEY"],
            "endpoint_url": env["AWS_ENDPOINT_URL"],
        }
    ).save("curate-s3-test", overwrite=True)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CURATE_S3_BLOCK", "curate-s3-test")
    _block_credentials.cache_clear()
    fsspec.filesystem("s3").clear_instance_cache()
    url = s3_task["url"]
    report = curate_run(
        pool=f"{url}/pool_b.parquet",
        validation=f"{url}/validation.parquet",
        model="linear",
        budget=20,
        out=f"{url}/out-block",
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    assert report["counts"]["valid"] == 1200
    assert s3_task["fs"].exists(f"{url[5:]}/out-block/report.json")
    assert env["AWS_SECRET_ACCESS_KEY"] not in json.dumps(report)
    _block_credentials.cache_clear()
    fsspec.filesystem("s3").clear_instance_cache()
