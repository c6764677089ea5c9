"""The pool watcher: list an S3 or local prefix and start one `pool-landed` run per new pool
version, at most one per version whatever happens to the watcher.

A pool is known by its content version, not its URL alone: (URL, the store's ETag), or where the
store has none (a local folder) (URL, size, mtime). New bytes at a known key are a new version and
a new run; the same bytes again are none. On a local prefix a file is started only once two
listings in a row saw the same version and it looks whole (a Parquet file has its footer, a JSON
lines file ends on a whole row): a file still being copied is left for a later listing (`cp` writes
in place; S3 objects appear whole, so an S3 prefix starts at once). A file that looks whole, is
started, and then changes before its run reads it: the run ends as superseded (flows/pools.py).

At most one run per version, kept by the server: each run is created with an idempotency key
derived from the URL and the version, and the server returns the existing run for a key it has
seen (in its database: across server restarts, lost watcher state and two watchers at once). The
JSON state file is a cache of what was started (written atomically after each run), so a
restarted watcher does not ask again; the S3-notification Lambda uses the same key.

A self-hosted Prefect server has no webhooks (a Prefect Cloud feature), hence this watcher. The
`pool-landed` deployment still runs on a `curation.pool.landed` event naming the pool (for other
emitters); the watcher creates its runs directly, since the server's event triggers create a run
per event they see and their memory of event ids is in-process and 15 minutes long.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from prefect import flow, get_run_logger

from curation.errors import InputError
from curation.io.sources import object_version
from curation.storage import exists, filesystem, read_json, write_json_atomic

EVENT = "curation.pool.landed"
LANDED_DEPLOYMENT = "curate-pools/pool-landed"
POOL_SUFFIXES = (".parquet", ".jsonl")  # matched whatever their case: `.PARQUET` is a pool too
SETTLE_S = 2.0  # a one-off `curate watch` on a local prefix lists twice, this far apart


@dataclass(frozen=True)
class PoolObject:
    """A pool file as listed: its size and its content version (new bytes, new version)."""

    size: int
    version: str  # the store's ETag, else "<size>-<mtime in µs>"


def pool_objects(prefix: str) -> dict[str, PoolObject]:
    """The pool files under `prefix` (URL → size and version); hidden and temporary files are
    skipped (`.name`, `_name`, and anything inside such a folder: staging, `_SUCCESS`, ...)."""
    fs, root = filesystem(prefix)
    protocol = prefix.split("://", 1)[0] + "://" if "://" in prefix else ""
    found = fs.find(root, detail=True) if fs.exists(root) else {}
    objects = {}
    for path, info in found.items():
        relative = path[len(root.rstrip("/")) :].lstrip("/")
        if info.get("type") != "file" or not path.lower().endswith(POOL_SUFFIXES):
            continue  # folders, and what is no regular file (a FIFO would block the listing's read)
        if any(part.startswith((".", "_")) for part in relative.split("/")):
            continue
        objects[protocol + path] = PoolObject(int(info.get("size") or 0), object_version(info))
    return objects


def settles(prefix: str) -> bool:
    """Whether a new object must look the same in two listings before its run starts: local files
    are written in place (S3 objects appear whole)."""
    return "://" not in prefix or prefix.startswith("file://")


def run_key(pool_url: str, version: str) -> str:
    """The idempotency key of a pool version's run: the server keeps one run per key."""
    return f"{EVENT}:{pool_url}@{version}"


def load_state(state_url: str, prefix: str) -> dict[str, Any]:
    """The watcher's memory for `prefix`; a new state file is written at once, claiming it."""
    if not exists(state_url):
        state = {"prefix": prefix, "started": {}}
        write_json_atomic(state_url, state)
        return state
    state = read_json(state_url)
    if str(state.get("prefix")).rstrip("/") != prefix.rstrip("/"):
        raise InputError(
            f"it remembers prefix {state.get('prefix')!r}, not {prefix!r}",
            file=state_url,
            field="prefix",
            hint="give each watched prefix its own --state file",
        )
    state.setdefault("started", state.pop("emitted", {}))  # a state file written before versions
    return state


