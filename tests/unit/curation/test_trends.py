"""Trends across nights: a night's drift against the last (score distribution, rows new and dropped,
the method flipping, the lift changing sign), the last night kept per target, the history appended
run after run, locally and on the loopback S3 server."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from curation.storage import write_parquet_atomic
from curation.trends import (
    DriftThresholds,
    Night,
    append_history,
    keep_night,
    last_night,
    measure_drift,
    quantiles,
    recent,
    record_run,
)

RNG = np.random.default_rng(0)
HASHES = np.array([f"h{i}" for i in range(1000)])


def a_night(hashes=HASHES, shift: float = 0.0, method: str = "lossdrop", lift: float | None = 0.1) -> Night:
    return Night(hashes, RNG.normal(shift, 1.0, size=len(hashes)), method, lift)


def test_the_same_kind_of_night_does_not_drift():
    drift = measure_drift(a_night(), a_night(), DriftThresholds())
    assert drift.ks < 0.1 and not drift.drifted and drift.reasons == []
    assert (drift.rows_new, drift.rows_dropped, drift.rows_kept) == (0, 0, 1000)
    assert abs(drift.quantiles["q50"]) < 0.15 and set(drift.previous_quantiles) == {"q10", "q50", "q90"}


def test_a_pool_half_replaced_by_another_domain_drifts_and_says_why():
    half_new = np.concatenate([HASHES[:500], [f"new{i}" for i in range(500)]])
    now = Night(half_new, np.concatenate([RNG.normal(0, 1, 500), RNG.normal(3, 1, 500)]), "lossdrop", 0.1)
    drift = measure_drift(a_night(), now, DriftThresholds(ks=0.2, new_rows=0.5))
    assert drift.ks > 0.4 and (drift.rows_new, drift.rows_dropped, drift.rows_kept) == (500, 500, 500)
    assert drift.drifted and len(drift.reasons) == 2 and "500 of 1000 rows are new" in drift.reasons[1]
    assert drift.as_dict()["drifted"] is True


def test_a_flipped_method_or_a_lift_changing_sign_drifts_alone():
    flipped = measure_drift(a_night(), a_night(method="embedding"), DriftThresholds())
    assert flipped.method_flipped and flipped.reasons == ["method choice flipped: lossdrop → embedding"]
    turned = measure_drift(a_night(lift=0.05), a_night(lift=-0.02), DriftThresholds())
    assert turned.lift_sign_changed and turned.reasons == ["lift changed sign: +0.0500 → -0.0200"]
    unmeasured = measure_drift(a_night(lift=0.05), a_night(lift=None), DriftThresholds())
    assert not unmeasured.lift_sign_changed and not unmeasured.drifted


def test_non_finite_scores_are_left_out_and_a_night_without_scores_is_all_drift():
    scores = np.array([np.nan, np.inf, 1.0, 2.0, 3.0])
    assert quantiles(scores)["q50"] == 2.0 and np.isnan(quantiles(np.array([np.nan]))["q50"])
    empty = Night(np.array([], dtype=str), np.array([]), "lossdrop", None)
    assert measure_drift(a_night(), empty, DriftThresholds()).ks == 1.0


@pytest.fixture(params=["local", "s3"])
def folder(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "trends")
    s3 = request.getfixturevalue("s3_env")
    return f"s3://{s3['bucket']}/trends-{tmp_path.name}"


def test_the_last_night_is_kept_per_target_and_read_back(folder):
    assert last_night(folder, "code") is None  # before the first night
    night = a_night(lift=None)
    keep_night(folder, "code", night)
    keep_night(folder, "math", a_night(method="embedding"))
    back = last_night(folder, "code")
    assert back.hashes.tolist() == HASHES.tolist() and np.allclose(back.scores, night.scores)
    assert back.method == "lossdrop" and back.lift is None and last_night(folder, "math").lift == 0.1


def test_the_history_grows_by_a_row_per_target_per_run(folder):
    append_history(
        folder, [{"run": "n1", "target": "code", "lift": 0.1}, {"run": "n1", "target": "math", "lift": None}]
    )
    history = append_history(folder, [{"run": "n2", "target": "code", "lift": -0.05}])
    assert len(history) == 3 and recent(history, "code", 5)["run"].tolist() == ["n1", "n2"]
    assert recent(history, "code", 1)["lift"].tolist() == [-0.05]


def test_a_run_resumed_after_recording_replaces_its_row_and_compares_with_the_night_before(folder):
    def row_of(target, drift):
        return {"run": run, "target": target, "ks": None if drift is None else drift.ks}

    run = "n1"
    record_run(folder, {"code": Night(HASHES, np.zeros(1000), "lossdrop", 0.1, run)}, row_of, DriftThresholds())
    run = "n2"
    shifted = Night(HASHES, np.ones(1000), "lossdrop", 0.1, run)
    history, drifts = record_run(folder, {"code": shifted}, row_of, DriftThresholds())
    history, again = record_run(folder, {"code": shifted}, row_of, DriftThresholds())  # n2 resumed after a crash
    assert history["run"].tolist() == ["n1", "n2"]  # one row per run and target
    assert drifts["code"].ks == again["code"].ks == 1.0  # against n1 both times, never against itself


@pytest.mark.parametrize("damage", ["cut short", "another table"])
def test_an_unreadable_history_or_last_night_is_set_aside_and_the_trends_go_on(folder, damage):
    from curation.storage import exists, filesystem, join, write_bytes_atomic

    def row_of(target, drift):
        return {"run": "n2", "target": target, "ks": None if drift is None else drift.ks}

    keep_night(folder, "code", a_night())
    append_history(folder, [{"run": "n1", "target": "code"}])
    for name in ("history.parquet", "code/last-night.parquet"):
        url = join(folder, name)
        if damage == "cut short":
            fs, path = filesystem(url)
            write_bytes_atomic(url, fs.cat_file(path)[:500])
        else:
            write_parquet_atomic(url, pd.DataFrame({"x": [1]}))
    history, drifts = record_run(folder, {"code": a_night()}, row_of, DriftThresholds())
    assert history["run"].tolist() == ["n2"] and drifts == {"code": None}  # as a first night, with a warning
    fs, path = filesystem(join(folder, "damaged"))
    assert len([p for p in fs.find(path) if p.endswith(".parquet")]) == 2  # kept for a person to look at
    assert exists(join(folder, "history.parquet"))


def test_a_trends_path_that_is_a_file_is_bad_input(tmp_path):
    from curation.errors import InputError
    from curation.trends import check_folder

    (tmp_path / "trends").write_text("hi")
    with pytest.raises(InputError) as err:
        check_folder(str(tmp_path / "trends"))
    assert err.value.field == "--trends"
    check_folder(str(tmp_path / "new-folder"))  # not there yet: made by the first run
