"""Exactly once from every entry point: one run curates a pool version, whatever started it.

The watcher and the S3-notification Lambda create one run per pool version (idempotency keys), but
an event trigger, the nightly schedule and a person in the UI create runs of their own. So the flow
decides before any work (`curate-pools`, flows/pools.py):

- **superseded**: a run started for a version (`version`, the watcher's or the event's) whose file
  has changed since ends without work, naming the newer version;
- **claimed**: the run claims the pool's content under the target's settings by tagging itself
  `curated:<key>`, while it holds the one slot of the global concurrency limit `curation-claims`
  (a lease: a claimer killed mid-claim frees it within a minute). A run that finds another run
  with the tag, running or completed, ends "already curated by run X" with no model loaded. A
  failed or crashed run's claim does not count (its pool is tried again); a resumed run is the
  same run, so it finds only itself.

The key is the pool's files and their content versions (the store's ETag, else an xxh3 digest of the
bytes: `curation.io.sources`) and a digest of the settings; never the version a run was started
with (the watcher's version of a local file is its size and mtime, a manual run has none).
"""

from __future__ import annotations

import hashlib
import json

from curation.config import CurationSettings
from curation.errors import EnvironmentFault, InputError

CLAIMS_LIMIT = "curation-claims"
CLAIM_LEASE_S = 60  # the server's shortest lease
TAG_PREFIX = "curated:"
CLAIMING_STATES = ("SCHEDULED", "PENDING", "RUNNING", "PAUSED", "CANCELLING", "COMPLETED")


def current_version(pool: str) -> str | None:
    """The version a watcher or an event would give the pool now (flows/watch.py's), for one file;
    None for a folder or a pattern (their runs are not started for one version)."""
    from curation.io.sources import object_version
    from curation.storage import filesystem

    fs, path = filesystem(pool)
    if any(c in path for c in "*?[") or not fs.isfile(path):
        return None
    return object_version(fs.info(path))


def superseded_by(pool: str, version: str) -> str | None:
    """The pool's newer version when the run was started for `version` and the file changed since."""
    if not version:
        return None
    now = current_version(pool)
    return now if now is not None and now != version else None


def claim_tag(pool: str, settings: CurationSettings) -> str:
    """`curated:<key>`: the pool's files and content versions, and the settings, hashed."""
    from curation.io.sources import open_source

    identity = open_source(pool).identity
    facts = json.dumps({"pool": identity, "settings": settings.model_dump(mode="json")}, sort_keys=True)
    return TAG_PREFIX + hashlib.sha256(facts.encode()).hexdigest()[:24]


def not_to_curate(pool: str, settings: CurationSettings, version: str) -> str | None:
    """Why this run leaves `pool` alone (superseded, or already curated by another run), in words;
    None after claiming it."""
    try:
        newer = superseded_by(pool, version)
        tag = None if newer else claim_tag(pool, settings)
    except (InputError, EnvironmentFault, OSError):
        return None  # a pool that cannot be read: its curate run fails, saying why, and claims nothing
    if newer:
        return f"superseded by version {newer} (this run was started for version {version}; the file has changed since)"
    other = claim(tag)
    return f"already curated by run {other}" if other else None


def left_alone(outcome: str) -> str | None:
    """`Superseded` or `AlreadyCurated` for a pool's outcome that `not_to_curate` gave, else None."""
    if outcome.startswith("superseded by version"):
        return "Superseded"
    return "AlreadyCurated" if outcome.startswith("already curated by run") else None


def claim(tag: str) -> str | None:
    """Tag this flow run with `tag` unless another run holds it; the other run's name if one does."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.concurrency.sync import concurrency
    from prefect.runtime import flow_run

    from tasks.slots import ensure_limit

    me = flow_run.id
    holding = FlowRunFilter(
        tags=FlowRunFilterTags(all_=[tag]),
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=list(CLAIMING_STATES))),
        id=FlowRunFilterId(not_any_=[me]),
    )
    with get_client(sync_client=True) as client:
        ensure_limit(client, CLAIMS_LIMIT)
        with concurrency(CLAIMS_LIMIT, occupy=1, lease_duration=CLAIM_LEASE_S, strict=True, timeout_seconds=300):
            others = client.read_flow_runs(flow_run_filter=holding, limit=1)
            if others:
                return f"{others[0].name} (id {others[0].id})"
            tags = client.read_flow_run(me).tags
            client.update_flow_run(me, tags=sorted({*tags, tag}))
    return None
