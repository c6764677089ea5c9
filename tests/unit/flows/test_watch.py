"""The pool watcher's memory and listing, and the service flow's output folders (the real server
path, events and triggered runs, is in test_service.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.errors import InputError
from flows.pools import pool_slug, run_out_dir
from flows.watch import event_id, pool_objects, watch_once


def land(path, rows: int = 3):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": [f"row {i}" for i in range(rows)]}).to_parquet(path)


def test_listing_finds_pool_files_and_skips_markers_hidden_and_temporary_files(tmp_path):
    land(tmp_path / "landing" / "a.parquet")
    land(tmp_path / "landing" / "day" / "b.parquet")
    (tmp_path / "landing" / "c.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "landing" / "_SUCCESS").write_text("")
    (tmp_path / "landing" / "notes.txt").write_text("not a pool")
    land(tmp_path / "landing" / ".staging-1" / "d.parquet")
    land(tmp_path / "landing" / "_temporary" / "e.parquet")
    found = pool_objects(str(tmp_path / "landing"))
    assert sorted(p.rsplit("landing/", 1)[1] for p in found) == ["a.parquet", "c.jsonl", "day/b.parquet"]
    assert all(size > 0 for size in found.values())
    assert pool_objects(str(tmp_path / "nothing-here")) == {}


def test_each_pool_is_sent_once_across_restarts_and_a_failed_send_is_retried(tmp_path):
    prefix, state = str(tmp_path / "landing"), str(tmp_path / "state" / "watch.json")
    land(tmp_path / "landing" / "a.parquet")
    land(tmp_path / "landing" / "b.parquet")
    sent: list[str] = []

    def send_failing_on_b(url, size, prefix):
        if url.endswith("b.parquet"):
            raise ConnectionError("server went away")
        sent.append(url)

    with pytest.raises(ConnectionError):
        watch_once(prefix, state, send_failing_on_b)
    assert [u.rsplit("/", 1)[1] for u in sent] == ["a.parquet"]  # a was sent and remembered
    remembered = json.loads((tmp_path / "state" / "watch.json").read_text())["emitted"]
    assert list(remembered) == sent and remembered[sent[0]]["event_id"] == str(event_id(sent[0]))

    record = lambda url, size, prefix: sent.append(url)  # noqa: E731 (a restarted watcher)
    assert [u.rsplit("/", 1)[1] for u in watch_once(prefix, state, record)] == ["b.parquet"]
    assert watch_once(prefix, state, record) == []
    land(tmp_path / "landing" / "c.parquet")
    assert [u.rsplit("/", 1)[1] for u in watch_once(prefix, state, record)] == ["c.parquet"]
    assert len(sent) == len(set(sent)) == 3


def test_event_ids_are_stable_per_pool():
    assert event_id("s3://b/p/a.parquet") == event_id("s3://b/p/a.parquet") != event_id("s3://b/p/b.parquet")


def test_a_state_file_of_another_prefix_is_refused(tmp_path):
    state = str(tmp_path / "watch.json")
    watch_once(str(tmp_path / "one"), state, lambda *a: None)
    with pytest.raises(InputError, match="give each watched prefix its own --state file") as err:
        watch_once(str(tmp_path / "two"), state, lambda *a: None)
    assert err.value.file == state


def test_watch_without_a_server_is_bad_input(curate_cli, tmp_path):
    done = curate_cli("watch", str(tmp_path), env={"PREFECT_API_URL": ""})
    assert done.returncode == 2
    assert done.stderr.strip().startswith("curate: error: field 'PREFECT_API_URL'") and "Traceback" not in done.stderr


def test_each_pool_and_run_gets_its_own_output_folder():
    from datetime import datetime, timezone

    started = datetime(2026, 11, 25, 2, 0, 5, tzinfo=timezone.utc)
    a, b = "s3://bucket/x/data.parquet", "s3://bucket/y/data.parquet"
    assert pool_slug(a).startswith("data-") and pool_slug(a) != pool_slug(b)
    assert pool_slug("s3://bucket/pools/day-3/").startswith("day-3-")
    assert run_out_dir("s3://bucket/runs/", a, started) == f"s3://bucket/runs/{pool_slug(a)}/20261125T020005Z"


def s3_notification_lambda():
    import importlib.util

    from conftest import REPO

    spec = importlib.util.spec_from_file_location(
        "s3_notification_lambda", REPO / "infra" / "s3_notification_lambda.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def s3_record(key: str, event: str = "ObjectCreated:Put", bucket: str = "landing-bucket") -> dict:
    return {
        "eventName": event,
        "eventTime": "2026-11-25T02:00:00.000Z",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 123}},
    }


def test_s3_notifications_become_the_watchers_events():
    lambda_module = s3_notification_lambda()
    events = lambda_module.landed_events(
        {
            "Records": [
                s3_record("pools/day+3/pool%3D1.parquet"),
                s3_record("pools/_SUCCESS"),
                s3_record("pools/.tmp/x.parquet"),
                s3_record("pools/old.parquet", event="ObjectRemoved:Delete"),
                s3_record("pools/notes.txt"),
            ]
        }
    )
    assert [e["resource"]["prefect.resource.id"] for e in events] == ["s3://landing-bucket/pools/day 3/pool=1.parquet"]
    # The same id the watcher would give: a pool reported by both triggers one run.
    assert events[0]["id"] == str(event_id("s3://landing-bucket/pools/day 3/pool=1.parquet"))
    assert events[0]["event"] == "curation.pool.landed"


def test_a_watcher_that_keeps_going_survives_a_failed_send(tmp_path):
    from flows.watch import WatchHooks, watch

    land(tmp_path / "landing" / "a.parquet")
    calls, errors = [], []

    def flaky(url, size, prefix):
        calls.append(url)
        if len(calls) == 1:
            raise ConnectionError("server restarting")
        if len(calls) == 2:
            raise KeyboardInterrupt  # stop the loop after the retry went through

    with pytest.raises(KeyboardInterrupt):
        watch(
            str(tmp_path / "landing"),
            str(tmp_path / "state.json"),
            0.01,
            WatchHooks(on_error=errors.append, send=flaky),
        )
    assert len(calls) == 2 and [type(e) for e in errors] == [ConnectionError]
