"""The service against a real Prefect server on loopback (on PostgreSQL): `curate serve` registers the nightly and
pool-landed deployments, `curate watch` emits `curation.pool.landed` for a pool landing on a real
S3 server, the triggered run completes with its dashboards, and the Prefect UI renders its report
in headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import httpx
import numpy as np
import pytest
from conftest import REPO, make_feature_rows
from polling import stays, wait_for
from postgres import operations_database
from prefectserver import prefect_server, server_env, stop

from flows.pools import pool_slug
from flows.service.automations import DRIFT_AUTOMATION, RESUME_AUTOMATION

pytestmark = pytest.mark.service

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = REPO / "test-output"
EXPECTED_ARTIFACTS = {
    "curation-report",
    "top-selected-rows",
    "curation-outputs",
    "scoring-progress",
    "warmup-progress",
    "pool-validation",
}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="module")
def database(request) -> str | None:
    """The module's server's database: PostgreSQL, as production runs it (tests/postgres.py)."""
    return operations_database(request)


@pytest.fixture(scope="module")
def server_home(tmp_path_factory):
    return tmp_path_factory.mktemp("prefect-server")


@pytest.fixture(scope="module")
def server(database, server_home):
    """One server for the module."""
    with prefect_server(server_home, database) as url:
        yield url


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=f"{server}/api", timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def service(server, api, s3, tmp_path_factory):
    """Target data on S3, then `curate serve` running against the server until the module ends."""
    import s3fs

    home = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(11)
    weights = rng.normal(size=(6, 3))
    base = f"{s3['bucket']}/service"
    fs = s3fs.S3FileSystem(
        key=s3["env"]["AWS_ACCESS_KEY_ID"],
        secret=s3["env"]["AWS_SECRET_ACCESS_KEY"],
        endpoint_url=s3["endpoint"],
        config_kwargs={
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        },
    )
    for name, n in (("validation", 120), ("test", 300), ("nightly-pool", 400)):
        local = home / f"{name}.parquet"
        make_feature_rows(rng, weights, n).to_parquet(local)
        fs.put_file(str(local), f"{base}/{name}.parquet")
    env = {**server_env(home / "prefect"), **s3["env"], "PREFECT_API_URL": f"{server}/api"}
    log = open(home / "serve.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "serve",
            "--validation",
            f"s3://{base}/validation.parquet",
            "--test",
            f"s3://{base}/test.parquet",
            "--model",
            "linear",
            "--budget",
            "100",
            "--out-root",
            f"s3://{base}/runs",
            "--cache",
            f"s3://{base}/cache",
            "--pool",
            f"s3://{base}/nightly-pool.parquet",
            "--watch",  # the watcher thread of `curate serve`, on a prefix of its own
            f"s3://{base}/auto-landing/",
            "--watch-every",
            "2",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: (
                all(
                    api.get(f"/deployments/name/curate-pools/{name}").status_code == 200
                    for name in ("nightly", "pool-landed")
                )
                and any(
                    a["name"] not in (DRIFT_AUTOMATION, RESUME_AUTOMATION) for a in automations(api)
                )  # pool-landed's trigger
            ),
            120,
            "curate serve to register its deployments",
            process,
            home / "serve.log",
        )
        yield {"fs": fs, "base": base, "env": env, "home": home, "process": process}
    finally:
        stop(process)
        log.close()


def automations(api: httpx.Client) -> list[dict]:
    return api.post("/automations/filter", json={}).json()


def flow_runs(api: httpx.Client, **flow_run_filter) -> list[dict]:
    return api.post("/flow_runs/filter", json={"flow_runs": flow_run_filter}).json()


def watch(service, prefix: str, state: str) -> subprocess.CompletedProcess:
    """`curate watch PREFIX` once, as a new process: each call is a watcher (re)start."""
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", "watch", prefix, "--state", state],
        cwd=REPO,
        env=service["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def land_on_the_watched_prefix(service, name: str, seed: int) -> str:
    """A 200-row pool uploaded under the prefix `curate serve --watch` lists; its URL."""
    local = service["home"] / f"{name}.parquet"
    rng = np.random.default_rng(seed)
    make_feature_rows(rng, rng.normal(size=(6, 3)), 200).to_parquet(local)
    url = f"s3://{service['base']}/auto-landing/{name}.parquet"
    service["fs"].put_file(str(local), url[5:])
    return url


def test_nightly_deployment_is_listed_with_its_cron_schedule(api, service):
    deployment = api.get("/deployments/name/curate-pools/nightly").json()
    schedules = deployment["schedules"]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"], s["active"]) for s in schedules] == [
        ("0 2 * * *", "UTC", True)
    ]
    assert deployment["parameters"]["pools"] == [f"s3://{service['base']}/nightly-pool.parquet"]
    # The server plans the coming nights' runs from the schedule: each at 02:00 UTC.
    planned = wait_for(
        lambda: flow_runs(api, deployment_id={"any_": [deployment["id"]]}, state={"type": {"any_": ["SCHEDULED"]}}),
        60,
        "the scheduler to plan nightly runs",
    )
    assert {run["expected_start_time"][11:19] for run in planned} == {"02:00:00"}


def test_a_landed_pool_triggers_exactly_one_run_with_its_dashboards(api, service):
    fs, base = service["fs"], service["base"]
    local = service["home"] / "pool.parquet"
    rng = np.random.default_rng(12)
    make_feature_rows(rng, rng.normal(size=(6, 3)), 500).to_parquet(local)
    fs.put_file(str(local), f"{base}/landing/2026-11-25/pool-1.parquet")
    fs.pipe(f"{base}/landing/2026-11-25/_SUCCESS", b"")  # markers and hidden files are not pools
    prefix, state = f"s3://{base}/landing/", f"s3://{base}/watch-state.json"
    pool_url = f"s3://{base}/landing/2026-11-25/pool-1.parquet"

    first = watch(service, prefix, state)
    assert first.returncode == 0, first.stderr
    assert "started run curate-pools-pool-1-" in first.stdout and f"for {pool_url} (version " in first.stdout
    again = watch(service, prefix, state)  # a restart with its memory: nothing new
    assert again.returncode == 0 and "0 new pool versions" in again.stdout, again.stdout + again.stderr
    fs.rm(state)  # a restart that lost its memory: it asks again, and the server has the run's key...
    resent = watch(service, prefix, state)
    assert "already started: run curate-pools-pool-1-" in resent.stdout, resent.stdout + resent.stderr

    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    by_landed = {"deployment_id": {"any_": [landed["id"]]}}
    run = wait_for(
        lambda: [r for r in flow_runs(api, **by_landed) if r["state_type"] in TERMINAL],
        300,
        "the triggered run to finish",
        service["process"],
        service["home"] / "serve.log",
    )[0]
    stays(  # ...so there is still one run
        lambda: len(flow_runs(api, **by_landed)) == 1,
        5,
        f"one pool-landed run for {pool_url}",
        service["process"],
        service["home"] / "serve.log",
    )
    assert run["state_type"] == "COMPLETED", (run["state"], (service["home"] / "serve.log").read_text()[-4000:])
    assert run["parameters"]["pools"] == [pool_url] and run["idempotency_key"].endswith(
        f"{pool_url}@{run['parameters']['version']}"
    )
    assert run["name"].startswith("curate-pools-pool-1-")

    child = flow_runs(api, parent_flow_run_id={"any_": [run["id"]]})
    assert len(child) == 1 and child[0]["name"].startswith("curate-pool-1.parquet-"), child
    artifacts = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [child[0]["id"]]}}}).json()
    assert EXPECTED_ARTIFACTS <= {a["key"] for a in artifacts}
    report = next(a for a in artifacts if a["key"] == "curation-report")
    assert pool_url in report["data"] and "lift over random" in report["data"]
    outputs = next(a for a in artifacts if a["key"] == "curation-outputs")
    out = outputs["data"].split("(", 1)[1].rstrip(")")  # the link artifact's markdown: [text](url)
    assert out.startswith(f"s3://{base}/runs/pool-1-")
    assert fs.exists(f"{out}/report.json") and fs.exists(f"{out}/score-distribution.png")
    assert fs.cat(f"{out}/score-distribution.png")[:8] == b"\x89PNG\r\n\x1a\n"
    service["report_artifact"], service["pool_url"] = report, pool_url


def test_an_s3_notification_triggers_a_run_and_the_watcher_does_not_repeat_it(api, service):
    """The S3-notification recipe (infra/s3_notification_lambda.py) creates the run the watcher
    would, with the same idempotency key: a pool version reported by both runs once."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("lambda_fn", REPO / "infra" / "s3_notification_lambda.py")
    lambda_fn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lambda_fn)
    fs, base = service["fs"], service["base"]
    bucket, key = base.split("/", 1)[0], f"{base.split('/', 1)[1]}/landing/2026-11-26/pool-2.parquet"
    local = service["home"] / "pool-2.parquet"
    rng = np.random.default_rng(13)
    make_feature_rows(rng, rng.normal(size=(6, 3)), 300).to_parquet(local)
    fs.put_file(str(local), f"{bucket}/{key}")
    etag = fs.info(f"{bucket}/{key}")["ETag"].strip('"')  # S3 sends it unquoted in the record
    notification = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "eventTime": "2026-11-26T02:00:00Z",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1, "eTag": etag}},
            }
        ]
    }
    os.environ["PREFECT_API_URL"] = service["env"]["PREFECT_API_URL"]
    try:
        started = lambda_fn.handler(notification)
        assert started["pools"] == [f"s3://{bucket}/{key}"] and len(started["runs"]) == 1
        assert lambda_fn.handler(notification)["runs"] == started["runs"]  # delivered twice: the same run
    finally:
        del os.environ["PREFECT_API_URL"]

    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    by_pool = {"deployment_id": {"any_": [landed["id"]]}}

    def runs_of() -> list[dict]:
        return [r for r in flow_runs(api, **by_pool) if r["parameters"]["pools"] == [f"s3://{bucket}/{key}"]]

    run = wait_for(
        lambda: [r for r in runs_of() if r["state_type"] in TERMINAL],
        300,
        "the run triggered by the S3 notification",
        service["process"],
        service["home"] / "serve.log",
    )[0]
    assert run["state_type"] == "COMPLETED"
    caught_up = watch(service, f"s3://{base}/landing/", f"s3://{base}/watch-state.json")
    assert f"already started: run {run['name']} for s3://{bucket}/{key}" in caught_up.stdout  # it did not know...
    # ...but the server had the run's key: no second run
    stays(
        lambda: len(runs_of()) == 1,
        5,
        f"one run for s3://{bucket}/{key}",
        service["process"],
        service["home"] / "serve.log",
    )


