"""The pool watcher's memory and listing, and the service flow's output folders (the real server
path, events and triggered runs, is in test_service.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from curation.errors import InputError
from flows.pools import pool_slug, run_out_dir
from flows.watch import WatchHooks, pool_objects, run_key, watch, watch_once


def land(path, rows: int = 3):
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"text": [f"row {i}" for i in range(rows)]}).to_parquet(path)


def test_listing_finds_pool_files_and_skips_markers_hidden_and_temporary_files(tmp_path):
    land(tmp_path / "landing" / "a.parquet")
    land(tmp_path / "landing" / "day" / "b.parquet")
    (tmp_path / "landing" / "c.jsonl").write_text('{"text": "x"}\n')
    land(tmp_path / "landing" / "LOUD.PARQUET")  # a suffix in capitals is still a pool
    (tmp_path / "landing" / "_SUCCESS").write_text("")
    (tmp_path / "landing" / "notes.txt").write_text("not a pool")
    land(tmp_path / "landing" / ".staging-1" / "d.parquet")
    land(tmp_path / "landing" / "_temporary" / "e.parquet")
    found = pool_objects(str(tmp_path / "landing"))
    assert sorted(p.rsplit("landing/", 1)[1] for p in found) == [
        "LOUD.PARQUET",
        "a.parquet",
        "c.jsonl",
        "day/b.parquet",
    ]
    assert all(pool.size > 0 and pool.version.startswith(f"{pool.size}-") for pool in found.values())
    assert pool_objects(str(tmp_path / "nothing-here")) == {}


def names(urls: list[str]) -> list[str]:
    return [u.rsplit("/", 1)[1] for u in urls]


def test_each_pool_is_sent_once_across_restarts_and_a_failed_send_is_retried(tmp_path):
    prefix, state = str(tmp_path / "landing"), str(tmp_path / "state" / "watch.json")
    land(tmp_path / "landing" / "a.parquet")
    land(tmp_path / "landing" / "b.parquet")
    sent: list[str] = []

    def send_failing_on_b(url, pool, prefix):
        if url.endswith("b.parquet"):
            raise ConnectionError("server went away")
        sent.append(url)
        return url

    assert watch_once(prefix, state, send_failing_on_b) == []  # a local prefix: first listed, then sent
    with pytest.raises(ConnectionError):
        watch_once(prefix, state, send_failing_on_b)
    assert names(sent) == ["a.parquet"]  # a was sent and remembered
    remembered = json.loads((tmp_path / "state" / "watch.json").read_text())["started"]
    version = pool_objects(prefix)[sent[0]].version
    assert list(remembered) == sent and remembered[sent[0]]["run_key"] == run_key(sent[0], version)

    record = lambda url, pool, prefix: sent.append(url) or url  # noqa: E731 (a restarted watcher)
    assert names(watch_once(prefix, state, record)) == ["b.parquet"]
    assert watch_once(prefix, state, record) == []
    land(tmp_path / "landing" / "c.parquet")
    assert watch_once(prefix, state, record) == [] and names(watch_once(prefix, state, record)) == ["c.parquet"]
    assert len(sent) == len(set(sent)) == 3


def test_new_bytes_at_a_known_path_are_a_new_pool_and_the_same_bytes_are_not(tmp_path):
    prefix, state, sent = str(tmp_path / "landing"), str(tmp_path / "watch.json"), []
    record = lambda url, pool, prefix: sent.append((url, pool)) or url  # noqa: E731
    land(tmp_path / "landing" / "same.parquet", rows=3)
    watch_once(prefix, state, record), watch_once(prefix, state, record)
    land(tmp_path / "landing" / "same.parquet", rows=30)  # overwritten with other rows
    assert watch_once(prefix, state, record) == []  # settling: listed once
    assert names(watch_once(prefix, state, record)) == ["same.parquet"]
    assert watch_once(prefix, state, record) == [] == watch_once(prefix, state, record)
    assert len(sent) == 2 and sent[0][1].version != sent[1][1].version
    assert run_key(sent[0][0], sent[0][1].version) != run_key(sent[1][0], sent[1][1].version)


def test_a_local_file_written_in_two_halves_is_sent_once_whole(tmp_path):
    prefix, state, sent = str(tmp_path / "landing"), str(tmp_path / "watch.json"), []
    record = lambda url, pool, prefix: sent.append(pool) or url  # noqa: E731
    whole = tmp_path / "whole.parquet"
    land(whole, rows=2000)
    data = whole.read_bytes()
    target = tmp_path / "landing" / "pool.parquet"
    target.parent.mkdir()
    target.write_bytes(data[: len(data) // 2])  # `cp` caught half way...
    (said,) = watch_once(prefix, state, record)  # ...is left: it has no footer yet
    assert (
        said
        == f"left for a later listing: {target} looks half-written (no Parquet footer yet: it does not end with PAR1)"
    )
    assert watch_once(prefix, state, record) == []  # said once, not at every listing
    with target.open("ab") as handle:
        handle.write(data[len(data) // 2 :])
    assert watch_once(prefix, state, record) == []  # whole now: noted
    assert names(watch_once(prefix, state, record)) == ["pool.parquet"]  # unchanged over two listings
    assert [pool.size for pool in sent] == [len(data)]


def test_a_half_written_file_is_never_started_however_long_the_writer_pauses(tmp_path, monkeypatch):
    """The two-step write a new user tried: half a Parquet file, a one-off watch, the rest written
    after a pause longer than the settle time, more one-off watches: one start, for the whole file."""
    monkeypatch.setattr("flows.watch.SETTLE_S", 0.01)
    prefix, state, sent = str(tmp_path / "landing"), str(tmp_path / "watch.json"), []
    hooks = WatchHooks(send=lambda url, pool, prefix: sent.append(pool) or url)
    whole = tmp_path / "whole.parquet"
    land(whole, rows=3000)
    data = whole.read_bytes()
    target = tmp_path / "landing" / "pool.parquet"
    target.parent.mkdir()
    target.write_bytes(data[: len(data) // 2])
    for _ in range(3):  # the writer pauses through three one-off watches, each listing twice
        watch(prefix, state, None, hooks)
    assert sent == []
    with target.open("ab") as handle:
        handle.write(data[len(data) // 2 :])
    for _ in range(3):
        watch(prefix, state, None, hooks)
    assert [pool.size for pool in sent] == [len(data)]


def test_json_lines_cut_inside_a_row_wait_and_whole_lines_start(tmp_path):
    prefix, state = str(tmp_path / "landing"), str(tmp_path / "watch.json")
    target = tmp_path / "landing" / "pool.jsonl"
    target.parent.mkdir()
    target.write_text('{"text": "a"}\n{"text": "b')
    (said,) = watch_once(prefix, state, lambda url, pool, prefix: url)
    assert "looks half-written (its last line is not whole JSON" in said
    target.write_text('{"text": "a"}\n{"text": "b"}')  # no newline at the end, but a whole row
    assert watch_once(prefix, state, lambda url, pool, prefix: url) == []
    assert names(watch_once(prefix, state, lambda url, pool, prefix: url)) == ["pool.jsonl"]


def test_a_one_off_watch_of_a_local_prefix_lists_twice(tmp_path):
    land(tmp_path / "landing" / "a.parquet")
    emitted = []
    watch(
        str(tmp_path / "landing"),
        str(tmp_path / "w.json"),
        None,
        WatchHooks(on_start=emitted.extend, send=lambda url, pool, prefix: url),
    )
    assert names(emitted) == ["a.parquet"]


def test_a_state_written_before_versions_does_not_resend_its_pools(tmp_path):
    prefix, state = str(tmp_path / "landing"), tmp_path / "watch.json"
    land(tmp_path / "landing" / "a.parquet")
    url = next(iter(pool_objects(prefix)))
    state.write_text(json.dumps({"prefix": prefix, "emitted": {url: {"event_id": "x", "size": 1}}}))  # an old state
    sent = []
    assert watch_once(prefix, str(state), lambda *a: sent.append(a)) == [] == sent
    assert watch_once(prefix, str(state), lambda *a: sent.append(a)) == [] == sent
    assert json.loads(state.read_text())["started"][url]["version"] == pool_objects(prefix)[url].version


def test_an_s3_prefix_emits_at_once_and_knows_versions_by_etag(s3_env, tmp_path):
    import fsspec

    fs, base = fsspec.filesystem("s3"), f"{s3_env['bucket']}/watch-{tmp_path.name}"
    prefix, state, sent = f"s3://{base}/landing/", f"s3://{base}/state.json", []
    record = lambda url, pool, prefix: sent.append((url, pool)) or url  # noqa: E731
    local = tmp_path / "p.parquet"
    land(local, rows=5)
    fs.put_file(str(local), f"{base}/landing/same.parquet")
    assert names(watch_once(prefix, state, record)) == ["same.parquet"]  # whole on arrival: no settling
    fs.put_file(str(local), f"{base}/landing/same.parquet")  # the same bytes uploaded again
    assert watch_once(prefix, state, record) == []
    land(local, rows=50)
    fs.put_file(str(local), f"{base}/landing/same.parquet")  # new bytes at the same key
    assert names(watch_once(prefix, state, record)) == ["same.parquet"]
    assert len(sent) == 2 and sent[0][1].version != sent[1][1].version and not sent[0][1].version.startswith('"')


def test_run_keys_are_stable_per_pool_version():
    a, b = "s3://b/p/a.parquet", "s3://b/p/b.parquet"
    assert run_key(a, "v1") == run_key(a, "v1") != run_key(b, "v1") and run_key(a, "v2") != run_key(a, "v1")


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
        "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 123, "eTag": "0123abcd"}},
    }


def test_s3_notifications_become_the_watchers_pool_versions():
    lambda_module = s3_notification_lambda()
    pools = lambda_module.landed_pools(
        {
            "Records": [
                s3_record("pools/day+3/pool%3D1.parquet"),
                s3_record("pools/_SUCCESS"),
                s3_record("pools/.tmp/x.parquet"),
                s3_record("pools/old.parquet", event="ObjectRemoved:Delete"),
                s3_record("pools/notes.txt"),
                s3_record("pools/LOUD.PARQUET"),
            ]
        }
    )
    url = "s3://landing-bucket/pools/day 3/pool=1.parquet"
    assert [p["url"] for p in pools] == [url, "s3://landing-bucket/pools/LOUD.PARQUET"]
    # The same run key the watcher gives the version: reported by both, it runs once.
    assert pools[0]["version"] == "0123abcd" and lambda_module.run_key(url, "0123abcd") == run_key(url, "0123abcd")


def test_a_watcher_that_keeps_going_survives_a_failed_send(tmp_path):
    from flows.watch import WatchHooks, watch

    land(tmp_path / "landing" / "a.parquet")
    calls, errors = [], []

    def flaky(url, pool, prefix):
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


def test_a_run_interrupted_too_often_is_refused_not_run_again(prefect_api_url, monkeypatch, tmp_path):
    """A run resumed after each crash (curate serve at its start, the infra automation) that crashes
    every time stops at its fourth attempt with a clear message, before it reads any pool."""
    from prefect.runtime import flow_run

    from curation.config import CurationSettings
    from flows.pools import MAX_ATTEMPTS, curate_pools

    monkeypatch.setenv("PREFECT__RUNTIME__FLOW_RUN__RUN_COUNT", str(MAX_ATTEMPTS + 1))
    assert flow_run.run_count == MAX_ATTEMPTS + 1
    settings = CurationSettings(validation=str(tmp_path / "v.parquet"), model="linear", budget=2)
    state = curate_pools([str(tmp_path / "never-read.parquet")], str(tmp_path / "runs"), settings, return_state=True)
    assert state.is_failed() and "interrupted 3 times; not run again" in state.message
    assert not (tmp_path / "runs").exists()


def test_what_is_no_regular_file_never_blocks_or_stops_a_listing(tmp_path):
    """A FIFO would block a read forever and a dangling link cannot be read: neither stops the other pools."""
    import os

    prefix, state = tmp_path / "landing", str(tmp_path / "watch.json")
    land(prefix / "good.parquet")
    os.mkfifo(prefix / "drop.jsonl")
    os.symlink(tmp_path / "nowhere.jsonl", prefix / "dangling.jsonl")
    send = lambda url, pool, prefix: url  # noqa: E731
    assert watch_once(str(prefix), state, send) == []  # neither is listed; the good pool settles
    assert names(watch_once(str(prefix), state, send)) == ["good.parquet"]


def test_a_file_gone_between_the_listing_and_its_check_is_left_for_a_later_listing(tmp_path):
    from flows.watch import PoolObject, left_incomplete

    gone = str(tmp_path / "gone.parquet")
    whole, said = left_incomplete([(gone, PoolObject(10, "10-1"))], {})
    assert whole == [] and said[0].startswith(f"left for a later listing: {gone} cannot be read: FileNotFoundError")
