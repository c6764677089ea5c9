"""The trends task on the session's real Prefect API: the history grows a row per run and target, the
`curation-trends` artifact shows both runs, and a run that drifted is tagged, warned about and
announced with a `curation.drift.detected` event."""

from __future__ import annotations

import httpx
import numpy as np
import pandas as pd
import pytest
from polling import wait_for
from targets import feature_files, in_a_flow_run, run_config, scored_and_chosen, target_run

from curation.run.report import Curated, build_report
from curation.trends import HISTORY, Night
from tasks.trends import DRIFT_EVENT, DRIFT_TAG, _finite, night_of, track_trends


@pytest.fixture
def report_and_config(tmp_path):
    config = run_config(feature_files(tmp_path / "data"), tmp_path, method="random", skip_finetune=True)
    run = target_run(config, tmp_path / "spill")
    scored, chosen = scored_and_chosen(config, run, tmp_path / "scores.parquet")
    report = build_report(config, run, Curated(scored, chosen, None), {"score": 1.0})
    night = night_of(report, run.pool, scored)
    assert len(night.hashes) == len(night.scores) == 120 and night.method == "random"
    return report, config.model_copy(update={"trends": str(tmp_path / "trends")}), night


def _events(api: str, run_id: str) -> list[dict]:
    body = {"filter": {"event": {"name": [DRIFT_EVENT]}, "any_resource": {"id": [f"prefect.flow-run.{run_id}"]}}}
    found = httpx.post(f"{api}/events/filter", json=body, timeout=10).json()
    return found.get("events", [])


def test_two_runs_make_two_history_rows_and_a_shifted_pool_is_flagged(report_and_config, prefect_api_url, tmp_path):
    from prefect.client.orchestration import get_client

    report, config, night = report_and_config
    first = Night(night.hashes, night.scores, "lossdrop", 0.1, run="night-1")
    night_1 = report.model_copy(update={"flow_run": "night-1"})  # what build_report takes from the flow run
    drifts, first_run = in_a_flow_run(lambda: track_trends(config, {"code": (night_1, first)}))
    assert drifts == {"code": None}  # nothing to compare with on the first night

    half = len(night.hashes) // 2
    hashes = np.concatenate([night.hashes[:half], [f"new-{i}" for i in range(len(night.hashes) - half)]])
    shifted = Night(hashes, np.asarray(night.scores) + 5.0, "embedding", -0.2, run="night-2")
    night_2 = report.model_copy(update={"flow_run": "night-2"})
    drifts, second_run = in_a_flow_run(lambda: track_trends(config, {"code": (night_2, shifted)}))
    drift = drifts["code"]
    assert drift.drifted and drift.ks == 1.0 and drift.rows_new == len(hashes) - half and drift.rows_kept == half
    assert drift.method_flipped and drift.lift_sign_changed

    history = pd.read_parquet(tmp_path / "trends" / HISTORY)
    assert history["target"].tolist() == ["code", "code"] and history["drifted"].tolist() == [False, True]
    with get_client(sync_client=True) as client:
        assert DRIFT_TAG in client.read_flow_run(second_run).tags
        assert DRIFT_TAG not in client.read_flow_run(first_run).tags
        artifact = client.read_latest_artifacts()
        trends = [a for a in artifact if a.key == "curation-trends"][0]
    assert trends.data.count("| ") > 2 and "data:image/png;base64," in trends.data and "KS" in trends.data
    event = wait_for(lambda: _events(prefect_api_url, second_run), 30, "the drift event")[0]
    assert event["payload"]["target"] == "code" and event["payload"]["ks"] == 1.0
    assert not _events(prefect_api_url, first_run)


def test_an_events_payload_carries_no_nan():
    assert _finite({"q": {"q10": float("nan")}, "ks": 0.5, "r": [float("inf"), 1]}) == {
        "q": {"q10": None},
        "ks": 0.5,
        "r": [None, 1],
    }
