"""The choose task: `--method auto` resolved once into the method that scores, the loss drop when the
validation set is too small to judge on folds."""

from __future__ import annotations

import json

import pytest
from prefect.logging import disable_run_logger
from targets import feature_files, in_a_flow_run, run_config, target_run

from curation.run.judge import find_warmup
from curation.run.settings import WarmupSettings
from tasks.choose import CHOICE_KEY, choose_method


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return feature_files(tmp_path_factory.mktemp("choose"))


def test_without_a_calibration_auto_is_the_loss_drop(files, tmp_path):
    config = run_config(files, tmp_path, similarity="mean")
    run = target_run(config, tmp_path / "spill")
    with disable_run_logger():
        chosen = choose_method.fn(run, WarmupSettings.of(config))
    assert (chosen.method, chosen.similarity, chosen.choice.status) == ("lossdrop", "mean", "skipped")
    assert run.method == "auto" and not chosen.chooses_method


def test_auto_is_resolved_to_the_best_candidate_on_the_folds_and_the_table_is_shown(files, tmp_path, prefect_api_url):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey, FlowRunFilter, FlowRunFilterId

    config = run_config(files, tmp_path, warmup_steps=20)
    settings = WarmupSettings.of(config)
    run = target_run(config, tmp_path / "spill")
    run = run.calibrated(find_warmup(run, settings))
    chosen, flow_run_id = in_a_flow_run(lambda: choose_method(run, settings))
    assert chosen.method in ("lossdrop", "embedding", "blend") and chosen.method == chosen.choice.method
    assert chosen.similarity == chosen.choice.similarity and len(chosen.choice.candidates) == 5
    with get_client(sync_client=True) as client:
        (shown,) = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[CHOICE_KEY])),
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
        )
    rows = json.loads(shown.data)
    assert len(rows) == 5 and not any("folds" in row for row in rows)  # the per-fold figures stay in the cache
    assert f"chosen {chosen.method};" in shown.description
