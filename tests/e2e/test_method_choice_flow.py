"""`--method auto` (the default) through the real flow, command line and Prefect UI: the target
chooses its method on the calibration's folds, the choice is cached, and a validation set the
pool cannot be told apart from is said to select near random before anything is finetuned."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from runs import curate_run, on_task

from curation.dashboards import REPORT_KEY
from tasks.choose import CHOICE_KEY

pytestmark = pytest.mark.usefixtures("prefect_api_url")


@pytest.fixture(scope="module")
def look_alike_labels(tmp_path_factory) -> dict[str, str]:
    """A target told apart by its inputs only: its rows sit apart on two features the labelling
    rule ignores, and follow the pool's rule (a loss drop has nothing to find)."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(11)
    weights = rng.normal(size=(8, 4))
    weights[6:] = 0.0  # features 6 and 7 say nothing of the label

    def rows(n: int, target: bool) -> pd.DataFrame:
        x = rng.normal(size=(n, 8))
        x[:, 6:] += 4.0 if target else 0.0
        return pd.DataFrame({"features": list(x.astype(np.float32)), "label": (x @ weights).argmax(1)})

    rows(90, True).to_parquet(root / "validation.parquet")
    pool = pd.concat([rows(300, True).assign(source="target"), rows(1500, False).assign(source="other")])
    pool = pool.sample(frac=1.0, random_state=0).reset_index(drop=True)
    pool.insert(0, "id", [f"row-{i:05d}" for i in range(len(pool))])
    pool.to_parquet(root / "pool.parquet")
    return {"pool": str(root / "pool.parquet"), "validation": str(root / "validation.parquet")}


@pytest.fixture(scope="module")
def drawn_from_the_pool(labelled_task, tmp_path_factory) -> dict[str, str]:
    """A validation set drawn at random from the pool itself (and taken out of it): 300 rows, as a
    smaller one differs from the pool by chance (90 rows: ± 5 % wrong-label rows, auc − ½ ≈ 0.1)."""
    root = tmp_path_factory.mktemp("random-validation")
    pool = pd.read_parquet(labelled_task["pool"])
    validation = pool.sample(300, random_state=1)
    validation.drop(columns=["id", "source"]).to_parquet(root / "validation.parquet")
    pool.drop(index=validation.index).to_parquet(root / "pool.parquet")
    return {"pool": str(root / "pool.parquet"), "validation": str(root / "validation.parquet")}


def candidates(report: dict) -> dict[str, float]:
    return {f"{row['method']} {row['similarity']}": row["specificity"] for row in report["method_choice"]["candidates"]}


def test_a_target_told_apart_by_its_inputs_chooses_embedding(look_alike_labels, tmp_path):
    report = curate_run(
        **look_alike_labels, model="linear", budget=300, out=str(tmp_path / "out"), cache=str(tmp_path / "c"),
        skip_finetune=True,
    )  # fmt: skip
    choice = report["method_choice"]
    assert report["config"]["method"] == "auto" and report["effective"]["method"] == "embedding" == choice["method"]
    figures = candidates(report)
    assert figures[f"embedding {choice['similarity']}"] > figures["lossdrop -"] + 0.1
    assert choice["separates"] and choice["warning"] is None and choice["outranks_percent"] > 80
    assert report["cache"]["warmup"] == "not-used"  # embedding needs no θT: none trained
    assert report["calibration"]["status"] == "miss" and report["cost"]["method"] == "embedding"
    selected = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert (selected["source"] == "target").mean() > 0.8  # 300 of the 1,800 pool rows (random: 0.17)


def test_a_target_that_differs_by_label_correctness_chooses_the_loss_drop(labelled_task, tmp_path):
    report = curate_run(
        **on_task(labelled_task), budget=300, out=str(tmp_path / "out"), cache=str(tmp_path / "c"), skip_finetune=True
    )
    assert report["effective"]["method"] == "lossdrop" == report["method_choice"]["method"]
    figures = candidates(report)
    assert figures["lossdrop -"] > max(figures["embedding max"], figures["embedding mean"]) + 0.1
    assert report["cache"]["warmup"] == "miss" and report["method_choice"]["separates"]
    selected = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert (selected["source"] == "wrong-label").mean() < 0.05  # half the pool has wrong labels