def test_new_bytes_at_a_landed_key_run_once_more_and_the_same_bytes_never(api, service):
    """A pool is its content version: overwriting a landed key with other rows is a new pool (one
    new run, named by its version); uploading those bytes again is not."""
    fs, base = service["fs"], service["base"]
    key, local = f"{base}/landing/2026-11-27/same.parquet", service["home"] / "same.parquet"
    prefix, state, pool_url = f"s3://{base}/landing/", f"s3://{base}/watch-state.json", f"s3://{key}"
    rng = np.random.default_rng(14)
    rule = rng.normal(size=(6, 3))
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()

    def runs_of() -> list[dict]:
        runs = flow_runs(api, deployment_id={"any_": [landed["id"]]})
        return [r for r in runs if r["parameters"]["pools"] == [pool_url]]

    versions = []
    for rows in (300, 320):  # the first bytes, then other rows at the same key
        make_feature_rows(rng, rule, rows).to_parquet(local)
        fs.put_file(str(local), key)
        versions.append(fs.info(key)["ETag"].strip('"'))
        sent = watch(service, prefix, state)
        assert f"started run curate-pools-same-{versions[-1][:8]}" in sent.stdout, sent.stdout + sent.stderr
        wait_for(
            lambda n=len(versions): len([r for r in runs_of() if r["state_type"] in TERMINAL]) == n,
            300,
            f"run {len(versions)} of {pool_url}",
            service["process"],
            service["home"] / "serve.log",
        )
    fs.put_file(str(local), key)  # the same bytes again
    again = watch(service, prefix, state)
    assert "0 new pool versions" in again.stdout, again.stdout + again.stderr
    stays(lambda: len(runs_of()) == 2, 5, f"two runs of {pool_url}", service["process"], service["home"] / "serve.log")
    runs = runs_of()
    assert len(runs) == 2 and all(r["state_type"] == "COMPLETED" for r in runs), [r["state"] for r in runs]
    assert sorted(r["parameters"]["version"] for r in runs) == sorted(versions) and versions[0] != versions[1]
    for run in runs:  # the run's name shows the version it curated
        assert run["name"].startswith(f"curate-pools-same-{run['parameters']['version'][:8]}-"), run["name"]