def start_landed_run(pool_url: str, pool: PoolObject, prefix: str) -> str:
    """Create the `pool-landed` run for this pool version (not waiting for it); the existing one if
    the server has seen its key. Returns what happened, in words."""
    from prefect.deployments import run_deployment

    from flows.pools import pools_run_name

    asked = datetime.now(timezone.utc)
    run = run_deployment(
        LANDED_DEPLOYMENT,
        parameters={"pools": [pool_url], "version": pool.version},
        flow_run_name=pools_run_name([pool_url], pool.version),
        idempotency_key=run_key(pool_url, pool.version),
        timeout=0,
        as_subflow=False,  # a pool's run of its own, not a child of the watcher's run
    )
    new = run.created is None or run.created >= asked - timedelta(seconds=0.2)  # an existing run predates the ask
    return f"{'started' if new else 'already started:'} run {run.name} for {pool_url} (version {pool.version})"


Send = Callable[[str, PoolObject, str], str]  # (URL, pool, prefix) → what happened, in words


def watch_once(prefix: str, state_url: str, send: Send = start_landed_run) -> list[str]:
    """Start a run for each pool version under `prefix` not started before; return what `send`
    said of each.

    On a local prefix a new version is only noted (`settling`) the first time it is listed, and
    started when the next listing finds it unchanged; one that looks half-written is not even noted
    (`left_incomplete`: a line says so once)."""
    state = load_state(state_url, prefix)
    started, settling = state["started"], state.setdefault("settling", {})
    listed = pool_objects(prefix)
    for url, pool in listed.items():  # a state written before versions: its pools are taken as they are now
        if url in started and "version" not in started[url]:
            started[url]["version"] = pool.version
    new = [(url, pool) for url, pool in sorted(listed.items()) if started.get(url, {}).get("version") != pool.version]
    said = []
    if settles(prefix):  # whole and listed unchanged before: ready; the rest waits for a later listing
        new, said = left_incomplete(new, state)
        ready = [(url, pool) for url, pool in new if settling.get(url) == pool.version]
        state["settling"] = settling = {url: pool.version for url, pool in new}
        new = ready
    write_json_atomic(state_url, state)
    for url, pool in new:
        said.append(send(url, pool, prefix))
        settling.pop(url, None)
        started[url] = {
            "run_key": run_key(url, pool.version),
            "version": pool.version,
            "size": pool.size,
            "started_at": datetime.now(timezone.utc).isoformat(),
        }
        write_json_atomic(state_url, state)  # after each run: a crash forgets nothing started
    return said


def left_incomplete(new: list[tuple[str, PoolObject]], state: dict) -> tuple[list, list[str]]:
    """The new local files that look whole; one line for each that looks half-written (a Parquet
    file without its footer, JSON lines cut inside a row: curation/io/completeness.py), said the
    first time its version is seen. Such a file is left for a later listing whatever the settle time."""
    from curation.io.completeness import incomplete_reason

    whole, said, waiting = [], [], {}
    for url, pool in new:
        fs, path = filesystem(url)
        try:
            reason = incomplete_reason(fs, path, pool.size)
        except OSError as err:  # gone since the listing, a dangling link, no permission: not this time
            reason = f"cannot be read: {type(err).__name__}: {err}"
        if reason is None:
            whole.append((url, pool))
            continue
        waiting[url] = pool.version
        if state.get("incomplete", {}).get(url) != pool.version:
            looks = reason if reason.startswith("cannot be read") else f"looks half-written ({reason})"
            said.append(f"left for a later listing: {url} {looks}")
    state["incomplete"] = waiting
    return whole, said


@dataclass(frozen=True)
class WatchHooks:
    """What a watcher does besides listing: report what it started, report a failure, start a run."""

    on_start: Callable[[list[str]], None] = lambda said: None
    on_error: Callable[[Exception], None] = lambda err: None
    send: Send = start_landed_run


def watch(prefix: str, state_url: str, every_s: float | None, hooks: WatchHooks = WatchHooks()) -> None:
    """Watch once, or every `every_s` seconds until interrupted. A watcher that keeps going
    survives a failed listing or send (S3 or the server away for a while): it reports the error
    and tries again next time; what was started before the failure stays remembered."""
    while True:
        try:
            said = watch_once(prefix, state_url, hooks.send)
            if every_s is None and settles(prefix) and read_json(state_url).get("settling"):
                time.sleep(SETTLE_S)  # a one-off watch of a local prefix: the second listing
                said += watch_once(prefix, state_url, hooks.send)
            hooks.on_start(said)
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
    """Start a `pool-landed` run for each new pool version under the prefix."""
    said = watch_once(prefix, state)
    get_run_logger().info("%d new pool versions under %s%s", len(said), prefix, "".join(f"\n{s}" for s in said))
    return said