def test_the_choice_is_deterministic_and_cached(labelled_task, tmp_path):
    common = dict(**on_task(labelled_task), budget=100, skip_finetune=True)
    first = curate_run(**common, out=str(tmp_path / "first"), cache=str(tmp_path / "c"))
    again = curate_run(**common, out=str(tmp_path / "again"), cache=str(tmp_path / "c"))
    assert (first["method_choice"]["status"], again["method_choice"]["status"]) == ("miss", "hit")
    assert again["cache"]["calibration"] == "hit" and again["cost"]["calibration_steps"] == 0
    assert first["method_choice"]["forward_passes"] > 0 == again["method_choice"]["forward_passes"]
    assert first["cost"]["calibration_steps"] > 0 == again["cost"]["calibration_steps"]
    assert again["method_choice"]["candidates"] == first["method_choice"]["candidates"]
    assert again["method_choice"]["key"] == first["method_choice"]["key"]
    fresh = curate_run(**common, out=str(tmp_path / "fresh"), cache=str(tmp_path / "other"))  # recomputed
    assert fresh["method_choice"]["candidates"] == first["method_choice"]["candidates"]
    scores = [pd.read_parquet(tmp_path / name / "scores.parquet") for name in ("first", "again", "fresh")]
    pd.testing.assert_frame_equal(scores[0], scores[1])
    pd.testing.assert_frame_equal(scores[0], scores[2])


def test_a_fixed_warmup_is_judged_alone_on_the_folds(labelled_task, tmp_path):
    report = curate_run(
        **on_task(labelled_task), budget=100, out=str(tmp_path / "out"), cache=str(tmp_path / "c"),
        skip_finetune=True, warmup_steps=20,
    )  # fmt: skip
    calibration = report["calibration"]
    assert calibration["grid"] == "fixed" and len(calibration["table"]) == 1
    assert report["effective"]["warmup"]["steps"] == 20 and report["method_choice"]["method"] == "lossdrop"


def test_a_validation_set_drawn_from_the_pool_is_said_to_select_near_random(drawn_from_the_pool, tmp_path, curate_cli):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    out = tmp_path / "out"
    args = ["run", "--pool", drawn_from_the_pool["pool"], "--validation", drawn_from_the_pool["validation"]]
    # A reference sample of 1,000 rows: the default 128 may hold, by chance, 58 % wrong-label rows
    # where the pool holds 50 %, and a held-out fold of random pool rows then outranks it (auc − ½ 0.13).
    options = ["--model", "linear", "--budget", "100", "--calibration-reference", "1000"]
    done = curate_cli(*args, *options, "--out", str(out), "--cache", str(tmp_path / "c"))
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("method: "))  # the CLI summary
    assert "(auto, judged on 3 folds: cache miss); held-out target rows outrank " in line
    assert "embedding (max)" in line and "blend (mean)" in line and "lossdrop" in line
    assert "warning: no method tells held-out target rows from pool rows better than chance" in done.stdout
    assert "the selection will be close to random" in done.stdout
    report = json.loads((out / "report.json").read_text())
    choice = report["method_choice"]
    assert not choice["separates"] and "close to random" in choice["warning"]
    assert max(row["specificity"] for row in choice["candidates"]) <= 0.1
    assert report["evaluation"] is not None  # said before the finetune, which still runs
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[CHOICE_KEY, REPORT_KEY])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[report["flow_run"]])),
        )
    by_key = {artifact.key: artifact for artifact in artifacts}
    table = json.loads(by_key[CHOICE_KEY].data)
    assert len(table) == 5 and sum(row["chosen"] for row in table) == 1
    assert "near random" in by_key[CHOICE_KEY].description
    assert "> **Warning**: no method tells held-out target rows" in by_key[REPORT_KEY].data
