"""Progress on long stages (warmup, scoring, finetune): a terminal bar, and inside a Prefect run
optionally a progress artifact that the UI shows while the stage runs."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Iterator

from tqdm.auto import tqdm

from curation.models.base import Progress

ARTIFACT_EVERY_S = 1.0  # each update is an API call: at most one a second


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "row", artifact_key: str | None = None) -> Iterator[Progress]:
    """A tqdm bar on stderr; yields the callable adapters report progress through. With
    `artifact_key`, inside a Prefect run, a progress artifact under that key follows the bar."""
    follow = progress_artifact(artifact_key, desc) if artifact_key else None
    with tqdm(
        total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5, leave=True
    ) as bar:
        last_sent = time.monotonic()

        def update(n: int) -> None:
            nonlocal last_sent
            bar.update(n)
            if follow and (time.monotonic() - last_sent >= ARTIFACT_EVERY_S or bar.n >= total):
                follow(100.0 * bar.n / max(1, total))
                last_sent = time.monotonic()

        yield update
        if follow:
            follow(100.0)


def progress_artifact(key: str, desc: str):
    """A new progress artifact `key` at 0 % and the function that sets its percentage; None
    outside a Prefect run."""
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    from prefect.artifacts import create_progress_artifact, update_progress_artifact

    artifact_id = create_progress_artifact(progress=0.0, key=key, description=desc)
    return lambda percent: update_progress_artifact(artifact_id, progress=percent)
