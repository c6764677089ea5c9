"""Where a watcher keeps its state file (one per watched prefix), and a watcher upgraded from the
older place under the cache starting from the state it left there."""

from __future__ import annotations

import hashlib

from curation.config import default_cache_dir


def default_watch_state(prefix: str, out_root: str | None, cache: str | None = None) -> str:
    """One state file per watched prefix, named by the prefix without its trailing slash (so
    `s3://b/landing` and `s3://b/landing/` share it): beside the service's outputs
    (`<out-root>/watch-state/`), not in a cache one clears; under the cache without an out-root."""
    digest = hashlib.sha256(prefix.rstrip("/").encode()).hexdigest()[:16]
    if out_root:
        return f"{out_root.rstrip('/')}/watch-state/{digest}.json"
    return f"{(cache or default_cache_dir()).rstrip('/')}/watch/{digest}.json"


def watch_state_for(prefix: str, out_root: str | None, cache: str | None) -> str:
    """The default state file, started from an older watcher's state where one exists."""
    state = default_watch_state(prefix, out_root, cache)
    adopt_legacy_state(state, prefix, cache)
    return state


def adopt_legacy_state(state: str, prefix: str, cache: str | None) -> None:
    """A watcher upgraded from the state under the cache (named by the literal prefix) starts from it:
    without it, every pool already under the prefix would be curated again (their old runs carry no
    idempotency key the server could answer with)."""
    from curation.storage import exists, read_json, write_json_atomic

    if exists(state):
        return
    for literal in (prefix, prefix.rstrip("/"), prefix.rstrip("/") + "/"):
        digest = hashlib.sha256(literal.encode()).hexdigest()[:16]
        legacy = f"{(cache or default_cache_dir()).rstrip('/')}/watch/{digest}.json"
        if exists(legacy):
            write_json_atomic(state, read_json(legacy))
            return