def test_serve_watches_in_a_thread_of_its_own_and_lists_no_watcher_runs(api, service):
    """`curate serve --watch` starts a landed pool's run by itself, within a few listings, and its
    watcher is no deployment: no `watch-pools` runs clutter the list or wait for the run slot."""
    url = land_on_the_watched_prefix(service, "auto", 16)
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    run = wait_for(
        lambda: [
            r for r in flow_runs(api, deployment_id={"any_": [landed["id"]]}) if r["parameters"]["pools"] == [url]
        ],
        60,
        "the serve process's watcher to start the pool's run",
        service["process"],
        service["home"] / "serve.log",
    )[0]
    assert run["idempotency_key"].startswith(f"curation.pool.landed:{url}@")
    assert api.get("/deployments/name/watch-pools/watch-pools").status_code == 404
    log = service["home"] / "serve.log"  # the run exists before the watcher prints that it started it
    wait_for(
        lambda: f"started run {run['name']} for {url}" in log.read_text(),
        60,
        "serve.log to report the started run",
        service["process"],
        log,
    )


def test_one_pool_version_from_the_watcher_an_event_and_the_ui_is_curated_once(api, service):
    """Exactly once from every entry point: serve's watcher starts a landed pool's run; the same version
    then sent as a `curation.pool.landed` event (the deployment's trigger) and started by hand (what the
    UI's "Run" does) makes two more runs, which complete as AlreadyCurated naming the first, with no
    child run (no model loaded) and no second output folder."""
    import uuid
    from datetime import datetime, timezone

    fs, base = service["fs"], service["base"]
    url = land_on_the_watched_prefix(service, "once", 17)
    etag = fs.info(url)["ETag"].strip('"')
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    log = service["home"] / "serve.log"

    def runs_of() -> list[dict]:
        return [r for r in flow_runs(api, deployment_id={"any_": [landed["id"]]}) if r["parameters"]["pools"] == [url]]

    def finished(count: int) -> list[dict]:
        def done() -> list[dict]:
            runs = runs_of()
            return runs if len([r for r in runs if r["state_type"] in TERMINAL]) == count else []

        return wait_for(done, 300, f"{count} finished runs of {url}", service["process"], log)

    (first,) = finished(1)  # the watcher's
    assert first["state_type"] == "COMPLETED" and first["state_name"] == "Completed", first["state"]
    event = {
        "id": str(uuid.uuid4()), "occurred": datetime.now(timezone.utc).isoformat(),
        "event": "curation.pool.landed", "payload": {"version": etag},
        "resource": {"prefect.resource.id": url},
    }  # fmt: skip
    assert api.post("/events", json=[event]).status_code == 204
    finished(2)
    by_hand = api.post(f"/deployments/{landed['id']}/create_flow_run", json={"parameters": {"pools": [url]}})
    assert by_hand.status_code == 201, by_hand.text
    runs = finished(3)
    later = [r for r in runs if r["id"] != first["id"]]
    assert len(later) == 2 and {r["parameters"].get("version", "") for r in later} == {etag, ""}
    for run in later:
        assert run["state_type"] == "COMPLETED" and run["state_name"] == "AlreadyCurated", run["state"]
        assert f"already curated by run {first['name']}" in run["state"]["message"]
        assert flow_runs(api, parent_flow_run_id={"any_": [run["id"]]}) == []  # no curate run: nothing loaded
    folders = [path for path in fs.ls(f"{base}/runs/{pool_slug(url)}") if not path.endswith("/trends")]
    assert len(folders) == 1  # one curation's output folder


