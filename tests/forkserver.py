"""Real `curate` processes without the interpreter's start-up each time, for tests that start many.

A server process imports what every run imports (torch, prefect, great_expectations: ~7 s on
two cores), then forks one child per run that calls `flows.cli.run_and_exit(args)` (what the `curate`
console script runs) with its stderr in a
log file. Each child is a real process of its own (its own pid, signals, temporary folders,
temporary Prefect server), exactly what a signal or a kill -9 meets; only the imports are
inherited. Prefect reads its settings at import, so a server serves one environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SERVER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import flows.cli, flows.curate, great_expectations  # noqa: F401  what every run imports
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(sys.argv[1])
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(log, 2)
        try:
            flows.cli.run_and_exit(request["args"])  # leaves with main's exit code
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1)
    print(json.dumps({"pid": pid}), flush=True)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"exit": os.waitstatus_to_exitcode(status)}), flush=True)
"""


class ForkServer:
    def __init__(self, repo: Path, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(repo)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline().strip() == "ready"

    def start(self, args: list[str], log: Path) -> int:
        """Fork a run; returns its pid (collect its exit code with `wait`)."""
        log.write_text("")  # there to be read from the start
        self.process.stdin.write(json.dumps({"args": args, "log": str(log)}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["pid"]

    def wait(self) -> int:
        """The exit code of the run started last (negative: killed by that signal)."""
        return json.loads(self.process.stdout.readline())["exit"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
