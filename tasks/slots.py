"""A device slot for the stages that use the accelerator: a leased global concurrency limit.

`infra/setup.sh` creates the limit `gpu` (CURATE_GPU_SLOTS slots: one per GPU). The score and
finetune stages hold one slot while they run, under a lease that Prefect renews in the background.
A process killed with kill -9 stops renewing it, and the server frees the slot when the lease runs
out (LEASE_S, the server's shortest, plus its sweep every 15 s), so the next run goes on without a
hand reset: the tag-based limit it replaces kept a dead run's slot until someone reset it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from prefect import get_run_logger

LEASE_S = 60
GPU_LIMIT = "gpu"


def slot_limit(device_slot: str, gpus: int) -> str | None:
    """The limit a stage holds a slot of: `auto` is `gpu` on a GPU and none on a CPU; `none` is none."""
    if device_slot == "auto":
        return GPU_LIMIT if gpus else None
    return None if device_slot == "none" else device_slot


@contextmanager
def device_slot(device_slot: str, gpus: int, stage: str) -> Iterator[None]:
    """Hold one slot of the run's device limit (made with one slot if the server has none) for a stage."""
    limit = slot_limit(device_slot, gpus)
    if limit is None:
        yield
        return
    from prefect.client.orchestration import get_client
    from prefect.concurrency.sync import concurrency

    with get_client(sync_client=True) as client:
        ensure_limit(client, limit)
    get_run_logger().info("%s: waiting for a slot of %r", stage, limit)
    with concurrency(limit, occupy=1, lease_duration=LEASE_S, strict=True):
        get_run_logger().info("%s: holding a slot of %r (a %d-s lease, renewed while it runs)", stage, limit, LEASE_S)
        yield


def ensure_limit(client, name: str) -> None:
    """The global concurrency limit `name`, made with one slot where the server has none (one that
    exists keeps its size: `infra/setup.sh` sets `gpu` to CURATE_GPU_SLOTS)."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        except ObjectAlreadyExists:  # another process made it between the look-up and the create
            pass
