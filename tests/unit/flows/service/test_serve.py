"""`curate serve` in this process: it needs a server's URL, serves the deployments after resuming
interrupted runs (the Prefect calls recorded), and runs the watcher in a thread of its own."""

from __future__ import annotations

import contextlib
import threading
import time

import pandas as pd
import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

import flows.watch
from curation.config import ServiceConfig
from curation.errors import InputError
from flows.service import serve as service
from flows.service.watch_state import default_watch_state


def config(tmp_path, **options) -> ServiceConfig:
    validation = str(tmp_path / "v.parquet")
    return ServiceConfig(validation=validation, model="linear", budget=5, out_root=str(tmp_path / "runs"), **options)


def test_a_server_url_is_required(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert service.require_server("serve") == "http://127.0.0.1:4200/api"
    monkeypatch.setenv("PREFECT_API_URL", "")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(InputError, match="`curate watch` needs a running Prefect server") as err:
            service.require_server("watch")
    assert err.value.field == "PREFECT_API_URL"


def test_serve_resumes_interrupted_runs_then_serves_its_deployments(tmp_path, monkeypatch, capsys):
    import prefect

    served, asked, installed = [], [], []
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setattr(service, "resume_interrupted", lambda names: asked.append(names) or ["run-a", "run-b"])
    monkeypatch.setattr(service, "install_automations", lambda resume=True: installed.append(resume))
    monkeypatch.setattr(prefect, "serve", lambda *deployments, **options: served.append((deployments, options)))
    monkeypatch.setattr(service, "serving_lease", contextlib.nullcontext)  # a real lease: the test below
    service.serve(config(tmp_path, pools=[str(tmp_path / "p.parquet")], runs_at_once=3))
    assert asked == [["nightly", "pool-landed"]]
    assert installed == [True]  # both: a run crashing while this process serves is scheduled again
    ((deployments, options),) = served
    assert [d.name for d in deployments] == ["nightly", "pool-landed"]
    assert options == {"limit": 3, "pause_on_shutdown": False}  # a stopped service keeps the nightly schedule on
    assert capsys.readouterr().out.splitlines() == [
        "resuming run run-a: a previous curate serve left it interrupted",
        "resuming run run-b: a previous curate serve left it interrupted",
    ]
    assert not [t for t in threading.enumerate() if t.name == "pool-watcher"]  # no --watch: no watcher


def test_a_second_serve_stands_by_while_the_first_holds_the_serving_lease(prefect_api_url, capsys):
    """The serving lease on a real API: held while serving, a second holder waits, saying so, and
    gets it once the first lets go."""
    from prefect.client.orchestration import get_client

    def active() -> int:
        with get_client(sync_client=True) as client:
            return client.read_global_concurrency_limit_by_name(service.SERVE_LIMIT).active_slots

    held, release = threading.Event(), threading.Event()

    def first() -> None:
        with service.serving_lease():
            held.set()
            release.wait(30)

    thread = threading.Thread(target=first)
    thread.start()
    assert held.wait(60) and active() == 1
    threading.Timer(2.0, release.set).start()
    began = time.monotonic()
    with service.serving_lease():  # waits for the first
        waited = time.monotonic() - began
        assert active() == 1
    thread.join(10)
    assert active() == 0 and waited >= 1.0
    out = capsys.readouterr().out
    assert "standing by: another curate serve holds the lease 'curate-serve'" in out
    assert out.count("holding the lease 'curate-serve': serving") == 2


class Enough(BaseException):
    """Raised once the test has what it needs: no `except Exception` of the watcher's stops it."""


def test_the_watcher_thread_lists_reports_and_keeps_going_after_a_failure(tmp_path, monkeypatch, capsys):
    landing = tmp_path / "landing"
    landing.mkdir()
    pd.DataFrame({"text": ["a", "b"]}).to_parquet(landing / "a.parquet")
    sent, real_hooks, real_watch = [], flows.watch.WatchHooks, flows.watch.watch

    def send(url, pool, prefix):  # the server away for the first try
        sent.append(url)
        if len(sent) == 1:
            raise ConnectionError("server restarting")
        return f"started run r-1 for {url}"

    def hooks(on_start, on_error):
        def start_then_stop(said):
            on_start(said)
            if said:
                raise Enough

        return real_hooks(on_start=start_then_stop, on_error=on_error, send=send)

    def watch_until_enough(*args):  # the thread's target: the real watcher, ended by the test
        try:
            real_watch(*args)
        except Enough:
            pass

    monkeypatch.setattr(flows.watch, "watch", watch_until_enough)
    monkeypatch.setattr(flows.watch, "WatchHooks", hooks)
    fast = config(tmp_path, watch_prefix=str(landing)).model_copy(update={"watch_every_s": 0.05})  # not valid as a flag
    thread = service.start_watcher(fast)
    assert thread.name == "pool-watcher" and thread.daemon
    thread.join(timeout=60)
    assert not thread.is_alive()
    url = str(landing / "a.parquet")
    assert sent == [url, url]
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"started run r-1 for {url}"]
    assert "curate serve: watcher: listing or starting failed, retrying in 0.05 s: server restarting" in err
    state = default_watch_state(str(landing), str(tmp_path / "runs"))
    assert flows.watch.read_json(state)["started"][url]["version"]  # remembered in the default state file


def test_a_state_file_of_another_prefix_stops_serve_before_any_thread(tmp_path):
    state = str(tmp_path / "state.json")
    flows.watch.load_state(state, str(tmp_path / "one"))
    before = threading.active_count()
    with pytest.raises(InputError, match="give each watched prefix its own --state file"):
        service.start_watcher(config(tmp_path, watch_prefix=str(tmp_path / "two"), watch_state=state))
    assert threading.active_count() == before
