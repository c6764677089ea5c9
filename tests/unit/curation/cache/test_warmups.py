"""The warmup cache: keyed by validation content, θ0 and config; found again by a new process."""

from __future__ import annotations

import json
import shutil

import pandas as pd
from runs import on_task

from curation.cache.keys import warmup_key
from curation.formats.features import Features
from curation.hashing import dataset_hash
from curation.models.base import WarmupConfig


def test_key_ignores_row_order_and_follows_content_model_and_config(labelled_task):
    validation = pd.read_parquet(labelled_task["validation"])
    shuffled = validation.sample(frac=1.0, random_state=1)
    config = WarmupConfig(steps=10)
    key = warmup_key(dataset_hash(Features.row_hashes(validation)), "model-a", config)
    assert key == warmup_key(dataset_hash(Features.row_hashes(shuffled)), "model-a", config)
    assert key != warmup_key(dataset_hash(Features.row_hashes(validation.iloc[1:])), "model-a", config)
    assert key != warmup_key(dataset_hash(Features.row_hashes(validation)), "model-b", config)
    assert key != warmup_key(dataset_hash(Features.row_hashes(validation)), "model-a", WarmupConfig(steps=11))


def test_second_process_with_another_pool_hits_the_warmup_and_calibration_caches(labelled_task, tmp_path, curate_cli):
    cache = tmp_path / "cache"
    common = [
        "--validation",
        str(labelled_task["validation"]),
        "--test",
        str(labelled_task["test"]),
        "--model",
        "mlp",
        "--budget",
        "100",
        "--cache",
        str(cache),
    ]
    curate_cli(
        "run", "--pool", str(labelled_task["pool_first_half"]), "--out", str(tmp_path / "a"), *common, check=True
    )
    curate_cli(
        "run", "--pool", str(labelled_task["pool_second_half"]), "--out", str(tmp_path / "b"), *common, check=True
    )
    first = json.loads((tmp_path / "a" / "report.json").read_text())
    second = json.loads((tmp_path / "b" / "report.json").read_text())
    assert (first["cache"]["warmup"], first["cache"]["calibration"]) == ("miss", "miss")
    assert (second["cache"]["warmup"], second["cache"]["calibration"]) == ("hit", "hit")
    assert first["cost"]["calibration_steps"] > 0 and first["cost"]["warmup_steps"] > 0
    assert second["cost"]["calibration_steps"] == 0 and second["cost"]["warmup_steps"] == 0  # trains nothing
    assert first["hashes"]["warmup_key"] == second["hashes"]["warmup_key"]
    assert first["calibration"]["key"] == second["calibration"]["key"]
    assert first["calibration"]["table"] == second["calibration"]["table"]
    assert first["effective"]["warmup"] == first["calibration"]["chosen"]
    assert first["hashes"]["pool"] != second["hashes"]["pool"]
    assert len(list((cache / "warmup").iterdir())) == 1  # one θT, trained once
    calibrations = list((cache / "calibration").glob("*/manifest.json"))
    assert len(calibrations) == 1  # one calibration, computed once


def _in_a_fresh_process_state(**params):
    """A run as a new process would start it: no θ0 or θT in memory, everything from the cache."""
    from runs import curate_run

    return curate_run(**params)


def test_a_hit_scores_like_the_run_that_trained_it(labelled_task, tmp_path, prefect_api_url):
    """θT loaded from the cache gives exactly the scores of the θT trained in memory."""
    common = dict(
        **on_task(labelled_task, pool="pool_first_half"), budget=50, cache=str(tmp_path / "cache"), skip_finetune=True
    )
    _in_a_fresh_process_state(out=str(tmp_path / "a"), **common)
    second = _in_a_fresh_process_state(out=str(tmp_path / "b"), **common)
    assert second["cache"]["warmup"] == "hit"
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "scores.parquet"), pd.read_parquet(tmp_path / "b" / "scores.parquet")
    )


def test_an_entry_without_its_manifest_is_retrained_not_trusted(labelled_task, tmp_path, prefect_api_url):
    common = dict(
        **on_task(labelled_task, pool="pool_first_half"), budget=50, cache=str(tmp_path / "cache"), skip_finetune=True
    )
    _in_a_fresh_process_state(out=str(tmp_path / "a"), **common)
    for entry in (tmp_path / "cache" / "warmup").iterdir():
        (entry / "manifest.json").unlink()
    assert _in_a_fresh_process_state(out=str(tmp_path / "b"), **common)["cache"]["warmup"] == "miss"


def test_one_process_warms_up_for_two_validation_sets_and_goes_back_to_the_first(
    tiny_lm, text_task, prefect_api_url, tmp_path
):
    """A served process (or `curate compare` across seeds) meets a second validation set: its θT
    replaces the first in the loaded model, and the first comes back from the cache intact."""
    from runs import curate_run

    other = tmp_path / "other-validation.parquet"
    pd.read_parquet(text_task["validation"]).iloc[:16].to_parquet(other)
    common = dict(
        pool=str(text_task["pool"]),
        model=tiny_lm,
        budget=20,
        cache=str(tmp_path / "cache"),
        max_length=64,
        skip_finetune=True,
    )
    first = curate_run(**common, validation=str(text_task["validation"]), out=str(tmp_path / "a"))
    second = curate_run(**common, validation=str(other), out=str(tmp_path / "b"))
    shutil.rmtree(tmp_path / "cache" / "row-scores")  # so the reloaded θT has to score every row
    again = curate_run(**common, validation=str(text_task["validation"]), out=str(tmp_path / "a-again"))
    assert [r["cache"]["warmup"] for r in (first, second, again)] == ["miss", "miss", "hit"]
    assert again["cache"]["rows_scored"] == 90
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "scores.parquet"), pd.read_parquet(tmp_path / "a-again" / "scores.parquet")
    )
