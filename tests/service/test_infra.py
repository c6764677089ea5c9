"""infra/ and dockerfiles/ cannot be run here (no Docker engine): check that they parse, that every
path they name exists, and that they agree with the code and with pyproject."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import tomllib

import pytest
import yaml
from conftest import REPO
from prefect import Flow

INFRA, DOCKERFILES = REPO / "infra", REPO / "dockerfiles"
DOCKERFILE_NAMES = ["cpu-worker.Dockerfile", "cuda-worker.Dockerfile"]


def compose() -> dict:
    return yaml.safe_load((INFRA / "docker-compose.yml").read_text())


def prefect_yaml() -> dict:
    return yaml.safe_load((INFRA / "prefect.yaml").read_text())


def test_compose_builds_from_files_that_exist_and_has_the_services_the_stack_needs():
    services = compose()["services"]
    assert {"postgres", "prefect-server", "s3", "setup", "cpu-worker", "gpu-worker"} <= set(services)
    assert services["gpu-worker"]["profiles"] == ["gpu"]
    assert "postgresql+asyncpg://" in services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    for name, service in services.items():
        if "build" in service:
            context = (INFRA / service["build"]["context"]).resolve()
            assert context == REPO, name
            assert (context / service["build"]["dockerfile"]).is_file(), name
    assert (REPO / services["setup"]["command"][-1]).is_file()
    worker_pools = {
        services[w]["command"][services[w]["command"].index("--pool") + 1] for w in ("cpu-worker", "gpu-worker")
    }
    assert worker_pools == {"cpu", "gpu"}


def test_every_variable_compose_requires_is_in_the_example_env():
    text = (INFRA / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = {
        line.split("=", 1)[0]
        for line in (INFRA / "example.env").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required and required <= example


@pytest.mark.parametrize("name", DOCKERFILE_NAMES)
def test_dockerfile_copies_paths_that_exist_and_installs_only_from_pyproject(name):
    text = (DOCKERFILES / name).read_text()
    for source in re.findall(r"^COPY\s+(.+?)\s+\S+$", text, flags=re.M):
        for path in source.split():
            assert (REPO / path).exists(), f"{name}: COPY {path}"
    torch_pin = next(
        d
        for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
        if d.startswith("torch")
    )
    installs = re.findall(r"pip install (.+)", text)
    assert any(torch_pin in line for line in installs), f"{name} must install pyproject's {torch_pin}"
    # Besides the torch build, only the project itself: no second dependency list to drift.
    assert [line for line in installs if torch_pin not in line] == [". && curate --help >/dev/null"]


def test_work_pool_templates_are_process_job_templates():
    for name in ("cpu", "gpu"):
        template = json.loads((INFRA / "work-pools" / f"{name}.json").read_text())
        assert set(template["job_configuration"]) >= {"command", "env", "working_dir"}
        assert template["variables"]["properties"]["working_dir"]["default"] == "/opt/curate"


def test_prefect_yaml_entrypoints_are_flows_taking_the_parameters_given():
    config = prefect_yaml()
    assert {d["name"] for d in config["deployments"]} == {"nightly", "pool-landed", "watch-pools"}
    for deployment in config["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        assert (REPO / path).is_file()
        flow = getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)
        assert isinstance(flow, Flow)
        accepted = set(inspect.signature(flow.fn).parameters)
        assert set(deployment["parameters"]) <= accepted, deployment["name"]
        for trigger in deployment.get("triggers", []):
            assert set(trigger["parameters"]) <= accepted
        if "settings" in deployment["parameters"]:  # typed: names the config's fields only
            from curation.config import CurationSettings

            assert set(deployment["parameters"]["settings"]) <= set(CurationSettings.model_fields)
    by_name = {d["name"]: d for d in config["deployments"]}
    assert by_name["nightly"]["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC", "active": True}]
    trigger = by_name["pool-landed"]["triggers"][0]
    assert trigger["expect"] == ["curation.pool.landed"]
    assert trigger["parameters"] == {"pools": ["{{ event.resource.id }}"], "version": "{{ event.payload.version }}"}


def test_prefect_yaml_and_the_code_deploy_the_same_schedule_and_trigger():
    from curation.config import NIGHTLY_CRON
    from flows.service.deployments import POOL_TEMPLATE, VERSION_TEMPLATE
    from flows.watch import EVENT

    by_name = {d["name"]: d for d in prefect_yaml()["deployments"]}
    assert by_name["nightly"]["schedules"][0]["cron"] == NIGHTLY_CRON
    assert by_name["pool-landed"]["triggers"][0]["expect"] == [EVENT]
    assert by_name["pool-landed"]["triggers"][0]["parameters"]["pools"] == [POOL_TEMPLATE]
    assert by_name["pool-landed"]["triggers"][0]["parameters"]["version"] == VERSION_TEMPLATE


@pytest.mark.service
def test_setup_script_creates_pools_limit_and_deployments_on_a_real_server(tmp_path):
    """infra/setup.sh against `prefect server start` on loopback: what compose's `setup` does."""
    import os
    import subprocess
    import sys
    import uuid
    from datetime import datetime, timezone

    import httpx
    from polling import wait_for
    from prefectserver import prefect_server, server_env

    settings = {
        "CURATE_VALIDATION": "s3://curation/target/validation.parquet",
        "CURATE_TEST": "s3://curation/target/test.parquet",
        "CURATE_MODEL": "linear",
        "CURATE_OUT_ROOT": "s3://curation/runs",
        "CURATE_CACHE": "s3://curation/cache",
        "CURATE_NIGHTLY_POOL": "s3://curation/pools/reference.parquet",
        "CURATE_LANDING": "s3://curation/landing",
    }
    with prefect_server(tmp_path / "server") as url:
        env = {
            **server_env(tmp_path / "client"),
            **settings,
            "PREFECT_API_URL": f"{url}/api",
            "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
        }
        done = subprocess.run(
            ["bash", str(INFRA / "setup.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout + done.stderr
        again = subprocess.run(  # its last step again: the automation is replaced, not doubled
            [sys.executable, "-m", "flows.service.automations"],
            cwd=INFRA.parent,
            env=env,
            capture_output=True,
            text=True,
        )
        assert again.returncode == 0, again.stderr
        with httpx.Client(base_url=f"{url}/api", timeout=30) as api:
            pools = {p["name"] for p in api.post("/work_pools/filter", json={}).json()}
            tag_limits = api.post("/concurrency_limits/filter", json={}).json()
            limits = {c["name"]: c["limit"] for c in api.post("/v2/concurrency_limits/filter", json={}).json()}
            nightly = api.get("/deployments/name/curate-pools/nightly").json()
            landed = api.get("/deployments/name/curate-pools/pool-landed").json()
            automations = api.post("/automations/filter", json={}).json()
            assert not nightly["paused"]
            drift = {  # what tasks/trends.py emits from a run of the nightly deployment
                "id": str(uuid.uuid4()), "occurred": datetime.now(timezone.utc).isoformat(),
                "event": "curation.drift.detected", "payload": {"target": "code", "ks": 0.9},
                "resource": {"prefect.resource.id": "curation.target.code", "prefect.resource.name": "code"},
                "related": [{"prefect.resource.id": f"prefect.deployment.{nightly['id']}",
                             "prefect.resource.role": "deployment"}],
            }  # fmt: skip
            assert api.post("/events", json=[drift]).status_code == 204
            deployment = f"/deployments/{nightly['id']}"
            wait_for(lambda: api.get(deployment).json()["paused"], 60, "the drift automation to pause nightly")
            assert not api.get(f"/deployments/{landed['id']}").json()["paused"]  # only the deployment that drifted
    assert {"cpu", "gpu"} <= pools and tag_limits == [] and limits == {"gpu": 1, "curation-claims": 1}
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in nightly["schedules"]] == [("0 2 * * *", "UTC")]
    assert nightly["parameters"]["pools"] == ["s3://curation/pools/reference.parquet"]
    assert nightly["work_pool_name"] == "cpu"
    assert landed["parameters"]["settings"]["validation"] == settings["CURATE_VALIDATION"]
    assert landed["parameters"]["settings"]["budget"] == 1000
    drifted = [a for a in automations if a["name"] == "curation drift: pause the deployment until someone looks"]
    assert len(drifted) == 1 and drifted[0]["trigger"]["expect"] == ["curation.drift.detected"]
    assert [(a["type"], a["source"]) for a in drifted[0]["actions"]] == [("pause-deployment", "inferred")]
    resume = [a for a in automations if a["name"] == "curate-pools: resume a crashed run"]
    assert len(resume) == 1, "setup.sh, run twice, installs it once"
    assert resume[0]["trigger"]["expect"] == ["prefect.flow-run.Crashed"]
    assert resume[0]["trigger"]["match_related"]["prefect.resource.name"] == "curate-pools"
    assert [(a["type"], a["state"]) for a in resume[0]["actions"]] == [("change-flow-run-state", "SCHEDULED")]
    trigger = next(a for a in automations if a["actions"][0].get("deployment_id") == landed["id"])["trigger"]
    assert trigger["expect"] == ["curation.pool.landed"]
    assert trigger["match"] == {"prefect.resource.id": "s3://curation/landing/*"}