def test_a_run_whose_process_dies_while_serve_runs_is_resumed_and_completes(api, service):
    """A run's own process killed (-9) while `curate serve` goes on (as when the server restarted
    under it: benchmarks/burst.py): the runner reports it Crashed, the automation `curate serve`
    installs schedules it again, and the same run completes."""
    import signal
    import socket

    from curation.tempfiles import process_alive

    url = land_on_the_watched_prefix(service, "crash", 19)
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    log = service["home"] / "serve.log"

    def runs_of() -> list[dict]:
        return [r for r in flow_runs(api, deployment_id={"any_": [landed["id"]]}) if r["parameters"]["pools"] == [url]]

    (run,) = wait_for(lambda: [r for r in runs_of() if r["infrastructure_pid"]], 120, "the run's process",
                      service["process"], log)  # fmt: skip
    host, _, pid = run["infrastructure_pid"].rpartition(":")
    assert host == socket.gethostname() and process_alive(int(pid))
    os.kill(int(pid), signal.SIGKILL)
    (done,) = wait_for(lambda: [r for r in runs_of() if r["state_type"] == "COMPLETED"], 300,
                       "the crashed run to be resumed and complete", service["process"], log)  # fmt: skip
    assert done["id"] == run["id"] and done["run_count"] >= 2 and len(runs_of()) == 1


