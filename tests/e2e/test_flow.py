"""The curation flow end to end on a real Prefect API, with both model adapters."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from runs import curate_run, on_task

from curation.config import CurateConfig

pytestmark = pytest.mark.usefixtures("prefect_api_url")


def test_lossdrop_beats_random_on_a_pool_with_wrong_label_copies(labelled_task, tmp_path):
    report = curate_run(
        **on_task(labelled_task, test=True), budget=300, out=str(tmp_path / "out"), cache=str(tmp_path / "cache")
    )
    evaluation = report["evaluation"]
    assert evaluation["metric"] == "accuracy" and evaluation["eval_set"] == "test"
    assert evaluation["selection"]["accuracy"] > evaluation["random"]["accuracy"] + 0.05
    assert evaluation["lift"] == pytest.approx(evaluation["selection"]["accuracy"] - evaluation["random"]["accuracy"])

    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written["evaluation"]["lift"] == pytest.approx(evaluation["lift"])
    selection = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert len(selection) == 300
    assert list(selection.columns[:3]) == ["id", "score", "rank"]
    assert {"features", "label", "source"} <= set(selection.columns)  # original columns pass through
    assert (selection["source"] == "clean").mean() > 0.9
    # stratified by the validation set's labels: every class is present in the selection
    validation = pd.read_parquet(labelled_task["validation"])
    shares = validation["label"].value_counts(normalize=True)
    counts = selection["label"].value_counts()
    for label, share in shares.items():
        assert abs(counts.get(label, 0) - 300 * share) <= 2

    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert list(scores.columns) == ["id", "score", "loss_base", "loss_warm"]
    assert len(scores) == report["counts"]["valid"] == 2400


def test_same_inputs_and_seed_give_the_same_scores_and_selection(labelled_task, tmp_path):
    runs = []
    for name in ("a", "b"):
        curate_run(
            **on_task(labelled_task, model="mlp"),
            budget=0.1,
            out=str(tmp_path / name),
            cache=str(tmp_path / f"cache-{name}"),
            skip_finetune=True,
        )
        runs.append(
            (
                pd.read_parquet(tmp_path / name / "scores.parquet"),
                pd.read_parquet(tmp_path / name / "selection.parquet"),
            )
        )
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    pd.testing.assert_frame_equal(runs[0][1], runs[1][1])
    assert len(runs[0][1]) == 240


def test_skip_finetune_stops_after_selection(labelled_task, tmp_path):
    report = curate_run(
        **on_task(labelled_task),
        budget=50,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    assert report["evaluation"] is None and "finetune" not in report["timings"]
    # report.json's config is the run's whole config, every option (one definition: curation/config/settings.py)...
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert set(written["config"]) == set(CurateConfig.model_fields) and written["config"]["skip_finetune"] is True
    assert written["config"]["selection"] == "auto" and written["config"]["cache"] == str(tmp_path / "cache")
    # ...and `effective` says what the run made of it
    assert written["effective"]["selection"] == "stratified" and written["effective"]["finetune"] is None
    assert written["effective"]["warmup"] == written["calibration"]["chosen"]  # the calibrated warmup
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "quarantine.parquet",
        "report.json",
        "score-distribution.png",
        "scores.parquet",
        "selection.jsonl",
        "selection.parquet",
        "validation.json",
    ]


def test_without_test_set_a_validation_holdout_is_used_and_reported(labelled_task, tmp_path):
    report = curate_run(**on_task(labelled_task), budget=200, out=str(tmp_path / "out"), cache=str(tmp_path / "cache"))
    assert report["evaluation"]["eval_set"] == "validation-holdout"
    assert report["counts"]["warmup_rows"] + report["counts"]["eval_rows"] == 200
    assert report["counts"]["eval_rows"] == 50


def test_causal_lm_end_to_end_prefers_the_target_domain(tiny_lm, text_task, tmp_path):
    report = curate_run(
        **on_task(text_task, model=tiny_lm, test=True),
        budget=30,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "cache"),
        warmup_steps=60,
        warmup_lr=2e-2,
        method="lossdrop",  # `auto` chooses embedding on this pool (test_method_choice_flow.py)
    )
    selection = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    pool = pd.read_parquet(text_task["pool"])
    assert (selection["domain"] == "web").mean() > (pool["domain"] == "web").mean() + 0.2
    assert report["evaluation"]["metric"] == "loss"
    assert report["evaluation"]["lift"] == pytest.approx(
        report["evaluation"]["random"]["loss"] - report["evaluation"]["selection"]["loss"]
    )
    assert report["cache"]["warmup"] == "miss"
    cached = list((tmp_path / "cache" / "warmup").iterdir())
    assert len(cached) == 1
    assert (cached[0] / "manifest.json").exists()
    assert list(cached[0].rglob("*.safetensors"))


def test_random_method_needs_no_warmup(labelled_task, tmp_path):
    report = curate_run(
        **on_task(labelled_task),
        budget=100,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "cache"),
        method="random",
        skip_finetune=True,
    )
    assert report["cache"]["warmup"] == "not-used"
    assert not (tmp_path / "cache" / "warmup").exists()
    assert len(pd.read_parquet(tmp_path / "out" / "selection.parquet")) == 100


def test_report_counts_add_up_and_validation_is_published(labelled_task, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    pool = pd.read_parquet(labelled_task["pool"]).iloc[:400].copy()
    validation = pd.read_parquet(labelled_task["validation"])
    pool.loc[0:9, "label"] = 9  # unknown label
    pool.loc[10:14, "features"] = pd.Series([[1.0, 2.0]] * 5, index=range(10, 15))  # wrong length
    leaked = validation.iloc[:3].assign(id=["leak-0", "leak-1", "leak-2"], source="copied")
    pool = pd.concat([pool, pool.iloc[20:24].assign(id=["d0", "d1", "d2", "d3"]), leaked], ignore_index=True)
    pool.to_parquet(tmp_path / "pool.parquet")

    report = curate_run(
        pool=str(tmp_path / "pool.parquet"),
        validation=str(labelled_task["validation"]),
        model="linear",
        budget=50,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    counts = report["counts"]
    assert counts["rows_read"] == 407 == counts["valid"] + counts["quarantined"]
    # The pool's own checks (duplicates among them) run before the target's (feature length, labels,
    # leakage): of the five identical short vectors, two differ by label; the other three are duplicates.
    assert counts["quarantine_reasons"] == {"duplicate": 7, "feature_length": 2, "leakage": 3, "unknown_label": 10}
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    assert len(quarantine) == 22 and quarantine["reason"].notna().all()
    assert set(quarantine.loc[quarantine["reason"] == "leakage", "id"]) == {"leak-0", "leak-1", "leak-2"}
    selection = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert not set(selection["id"]) & set(quarantine["id"])
    gx = json.loads((tmp_path / "out" / "validation.json").read_text())
    assert {e["reason"]: e["rows_failed"] for e in gx["expectations"]}["unknown_label"] == 10

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["pool-validation"])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[report["flow_run"]])),
        )
    assert len(artifacts) == 1 and artifacts[0].type == "table"
    assert "unknown_label" in json.dumps(artifacts[0].data)
