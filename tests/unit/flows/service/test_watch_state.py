"""Where a watcher keeps its state: one file per prefix beside the outputs (or under the cache), and
an older watcher's state under the cache adopted once, with real files."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from flows.service.watch_state import adopt_legacy_state, default_watch_state, watch_state_for
from flows.watch import pool_objects, watch_once


def land(path, rows: int = 3):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": [f"row {i}" for i in range(rows)]}).to_parquet(path)


def legacy_file(cache, literal: str):
    """Where a watcher before the out-root state kept it: under the cache, named by the literal prefix."""
    return cache / "watch" / f"{hashlib.sha256(literal.encode()).hexdigest()[:16]}.json"


def test_the_default_state_lives_beside_the_outputs_one_per_prefix_whatever_its_slash(tmp_path):
    with_slash, without = (
        default_watch_state("s3://b/landing/", "s3://b/runs"),
        default_watch_state("s3://b/landing", "s3://b/runs/"),
    )
    assert with_slash == without and with_slash.startswith("s3://b/runs/watch-state/")
    assert default_watch_state("s3://b/other", "s3://b/runs") != with_slash
    assert default_watch_state("s3://b/landing", None, str(tmp_path)).startswith(f"{tmp_path}/watch/")
    state = str(tmp_path / "w.json")
    land(tmp_path / "landing" / "a.parquet")
    watch_once(str(tmp_path / "landing"), state, lambda url, pool, prefix: url)
    watch_once(str(tmp_path / "landing") + "/", state, lambda url, pool, prefix: url)  # the same prefix: accepted


def test_without_an_out_root_or_a_cache_the_state_lives_under_the_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "env-cache") + "/")
    state = default_watch_state("s3://b/landing/", None)
    digest = hashlib.sha256(b"s3://b/landing").hexdigest()[:16]
    assert state == f"{tmp_path}/env-cache/watch/{digest}.json"
    assert default_watch_state("s3://b/landing", "", None) == state  # an empty out-root is none


def test_an_upgraded_watcher_starts_from_its_old_state_under_the_cache(tmp_path):
    prefix, cache, out_root = str(tmp_path / "landing"), str(tmp_path / "cache"), str(tmp_path / "runs")
    land(tmp_path / "landing" / "a.parquet")
    legacy = legacy_file(tmp_path / "cache", prefix)
    legacy.parent.mkdir(parents=True)
    url = next(iter(pool_objects(prefix)))
    legacy.write_text(json.dumps({"prefix": prefix, "emitted": {url: {"event_id": "x", "size": 1}}}))
    state = watch_state_for(prefix, out_root, cache)
    assert state.startswith(f"{out_root}/watch-state/") and json.loads(open(state).read())["emitted"]
    sent = []
    record = lambda *a: sent.append(a)  # noqa: E731
    assert watch_once(prefix, state, record) == [] == watch_once(prefix, state, record) == sent


def test_a_legacy_state_named_by_the_prefix_with_its_slash_is_found_too(tmp_path):
    cache = tmp_path / "cache"
    legacy = legacy_file(cache, "s3://b/landing/")  # the old watcher was given the prefix with a slash
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"prefix": "s3://b/landing/", "started": {"s3://b/landing/a.parquet": {}}}))
    state = watch_state_for("s3://b/landing", str(tmp_path / "runs"), str(cache))
    assert json.loads(open(state).read()) == json.loads(legacy.read_text())
    assert legacy.exists()  # copied, not moved: an older watcher still running keeps its memory


def test_an_existing_state_is_never_overwritten_by_a_legacy_one(tmp_path):
    cache, prefix = tmp_path / "cache", "s3://b/landing"
    legacy = legacy_file(cache, prefix)
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"prefix": prefix, "started": {"old": {}}}))
    state = tmp_path / "runs" / "state.json"
    state.parent.mkdir()
    state.write_text(json.dumps({"prefix": prefix, "started": {"new": {}}}))
    adopt_legacy_state(str(state), prefix, str(cache))
    assert json.loads(state.read_text())["started"] == {"new": {}}


def test_without_a_legacy_state_nothing_is_written(tmp_path):
    state = watch_state_for("s3://b/landing", str(tmp_path / "runs"), str(tmp_path / "cache"))
    assert state.startswith(f"{tmp_path}/runs/watch-state/")
    assert not (tmp_path / "runs").exists()  # the watcher claims its state when it first lists