def test_a_failed_pool_says_why_and_its_complete_version_then_runs(api, service):
    """A pool caught half uploaded fails, its parent run's message says why, and the complete file
    at the same key runs once more and completes; a pool refused for its rows publishes its
    quarantine, expectations and `pool-validation` table."""
    fs, base = service["fs"], service["base"]
    prefix, state = f"s3://{base}/landing/", f"s3://{base}/watch-state.json"
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    rng = np.random.default_rng(15)
    local = service["home"] / "late.parquet"
    make_feature_rows(rng, rng.normal(size=(6, 3)), 300).to_parquet(local)
    bad = service["home"] / "bad.parquet"  # 5 features where the validation set has 6
    make_feature_rows(rng, rng.normal(size=(5, 3)), 200).to_parquet(bad)

    def finished(url: str, count: int) -> list[dict]:
        def done() -> list[dict]:
            runs = [
                r for r in flow_runs(api, deployment_id={"any_": [landed["id"]]}) if r["parameters"]["pools"] == [url]
            ]
            return runs if len([r for r in runs if r["state_type"] in TERMINAL]) == count else []

        return wait_for(done, 300, f"{count} finished runs of {url}", service["process"], service["home"] / "serve.log")

    late = f"{base}/landing/2026-11-28/late.parquet"
    fs.pipe(late, local.read_bytes()[:3000])  # caught half uploaded
    assert "started run" in watch(service, prefix, state).stdout
    (failed,) = finished(f"s3://{late}", 1)
    assert failed["state_type"] == "FAILED" and "1 of 1 pools failed" in failed["state"]["message"]
    assert "late.parquet" in failed["state"]["message"] and "Parquet" in failed["state"]["message"]
    fs.put_file(str(local), late)  # the complete file at the same key: a new version
    assert "started run" in watch(service, prefix, state).stdout
    runs = finished(f"s3://{late}", 2)
    assert sorted(r["state_type"] for r in runs) == ["COMPLETED", "FAILED"]

    refused = f"{base}/landing/2026-11-28/bad.parquet"
    fs.put_file(str(bad), refused)
    assert "started run" in watch(service, prefix, state).stdout
    (run,) = finished(f"s3://{refused}", 1)
    message = run["state"]["message"]
    assert (
        run["state_type"] == "FAILED" and "200 of 200 pool rows are invalid" in message and "feature_length" in message
    )
    (child,) = flow_runs(api, parent_flow_run_id={"any_": [run["id"]]})
    artifacts = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [child["id"]]}}}).json()
    assert "pool-validation" in {a["key"] for a in artifacts}
    (marker,) = fs.glob(f"{base}/runs/bad-*/*/rejected.json")
    folder = marker.rsplit("/", 1)[0]
    assert fs.exists(f"{folder}/quarantine.parquet") and fs.exists(f"{folder}/validation.json")
    assert not fs.exists(f"{folder}/report.json")


