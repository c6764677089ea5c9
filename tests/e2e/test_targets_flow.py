"""Several targets in one run (`curate run --target near=...:3 --target far=...:1`): the budget split 3:1,
no row selected twice, each target's rows from its own side of the pool and its own lift over its own
random control, its own outputs under OUT/targets/NAME/, the joint outputs at the top; the same
selection on a rerun."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_feature_rows
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from targets import WEIGHTS, feature_files

from curation.config import CurateConfig

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_api_url")]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The pool's first half (rows 0-59) looks like `validation`, its second half like `far`."""
    root = tmp_path_factory.mktemp("targets")
    found = feature_files(root, validation=60, pool=400)
    rows = make_feature_rows(np.random.default_rng(5), WEIGHTS, 60, shift=3.0)
    rows.assign(label=np.arange(60) % 3).to_parquet(root / "far.parquet")  # shifted this far, the rule gives one label
    return {**found, "far": str(root / "far.parquet")}


def run_targets(files, out, cache) -> list:
    from flows.targets import curate_targets

    config = CurateConfig.parse(
        pool=files["pool"], targets=[f"near={files['validation']}:3", f"far={files['far']}"], model="linear",
        budget=40, out=str(out), cache=str(cache), method="embedding", selection="topk",
    )  # fmt: skip
    return curate_targets(config)


def test_two_targets_share_the_budget_by_weight_and_never_a_row(files, tmp_path):
    reports = run_targets(files, tmp_path / "out", tmp_path / "cache")
    top = json.loads((tmp_path / "out" / "report.json").read_text())
    shares = {share["name"]: share for share in top["targets"]}
    assert (shares["near"]["quota"], shares["far"]["quota"]) == (30, 10) and top["selected"] == 40
    selection = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert list(selection.columns[:2]) == ["id", "target"] and selection["id"].is_unique
    assert selection["target"].value_counts().to_dict() == {"near": 30, "far": 10}
    far_rows = selection[selection["target"] == "far"]["id"].str.slice(4).astype(int)
    assert (far_rows >= 200).mean() > 0.8  # the pool's far half
    for name in ("near", "far"):
        own = json.loads((tmp_path / "out" / "targets" / name / "report.json").read_text())
        assert own["counts"]["selected"] == shares[name]["selected"] and own["config"]["validation"].endswith(
            "validation.parquet" if name == "near" else "far.parquet"
        )
        assert own["evaluation"]["lift"] == shares[name]["lift"] is not None
        mine = pd.read_parquet(tmp_path / "out" / "targets" / name / "selection.parquet")["id"].tolist()
        assert mine == selection[selection["target"] == name]["id"].tolist()
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert {"score_near", "score_far"} <= set(scores.columns) and scores["id"].is_unique
    assert [r.config.out for r in reports] == [str(tmp_path / "out" / "targets" / n) for n in ("near", "far")]
    with get_client(sync_client=True) as client:  # each target's dashboards under keys of its own
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[top["flow_run"]])))
    keys = {artifact.key for artifact in artifacts}
    assert {"curation-report-near", "curation-report-far", "pool-validation-far"} <= keys
    assert "curation-report" not in keys
    again = run_targets(files, tmp_path / "again", tmp_path / "cache")
    assert len(again) == 2
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "again" / "selection.parquet"), selection)


def test_a_targets_file_gives_a_target_its_own_test_set(files, tmp_path):
    from flows.targets import curate_targets

    (tmp_path / "targets.yaml").write_text(
        f"- {{name: near, validation: '{files['validation']}', test: '{files['test']}', weight: 1}}\n"
        f"- {{name: far, validation: '{files['far']}'}}\n"
    )
    config = CurateConfig.parse(
        pool=files["pool"], targets_file=str(tmp_path / "targets.yaml"), model="linear", budget=10,
        out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), method="embedding", selection="topk",
    )  # fmt: skip
    near, far = curate_targets(config)
    assert near.evaluation.eval_set == "test" and near.evaluation.rows == 30
    assert far.evaluation.eval_set == "validation-holdout" and near.counts.selected + far.counts.selected == 10


def test_a_pool_refused_for_one_target_stops_the_run_naming_it_and_keeps_its_quarantine(files, tmp_path):
    from curation.pool import PoolRejected
    from flows.targets import curate_targets

    pool = pd.read_parquet(files["pool"])
    pool.drop(columns=["id"]).to_parquet(tmp_path / "copy.parquet")  # every pool row leaks into this target
    config = CurateConfig.parse(
        pool=files["pool"], targets=[f"near={files['validation']}", f"copy={tmp_path / 'copy.parquet'}"],
        model="linear", budget=10, out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), method="embedding",
    )  # fmt: skip
    with pytest.raises(PoolRejected, match="target copy: 400 of 400 pool rows are invalid") as caught:
        curate_targets(config)
    assert "identical to a validation or test row" in str(caught.value)  # the hint kept
    refused = tmp_path / "out" / "targets" / "copy"
    assert "target copy" not in json.loads((refused / "rejected.json").read_text())["reason"]  # its own folder
    assert pd.read_parquet(refused / "quarantine.parquet")["reason"].eq("leakage").sum() == 400
    assert not (tmp_path / "out" / "report.json").exists()


