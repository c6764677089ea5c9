"""Run the `curate` flow from a test as the command line does: options checked by the config
(InputError naming the flag), the flow run on the session's Prefect API, and the report as
report.json holds it."""

from __future__ import annotations

from typing import Any

from curation.config import CurateConfig


def curate_run(**options: Any) -> dict[str, Any]:
    """The `curate` flow on these options; its report as a JSON dict (what report.json holds)."""
    from flows.curate import curate

    return curate(CurateConfig.parse(**options)).as_json()


def run_args(task: dict, budget: str | int = 10, pool: str = "pool") -> list[str]:
    """`curate run` on a task's pool and validation set with the linear model (flags after it add to it)."""
    return [*task_flags(task, pool=pool), "--model", "linear", "--budget", str(budget)]


def on_task(task: dict, pool: str = "pool", model: str = "linear", test: bool = False) -> dict[str, str]:
    """The options naming a task's pool, its validation (and test) set and the model, for
    `curate_run(**on_task(...), ...)`."""
    named = {"pool": str(task[pool]), "validation": str(task["validation"]), "model": model}
    return {**named, "test": str(task["test"])} if test else named


def task_flags(task: dict, command: str = "run", pool: str = "pool") -> list[str]:
    """`curate COMMAND` on a task's pool and validation set (more flags follow it)."""
    return [command, "--pool", str(task[pool]), "--validation", str(task["validation"])]