@pytest.mark.browser
def test_the_ui_renders_the_report_of_the_triggered_run(server, service, tmp_path):
    """Headless Chromium (Debian's package) loads the run's report artifact page in the Prefect UI."""
    from playwright.sync_api import sync_playwright

    report = service.get("report_artifact")
    assert report is not None, "needs the run of test_a_landed_pool_triggers_exactly_one_run_with_its_dashboards"
    assert os.path.exists(CHROMIUM), "install Debian's chromium (.ci/run does)"
    shot = tmp_path / "curation-report.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(f"{server}/runs/flow-run/{report['flow_run_id']}")  # the run's page
            page.get_by_text("Artifacts", exact=True).first.click(timeout=60_000)  # the run page tab
            page.get_by_text("curation-report").first.click(timeout=60_000)
            # The markdown is rendered, not shown raw: headings and a table holding the lift.
            page.get_by_role("heading", name="Lift over random").wait_for(timeout=60_000)
            pool_code = page.locator("code", has_text=service["pool_url"]).first.inner_text()
            lift_row = page.locator("table tr", has_text="lift over random").inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOT_DIR / "curation-report.png")  # for a person to look at
    assert pool_code == service["pool_url"]  # `pool` in backticks became a <code> element
    assert "+" in lift_row or "-" in lift_row  # the signed lift figure sits in the rendered table
    assert shot.stat().st_size > 10_000


@pytest.mark.browser
def test_two_nights_make_a_trends_artifact_and_a_drifted_pool_pauses_its_deployment(api, server, service, tmp_path):
    """Two runs of the nightly deployment on two versions of its pool: the `curation-trends` artifact has
    both nights; the second version (half its rows from another domain) drifts: the run is tagged, the
    `curation.drift.detected` event emitted, the automation `curate serve` installs pauses the deployment,
    and headless Chromium shows the trends plot rendered in the UI."""
    import pandas as pd

    fs, base = service["fs"], service["base"]
    nightly = api.get("/deployments/name/curate-pools/nightly").json()

    def night() -> tuple[dict, dict]:
        def created() -> dict | None:  # a busy SQLite server answers 503 now and then: asked again
            answer = api.post(f"/deployments/{nightly['id']}/create_flow_run", json={})
            return answer.json() if answer.status_code == 201 else None

        run = wait_for(created, 60, "a nightly run to be created")
        done = wait_for(
            lambda: [r for r in flow_runs(api, id={"any_": [run["id"]]}) if r["state_type"] in TERMINAL],
            300, "a nightly run to finish", service["process"], service["home"] / "serve.log",
        )[0]  # fmt: skip
        assert done["state_type"] == "COMPLETED", (done["state"], (service["home"] / "serve.log").read_text()[-4000:])
        (child,) = flow_runs(api, parent_flow_run_id={"any_": [run["id"]]})
        return done, child

    _, first = night()
    pool = pd.read_parquet(fs.open(f"{base}/nightly-pool.parquet"))
    other = make_feature_rows(np.random.default_rng(21), np.random.default_rng(22).normal(size=(6, 3)), 200, shift=3.0)
    shifted = pd.concat([pool.iloc[:200], other], ignore_index=True)
    with fs.open(f"{base}/nightly-pool.parquet", "wb") as handle:  # the pool's next version lands at the same key
        shifted.to_parquet(handle)
    _, second = night()

    assert "drift" in second["tags"] and "drift" not in first["tags"]
    trends = api.get("/artifacts/curation-trends/latest").json()
    assert trends["flow_run_id"] == second["id"]
    table = [line for line in trends["data"].splitlines() if line.startswith("| 20")]  # a row per night
    assert len(table) == 2 and "rows are new" in table[1] and "data:image/png;base64," in trends["data"]
    body = {"filter": {"event": {"name": ["curation.drift.detected"]}}}
    ours = f"prefect.deployment.{nightly['id']}"  # pool-landed's runs of one key drift too, in earlier tests

    def nightly_drift() -> list[dict]:
        events = api.post("/events/filter", json=body).json()["events"]
        return [e for e in events if any(r["prefect.resource.id"] == ours for r in e["related"])]

    event = wait_for(nightly_drift, 60, "the nightly run's drift event")[0]
    payload = event["payload"]
    assert payload["rows_new"] == 200 and payload["rows_kept"] == 200 and 0 < payload["ks"] <= 1
    assert any("200 of 400 rows are new" in reason for reason in payload["reasons"])
    try:
        wait_for(lambda: api.get(f"/deployments/{nightly['id']}").json()["paused"], 60, "the automation to pause")
        plot = trends_plot_in_the_ui(server, second["id"], tmp_path / "curation-trends.png")
    finally:
        api.post(f"/deployments/{nightly['id']}/resume")  # as a person does once they have looked
    assert plot[0] > 0 and plot[1] > 0


