"""The pool watcher: list an S3 or local prefix and emit one `curation.pool.landed` event per new
pool version, so the `pool-landed` deployment runs once per version.

A pool is known by its content version, not its URL alone: (URL, the store's ETag), or where the
store has none (a local folder) (URL, size, mtime). New bytes at a known key are a new version and
a new event; the same bytes again are none. On a local prefix a file is emitted only once two
listings in a row saw the same version: a file still being copied is left for the next listing
(`cp` writes in place; S3 objects appear whole, so an S3 prefix emits at once).

A self-hosted Prefect server has no webhooks (a Prefect Cloud feature), hence this watcher; an S3
bucket notification can emit the same event instead (README, "Run it as a service").

Exactly one event per version, across restarts: what was emitted is remembered in a JSON state
file (written atomically after each event), and each event's id is derived from the URL and the
version. A watcher killed between sending an event and recording it sends it again on restart
with the same id, and the server drops an event id it has already seen.
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
POOL_SUFFIXES = (".parquet", ".jsonl")  # matched whatever their case: `.PARQUET` is a pool too
SETTLE_S = 2.0  # a one-off `curate watch` on a local prefix lists twice, this far apart


@dataclass(frozen=True)
class PoolObject:
    """A pool file as listed: its size and its content version (new bytes, new version)."""

    size: int
    version: str  # the store's ETag, else "<size>-<mtime in µs>"


def object_version(info: dict[str, Any]) -> str:
    """The store's ETag (S3, quotes stripped: as S3 notifications give it), else size and mtime."""
    etag = info.get("ETag") or info.get("etag")
    if etag:
        return str(etag).strip('"')
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if isinstance(mtime, datetime):
        mtime = mtime.timestamp()
    return f"{int(info.get('size') or 0)}-{round(float(mtime) * 1e6)}"


def pool_objects(prefix: str) -> dict[str, PoolObject]:
    """The pool files under `prefix` (URL → size and version); hidden and temporary files are
    skipped (`.name`, `_name`, and anything inside such a folder: staging, `_SUCCESS`, ...)."""
    fs, root = filesystem(prefix)
    protocol = prefix.split("://", 1)[0] + "://" if "://" in prefix else ""
    found = fs.find(root, detail=True) if fs.exists(root) else {}
    objects = {}
    for path, info in found.items():
        relative = path[len(root.rstrip("/")) :].lstrip("/")
        if info.get("type") == "directory" or not path.lower().endswith(POOL_SUFFIXES):
            continue
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        objects[protocol + path] = PoolObject(int(info.get("size") or 0), object_version(info))
    return objects


def settles(prefix: str) -> bool:
    """Whether a new object must look the same in two listings before it is emitted: local files
    are written in place (S3 objects appear whole)."""
    return "://" not in prefix or prefix.startswith("file://")


def event_id(pool_url: str, version: str) -> uuid.UUID:
    """The same pool version always gives the same event id: the server drops a resent event."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{EVENT}:{pool_url}@{version}")


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


def send_landed_event(pool_url: str, pool: PoolObject, prefix: str) -> None:
    """Emit `curation.pool.landed` for the pool version and wait until the server has it."""
    from prefect.events import Event
    from prefect.events.clients import get_events_client
    from prefect.utilities.asyncutils import run_coro_as_sync

    event = Event(
        id=event_id(pool_url, pool.version),
        event=EVENT,
        occurred=datetime.now(timezone.utc),
        resource={"prefect.resource.id": pool_url, "prefect.resource.name": pool_url.rsplit("/", 1)[-1]},
        payload={"size": pool.size, "version": pool.version, "prefix": prefix},
    )

    async def send() -> None:
        # checkpoint_every=1: after each event the client pings and waits for the pong, so the
        # server has received the event before we record it as emitted.
        async with get_events_client(checkpoint_every=1) as client:
            await client.emit(event)

    run_coro_as_sync(send())


Send = Callable[[str, PoolObject, str], None]


def watch_once(prefix: str, state_url: str, send: Send = send_landed_event) -> list[str]:
    """Emit an event for each pool version under `prefix` not emitted before; return their URLs.

    On a local prefix a new version is only noted (`settling`) the first time it is listed, and
    emitted when the next listing finds it unchanged."""
    state = load_state(state_url, prefix)
    emitted, settling = state["emitted"], state.setdefault("settling", {})
    listed = pool_objects(prefix)
    for url, pool in listed.items():  # a state written before versions: its pools are taken as they are now
        if url in emitted and "version" not in emitted[url]:
            emitted[url]["version"] = pool.version
    new = [(url, pool) for url, pool in sorted(listed.items()) if emitted.get(url, {}).get("version") != pool.version]
    if settles(prefix):  # listed unchanged before: ready; the rest is noted until the next listing
        ready = [(url, pool) for url, pool in new if settling.get(url) == pool.version]
        state["settling"] = settling = {url: pool.version for url, pool in new}
        new = ready
    write_json_atomic(state_url, state)
    for url, pool in new:
        send(url, pool, prefix)
        settling.pop(url, None)
        emitted[url] = {
            "event_id": str(event_id(url, pool.version)),
            "version": pool.version,
            "size": pool.size,
            "emitted_at": datetime.now(timezone.utc).isoformat(),
        }
        write_json_atomic(state_url, state)  # after each event: a crash loses nothing emitted
    return [url for url, _ in new]


@dataclass(frozen=True)
class WatchHooks:
    """What a watcher does besides listing: report what it emitted, report a failure, send an event."""

    on_emit: Callable[[list[str]], None] = lambda urls: None
    on_error: Callable[[Exception], None] = lambda err: None
    send: Send = send_landed_event


def watch(prefix: str, state_url: str, every_s: float | None, hooks: WatchHooks = WatchHooks()) -> None:
    """Watch once, or every `every_s` seconds until interrupted. A watcher that keeps going
    survives a failed listing or send (S3 or the server away for a while): it reports the error
    and tries again next time; what was emitted before the failure stays remembered."""
    while True:
        try:
            emitted = watch_once(prefix, state_url, hooks.send)
            if every_s is None and settles(prefix) and read_json(state_url).get("settling"):
                time.sleep(SETTLE_S)  # a one-off watch of a local prefix: the second listing
                emitted += watch_once(prefix, state_url, hooks.send)
            hooks.on_emit(emitted)
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