def test_lossdrop_targets_share_theta0s_pass_over_the_pool_and_each_gets_a_trend_row(files, tmp_path):
    """Two lossdrop targets from θ0: one θ0 pass and one θT pass each over every row, 3 passes a row, not 4;
    with --trends, a history row per target."""
    from flows.targets import curate_targets

    config = CurateConfig.parse(
        pool=files["pool"], targets=[f"near={files['validation']}:3", f"far={files['far']}"], model="linear",
        budget=40, out=str(tmp_path / "out"), cache=str(tmp_path / "cache"), method="lossdrop", skip_finetune=True,
        trends=str(tmp_path / "trends"),
    )  # fmt: skip
    curate_targets(config)
    history = pd.read_parquet(tmp_path / "trends" / "history.parquet")
    assert history["target"].tolist() == ["near", "far"] and history["method"].tolist() == ["lossdrop"] * 2
    top = json.loads((tmp_path / "out" / "report.json").read_text())
    near, far = top["targets"]
    assert top["rows_read"] == 400
    assert (near["scoring_forward_passes"], far["scoring_forward_passes"]) == (800, 400)
    assert top["passes_per_row"] == 3.0


def test_the_service_flow_curates_each_pool_for_every_target_and_keeps_its_trends(files, tmp_path):
    """`curate-pools` with several targets (what `curate serve --target ...` deploys): each pool a
    `curate-targets` run in its own folder, its trends beside it (outside a deployment: under --trends)."""
    from curation.config import CurationSettings
    from flows.pools import curate_pools, pool_slug

    settings = CurationSettings.parse(
        targets=[f"near={files['validation']}:3", f"far={files['far']}"], model="linear", budget=40,
        cache=str(tmp_path / "cache"), method="embedding", skip_finetune=True, trends=str(tmp_path / "trends"),
    )  # fmt: skip
    outcome = curate_pools([files["pool"]], str(tmp_path / "runs"), settings)
    out = outcome[files["pool"]]
    top = json.loads(open(f"{out}/report.json", encoding="utf-8").read())
    assert [t["name"] for t in top["targets"]] == ["near", "far"] and top["selected"] == 40
    history = pd.read_parquet(tmp_path / "trends" / pool_slug(files["pool"]) / "trends" / "runs" / "history.parquet")
    assert history["target"].tolist() == ["near", "far"]


def test_weights_3_to_1_each_target_its_own_rows_its_own_method_and_the_same_outputs_again(tmp_path):
    """A pool whose targets need different rows (tests/targets.py `two_domain_task`): `auto` takes the loss
    drop for `a` (wrong labels look like clean rows) and the embedding for `b` (its domain is shifted);
    300 and 100 rows, none twice, each mostly from its own domain with a positive lift over its own random
    control; a second run from fresh caches writes the same selection and scores."""
    from targets import two_domain_task

    from flows.targets import curate_targets

    files = two_domain_task(tmp_path)

    def run(name: str) -> dict:
        config = CurateConfig.parse(
            pool=files["pool"], targets=[f"a={files['a']}:3", f"b={files['b']}"], model="linear", budget=400,
            out=str(tmp_path / name), cache=str(tmp_path / f"cache-{name}"),
        )  # fmt: skip
        return {report.config.out.rsplit("/", 1)[-1]: report for report in curate_targets(config)}

    reports = run("first")
    assert {name: report.effective.method for name, report in reports.items()} == {"a": "lossdrop", "b": "embedding"}
    selection = pd.read_parquet(tmp_path / "first" / "selection.parquet")
    assert selection["id"].is_unique and selection["target"].value_counts().to_dict() == {"a": 300, "b": 100}
    pool = pd.read_parquet(files["pool"]).set_index("id")["source"]
    for name, own, base_rate in (("a", "clean-a", 1200 / 3000), ("b", "clean-b", 600 / 3000)):
        share = (pool[selection[selection["target"] == name]["id"]] == own).mean()
        assert share > base_rate + 0.3, (name, share)  # far above what a random pick of the pool holds
        assert reports[name].evaluation.lift > 0, (name, reports[name].evaluation.lift)
    run("again")
    for output in ("selection.parquet", "scores.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "first" / output), pd.read_parquet(tmp_path / "again" / output)
        )