def trends_plot_in_the_ui(server: str, flow_run_id: str, shot) -> tuple[int, int]:
    """Headless Chromium on the run's `curation-trends` artifact: the plot's natural size (0 if it did not render)."""
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "install Debian's chromium (.ci/run does)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            page.goto(f"{server}/runs/flow-run/{flow_run_id}")  # the run's page, as a person gets there
            try:
                page.get_by_text("Artifacts", exact=True).first.click(timeout=60_000)
                page.get_by_text("curation-trends").first.click(timeout=60_000)
                page.get_by_text("Lift against the held-out figure").first.wait_for(timeout=60_000)
                image = page.locator("img[src^='data:image/png']").first
                image.wait_for(timeout=60_000)
                size = image.evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]")
            finally:
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    SCREENSHOT_DIR.mkdir(exist_ok=True)
    shutil.copy(shot, SCREENSHOT_DIR / "curation-trends.png")  # for a person to look at
    return tuple(size)


def test_no_secret_reaches_a_log_an_artifact_a_report_an_output_or_a_runs_parameters(
    api, database, server_home, service
):
    """The service runs with recognisable secrets (the S3 secret key in every process's environment,
    the PostgreSQL password in the server's database URL). After a landed pool's run, none is in a log
    line the server stored, an artifact, an event, a flow or task run's or a deployment's parameters,
    report.json or any other output or cache file, or the server's and `curate serve`'s own output."""
    import json
    from urllib.parse import urlsplit

    fs, base = service["fs"], service["base"]
    url = land_on_the_watched_prefix(service, "secrets", 18)
    landed = api.get("/deployments/name/curate-pools/pool-landed").json()
    (run,) = wait_for(
        lambda: [r for r in flow_runs(api, deployment_id={"any_": [landed["id"]]})
                 if r["parameters"]["pools"] == [url] and r["state_type"] in TERMINAL],
        300, "the landed pool's run", service["process"], service["home"] / "serve.log",
    )  # fmt: skip
    assert run["state_type"] == "COMPLETED", run["state"]
    secrets = {"S3 secret key": service["env"]["AWS_SECRET_ACCESS_KEY"]}
    if database:
        secrets["PostgreSQL password"] = urlsplit(database).password

    def every(path: str, body: dict) -> list[dict]:  # the API pages at 200
        found, offset = [], 0
        while page := api.post(path, json={**body, "limit": 200, "offset": offset}).json():
            found, offset = found + page, offset + len(page)
            if len(page) < 200:
                break
        return found

    stored = {
        "logs": every("/logs/filter", {}),
        "artifacts": every("/artifacts/filter", {}),
        "flow runs": every("/flow_runs/filter", {}),
        "task runs": every("/task_runs/filter", {}),
        "deployments": every("/deployments/filter", {}),
        "events": api.post("/events/filter", json={"limit": 50}).json()["events"],
    }
    assert len(stored["logs"]) > 50 and stored["artifacts"] and stored["flow runs"]  # the scan read something
    files = {path: fs.cat(path) for path in fs.find(f"{base}/runs") + fs.find(f"{base}/cache")}
    assert any(path.endswith("/report.json") for path in files)
    files |= {str(path): path.read_bytes() for path in (server_home / "server.log", service["home"] / "serve.log")}
    for what, secret in secrets.items():
        assert len(secret) > 12
        for kind, records in stored.items():
            assert secret not in json.dumps(records), f"the {what} is in the server's {kind}"
        for path, data in files.items():
            assert secret.encode() not in data, f"the {what} is in {path}"
