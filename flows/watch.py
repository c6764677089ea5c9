"""The pool watcher: list an S3 or local prefix and emit one `curation.pool.landed` event per new
pool object, so the `pool-landed` deployment runs once per pool.

A self-hosted Prefect server has no webhooks (a Prefect Cloud feature), hence this watcher; an S3
bucket notification can emit the same event instead (README, "Run it as a service").

Exactly one event per object, across restarts: what was emitted is remembered in a JSON state
file (written atomically after each event), and each event's id is derived from the object's
URL. A watcher killed between sending an event and recording it sends it again on restart with
the same id, and the server drops an event id it has already seen.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from prefect import flow, get_run_logger

from curation.errors import InputError
from curation.storage import exists, filesystem, read_json, write_json_atomic

EVENT = "curation.pool.landed"
POOL_SUFFIXES = (".parquet", ".jsonl")


def pool_objects(prefix: str) -> dict[str, int]:
    """The pool files under `prefix` (URL → size in bytes); hidden and temporary files are
    skipped (`.name`, `_name`, and anything inside such a folder: staging, `_SUCCESS`, ...)."""
    fs, root = filesystem(prefix)
    protocol = prefix.split("://", 1)[0] + "://" if "://" in prefix else ""
    found = fs.find(root, detail=True) if fs.exists(root) else {}
    objects = {}
    for path, info in found.items():
        relative = path[len(root.rstrip("/")) :].lstrip("/")
        if info.get("type") == "directory" or not path.endswith(POOL_SUFFIXES):
            continue
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        objects[protocol + path] = int(info.get("size") or 0)
    return objects


def event_id(pool_url: str) -> uuid.UUID:
    """The same pool URL always gives the same event id: the server drops a resent event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{EVENT}:{pool_url}")


def load_state(state_url: str, prefix: str) -> dict[str, Any]:
    """The watcher's memory for `prefix`; a new state file is written at once, claiming it."""
    if not exists(state_url):
        state = {"prefix": prefix, "emitted": {}}
        write_json_atomic(state_url, state)
        return state
    state = read_json(state_url)
    if state.get("prefix") != prefix:
        raise InputError(
            f"it remembers prefix {state.get('prefix')!r}, not {prefix!r}",
            file=state_url,
            field="prefix",
            hint="give each watched prefix its own --state file",
        )
    return state


def send_landed_event(pool_url: str, size: int, prefix: str) -> None:
    """Emit `curation.pool.landed` for the pool and wait until the server has it."""
    from prefect.events import Event
    from prefect.events.clients import get_events_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    event = Event(
        id=event_id(pool_url),
        event=EVENT,
        occurred=datetime.now(timezone.utc),
        resource={"prefect.resource.id": pool_url, "prefect.resource.name": pool_url.rsplit("/", 1)[-1]},
        payload={"size": size, "prefix": prefix},
    )

    async def send() -> None:
        # checkpoint_every=1: after each event the client pings and waits for the pong, so the
        # server has received the event before we record it as emitted.
        async with get_events_client(checkpoint_every=1) as client:
            await client.emit(event)

    run_coro_as_sync(send())


def watch_once(prefix: str, state_url: str, send: Callable[[str, int, str], None] = send_landed_event) -> list[str]:
    """Emit an event for each pool object under `prefix` not emitted before; return their URLs."""
    state = load_state(state_url, prefix)
    emitted = state["emitted"]
    new = [(url, size) for url, size in sorted(pool_objects(prefix).items()) if url not in emitted]
    for url, size in new:
        send(url, size, prefix)
        emitted[url] = {
            "event_id": str(event_id(url)),
            "size": size,
            "emitted_at": datetime.now(timezone.utc).isoformat(),
        }
        write_json_atomic(state_url, state)  # after each event: a crash loses nothing emitted
    return [url for url, _ in new]


@dataclass(frozen=True)
class WatchHooks:
    """What a watcher does besides listing: report what it emitted, report a failure, send an event."""

    on_emit: Callable[[list[str]], None] = lambda urls: None
    on_error: Callable[[Exception], None] = lambda err: None
    send: Callable[[str, int, str], None] = send_landed_event


def watch(prefix: str, state_url: str, every_s: float | None, hooks: WatchHooks = WatchHooks()) -> None:
    """Watch once, or every `every_s` seconds until interrupted. A watcher that keeps going
    survives a failed listing or send (S3 or the server away for a while): it reports the error
    and tries again next time; what was emitted before the failure stays remembered."""
    while True:
        try:
            hooks.on_emit(watch_once(prefix, state_url, hooks.send))
        except InputError:
            raise  # a wrong state file will not mend itself
        except Exception as err:
            if every_s is None:
                raise
            hooks.on_error(err)
        if every_s is None:
            return
        time.sleep(every_s)


@flow(name="watch-pools", log_prints=True)
def watch_pools(prefix: str, state: str) -> list[str]:
    """Emit `curation.pool.landed` for each new pool object under the prefix."""
    emitted = watch_once(prefix, state)
    get_run_logger().info("%d new pools under %s: %s", len(emitted), prefix, emitted)
    return emitted
