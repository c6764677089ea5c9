"""Hostile values: each is refused up front (InputError naming file, row and field) in a validation
set, or quarantined with its reason in a pool; nothing reaches the models as NaN or a crash."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from runs import curate_run

from curation.errors import InputError
from curation.storage import write_json_atomic


def _features(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weights = np.random.default_rng(99).normal(size=(4, 3))
    x = rng.normal(size=(n, 4))
    return pd.DataFrame({"features": [list(map(float, v)) for v in x], "label": (x @ weights).argmax(1).tolist()})


def _write_jsonl(frame: pd.DataFrame, path: Path, raw_lines: dict[int, str] | None = None) -> Path:
    lines = [json.dumps(rec) for rec in frame.to_dict("records")]
    for index, line in (raw_lines or {}).items():
        lines[index] = line
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp_path: Path, validation: Path, pool: Path, **options) -> dict:
    params = dict(
        pool=str(pool),
        validation=str(validation),
        model="linear",
        budget=20,
        out=str(tmp_path / "out"),
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    return curate_run(**{**params, **options})


def _bad_validation(case: str, tmp_path: Path) -> tuple[Path, str]:
    """(validation file, the field the error must name) for each bad value."""
    frame = _features(40)
    raw = {}
    if case == "negative label":
        frame.loc[3, "label"] = -1
        field = "label"
    elif case == "label 10^12":
        frame.loc[3, "label"] = 10**12
        field = "label"
    elif case == "feature 1e39":
        frame.at[3, "features"] = [1e39, 0.0, 0.0, 0.0]
        field = "features"
    elif case == "features as numeric strings":
        raw[3] = json.dumps({"features": ["1.5", "0.5", "0.1", "2"], "label": 1})
        field = "features"
    elif case == "lone surrogate":
        frame["note"] = "fine"
        raw[3] = json.dumps({**frame.iloc[3].to_dict(), "note": "x"}).replace('"x"', '"bad \\ud800 text"')
        field = "note"
    return _write_jsonl(frame, tmp_path / "validation.jsonl", raw), field


BAD_VALIDATION = ["negative label", "label 10^12", "feature 1e39", "features as numeric strings", "lone surrogate"]


@pytest.mark.parametrize("case", BAD_VALIDATION)
def test_a_bad_value_in_the_validation_set_is_refused_naming_file_row_and_field(case, tmp_path, prefect_api_url):
    validation, field = _bad_validation(case, tmp_path)
    pool = _write_jsonl(_features(200, seed=1), tmp_path / "pool.jsonl")
    with pytest.raises(InputError) as error:
        _run(tmp_path, validation, pool)
    assert error.value.file.endswith("validation.jsonl") and error.value.row == 3 and error.value.field == field
    assert not (tmp_path / "cache" / "warmup").exists(), "nothing trained on a broken validation set"


def test_a_validation_set_too_small_for_its_holdout_is_refused_before_any_training(tmp_path, prefect_api_url):
    validation = _write_jsonl(_features(3), tmp_path / "validation.jsonl")
    pool = _write_jsonl(_features(200, seed=1), tmp_path / "pool.jsonl")
    with pytest.raises(InputError) as error:
        _run(tmp_path, validation, pool)
    assert error.value.field == "--test" and "at least 4" in str(error.value)
    assert error.value.file.endswith("validation.jsonl")
    assert not (tmp_path / "cache" / "warmup").exists() and not (tmp_path / "out" / "report.json").exists()


@pytest.mark.parametrize("budget", [math.nan, math.inf, -1.0])
def test_a_non_finite_budget_is_refused(budget, tmp_path, prefect_api_url):
    validation = _write_jsonl(_features(40), tmp_path / "validation.jsonl")
    with pytest.raises(InputError) as error:
        _run(tmp_path, validation, _write_jsonl(_features(50, seed=1), tmp_path / "pool.jsonl"), budget=budget)
    assert error.value.field == "--budget"


def test_bad_pool_values_are_quarantined_with_their_reasons(tmp_path, prefect_api_url):
    validation = _write_jsonl(_features(40), tmp_path / "validation.jsonl")
    pool = _features(200, seed=1)
    pool["note"] = "fine"
    raw = {
        10: json.dumps({"features": [1e39, 0.0, 0.0, 0.0], "label": 0, "note": "overflow"}),
        11: json.dumps({"features": ["1.5", "0.5", "0.1", "2"], "label": 1, "note": "strings"}),
        12: json.dumps({"features": [0.1, 0.2, 0.3, 0.4], "label": -1, "note": "negative"}),
        13: json.dumps({"features": [0.1, 0.2, 0.3, 0.5], "label": 10**12, "note": "huge"}),
        14: json.dumps({"features": [0.1, 0.2, 0.3, 0.6], "label": 1, "note": "x"}).replace('"x"', '"\\udfff"'),
    }
    _run(tmp_path, validation, _write_jsonl(pool, tmp_path / "pool.jsonl", raw))
    quarantine = pd.read_parquet(tmp_path / "out" / "quarantine.parquet")
    reasons = dict(zip(quarantine["_source_row"], quarantine["reason"]))
    assert reasons == {
        10: "non_finite_features",
        11: "bad_type_features",
        12: "bad_label",
        13: "bad_label",
        14: "invalid_unicode",
    }
    assert quarantine.set_index("_source_row").loc[14, "note"] == "\\udfff"  # kept, escaped, writable
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    assert len(scores) == 195 and np.isfinite(scores["score"]).all()


def test_a_pass_through_column_typed_differently_per_file_still_writes_the_selection(tmp_path, prefect_api_url):
    validation = _write_jsonl(_features(40), tmp_path / "validation.jsonl")
    pool = tmp_path / "pool"
    pool.mkdir()
    first, second = _features(100, seed=1), _features(100, seed=2)
    first.assign(extra=np.arange(100, dtype=np.int64)).to_parquet(pool / "part-0.parquet")
    second.assign(extra=[f"tag-{i}" for i in range(100)]).to_parquet(pool / "part-1.parquet")
    _run(tmp_path, validation, pool, budget=150, shard_rows=100)
    selection = pd.read_parquet(tmp_path / "out" / "selection.parquet")
    assert len(selection) == 150 and selection["extra"].notna().all()
    texts = set(selection["extra"].astype(str))
    assert any("tag-" in t for t in texts) and any(t.strip('"').isdigit() for t in texts)


def test_report_json_is_strict_json(tmp_path):
    write_json_atomic(
        str(tmp_path / "report.json"), {"lift": float("nan"), "nested": [float("inf"), 1.5], "numpy": np.float64("nan")}
    )

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    parsed = json.loads((tmp_path / "report.json").read_text(), parse_constant=refuse)
    assert parsed == {"lift": None, "nested": [None, 1.5], "numpy": None}
