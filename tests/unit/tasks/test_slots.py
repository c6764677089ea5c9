"""The device slot: which limit a stage holds, and that it holds one slot of it while it runs (a real
global concurrency limit on the session's Prefect API; a kill -9 freeing it is in
tests/service/test_device_slot.py)."""

from __future__ import annotations

import uuid

import pytest

from tasks.slots import GPU_LIMIT, device_slot, slot_limit


@pytest.mark.parametrize(
    "asked, gpus, limit",
    [("auto", 1, GPU_LIMIT), ("auto", 0, None), ("none", 1, None), ("none", 0, None), ("big-gpus", 0, "big-gpus")],
)
def test_the_limit_a_stage_holds(asked, gpus, limit):
    assert slot_limit(asked, gpus) == limit


def test_a_stage_holds_one_slot_while_it_runs_and_frees_it_after(prefect_api_url):
    from prefect import flow
    from prefect.client.orchestration import get_client

    name = f"unit-gpu-{uuid.uuid4().hex[:8]}"

    def active() -> int:
        with get_client(sync_client=True) as client:
            return client.read_global_concurrency_limit_by_name(name).active_slots

    @flow
    def stage() -> list[int]:
        seen = []
        with device_slot(name, 0, "score"):
            seen.append(active())
        seen.append(active())
        with device_slot("auto", 0, "score"):  # a CPU run: no limit asked of the server
            seen.append(active())
        return seen

    assert stage() == [1, 0, 0]
    with get_client(sync_client=True) as client:
        assert client.read_global_concurrency_limit_by_name(name).limit == 1  # made with one slot
