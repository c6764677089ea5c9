"""The service flow: one `curate` subflow per pool, each into its own folder; a bad pool does not
stop the others."""

from __future__ import annotations

import json

import pytest

from curation.config import CurationSettings
from flows.pools import curate_pools, pool_slug


def test_a_bad_pool_fails_the_run_but_the_good_pool_is_curated(labelled_task, prefect_api_url, tmp_path):
    good, missing = str(labelled_task["pool_first_half"]), str(tmp_path / "not-landed.parquet")
    settings = CurationSettings(
        validation=str(labelled_task["validation"]),
        model="linear",
        budget=50,
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    state = curate_pools(pools=[missing, good], out_root=str(tmp_path / "runs"), settings=settings, return_state=True)
    assert state.is_failed() and "1 of 2 pools failed" in state.message and missing in state.message
    (good_run,) = (tmp_path / "runs" / pool_slug(good)).iterdir()  # one folder per run, named by time
    report = json.loads((good_run / "report.json").read_text())
    assert report["config"]["pool"] == good and report["counts"]["selected"] == 50
    assert list((tmp_path / "runs").rglob("report.json")) == [good_run / "report.json"]


def test_no_pools_is_refused(prefect_api_url, tmp_path):
    with pytest.raises(ValueError, match="no pools"):
        curate_pools(
            pools=[],
            out_root=str(tmp_path),
            settings=CurationSettings(validation="v.parquet", model="linear", budget=1),
        )
