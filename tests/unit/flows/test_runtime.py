"""How a command ends: one line and an exit code per kind of failure; an unreachable API is exit 3."""

from __future__ import annotations

import pytest

from curation.errors import EnvironmentFault, InputError
from flows import runtime


def test_each_failure_maps_to_its_exit_code_and_one_line(tmp_path, monkeypatch):
    assert runtime.exit_code_for(KeyboardInterrupt())[0] == 130
    assert runtime.exit_code_for(runtime.Terminated())[0] == 143
    code, line = runtime.exit_code_for(InputError("bad value", field="--budget"))
    assert code == 2 and line.startswith("curate: error:") and "--budget" in line
    assert runtime.exit_code_for(EnvironmentFault("disk full"))[0] == 3
    monkeypatch.setenv("CURATE_ERROR_LOG_DIR", str(tmp_path / "logs"))
    code, line = runtime.exit_code_for(ValueError("a bug\nover two lines"))
    assert code == 1 and "\n" not in line and f"traceback in {tmp_path / 'logs'}/" in line
    assert list((tmp_path / "logs").glob("*.log"))  # in the folder the README names, not below it
    monkeypatch.delenv("CURATE_ERROR_LOG_DIR")
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "cache"))
    assert f"traceback in {tmp_path / 'cache' / 'errors'}/" in runtime.exit_code_for(ValueError("a bug"))[1]


def test_an_unreachable_api_is_an_environment_fault(monkeypatch):
    monkeypatch.setattr(runtime, "API_CHECKS", (0.0,))
    with pytest.raises(EnvironmentFault, match="cannot reach the Prefect API"):
        runtime.check_api(f"http://127.0.0.1:{runtime._free_port()}/api")
