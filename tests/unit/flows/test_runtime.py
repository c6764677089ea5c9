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


SIGTERM_INSIDE_A_CALLBACK = """
import contextlib, os, signal, sys, time
from flows.runtime import exit_code_for, install_signal_handlers
install_signal_handlers()
if sys.argv[1] == "flow":  # a flow run's stage: Prefect's SIGTERM handler raises its TerminationSignal
    from prefect.utilities.engine import capture_sigterm
    bridge = capture_sigterm()
else:
    bridge = contextlib.nullcontext()
class Callback:
    def __del__(self):  # Python only prints an exception raised here, as in the import lock's callback
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10000):
            pass
try:
    with bridge:
        Callback()
        time.sleep(10)
except BaseException as err:
    sys.exit(exit_code_for(err)[0])
print("went on after SIGTERM")
"""


@pytest.mark.parametrize("where", ["command", "flow"])
def test_sigterm_that_lands_inside_a_callback_still_stops_the_command(where):
    """A SIGTERM handled inside a `__del__` or weakref callback is not swallowed: it stops the command,
    outside a flow run and inside one."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(runtime.__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", SIGTERM_INSIDE_A_CALLBACK, where], cwd=repo, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 143 and "went on" not in done.stdout, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
