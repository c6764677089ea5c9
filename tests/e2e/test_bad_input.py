"""Bad input: exit code 2, one message naming file, row and field, no traceback, nothing written
(but for a pool refused as a whole: its quarantine, expectations and reason, and no report)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from runs import run_args


def _pool_cases(labelled_task, root):
    """(name, pool path, model, words the message must contain) per kind of bad input."""
    good = pd.read_parquet(labelled_task["pool"])
    cases = []

    cases.append(("missing file", root / "nowhere.parquet", "linear", ["nowhere.parquet", "no such file"]))

    truncated = root / "truncated.parquet"
    data = labelled_task["pool"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    cases.append(("truncated parquet", truncated, "linear", ["truncated.parquet", "Parquet"]))

    not_parquet = root / "notes.parquet"
    not_parquet.write_text("id,features,label\n1,2,3\n")
    cases.append(("not parquet", not_parquet, "linear", ["notes.parquet", "Parquet"]))

    broken = root / "broken.jsonl"
    lines = [
        good.iloc[[i]][["id", "label"]]
        .assign(features=[list(map(float, good["features"][i]))])
        .to_json(orient="records", lines=True)
        .strip()
        for i in range(3)
    ]
    broken.write_text("\n".join([lines[0], lines[1], '{"id": "x", "features": [1.0,', lines[2]]) + "\n")
    cases.append(("broken jsonl", broken, "linear", ["broken.jsonl", "line 3", "row 2"]))

    empty = root / "empty.parquet"
    good.iloc[:0].to_parquet(empty)
    cases.append(("empty pool", empty, "linear", ["empty.parquet", "no rows"]))

    no_label = root / "no_label.parquet"
    good.drop(columns=["label"]).to_parquet(no_label)
    cases.append(("missing column", no_label, "linear", ["no_label.parquet", "field 'label'", "missing"]))

    short = root / "short_features.parquet"
    good.assign(features=[np.asarray(v[:5]) for v in good["features"]]).to_parquet(short)
    cases.append(
        (
            "feature length",
            short,
            "linear",
            ["short_features.parquet", "row 0", "field 'features'", "feature_length", "length 8"],
        )
    )

    cases.append(("unknown model", labelled_task["pool"], "resnet50", ["--model", "resnet50"]))
    return cases


CASE_NAMES = [
    "missing file",
    "truncated parquet",
    "not parquet",
    "broken jsonl",
    "empty pool",
    "missing column",
    "feature length",
    "unknown model",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_is_refused_with_a_clear_message(case, labelled_task, tmp_path, prefect_api_url):
    """Each kind of bad input ends the flow in one InputError naming file, row and field; nothing is
    written. (The command line turns any InputError into exit 2 and one line: tests/test_faults_cli.py.)"""
    from runs import curate_run

    from curation.errors import InputError

    cases = {name: rest for name, *rest in _pool_cases(labelled_task, tmp_path)}
    pool, model, words = cases[case]
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        curate_run(
            pool=str(pool),
            validation=str(labelled_task["validation"]),
            model=model,
            budget=10,
            out=str(out),
            cache=str(tmp_path / "cache"),
        )
    message = f"curate: error: {error.value}"
    assert "\n" not in message
    for word in words:
        assert word in message
    if case == "feature length":  # every row bad: refused as a whole, its quarantine shows what to mend
        assert sorted(p.name for p in out.iterdir()) == ["quarantine.parquet", "rejected.json", "validation.json"]
        quarantine = pd.read_parquet(out / "quarantine.parquet")
        assert len(quarantine) == len(pd.read_parquet(pool)) and set(quarantine["reason"]) == {"feature_length"}
        rejected = json.loads((out / "rejected.json").read_text())
        assert rejected["reason"] == str(error.value) and rejected["counts"]["valid"] == 0
        assert any(
            e["reason"] == "feature_length" for e in json.loads((out / "validation.json").read_text())["expectations"]
        )
    else:
        assert not out.exists(), "a failed run leaves no output folder it made"


@pytest.mark.parametrize("budget", ["2.5", "nan", "inf", "-1", "0"])
def test_bad_budget_is_refused_by_the_command_line(budget, labelled_task, tmp_path, curate_cli):
    result = curate_cli(*run_args(labelled_task, budget=budget), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "--budget" in result.stderr.rstrip().splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_a_failed_rerun_keeps_the_earlier_outputs(labelled_task, tmp_path, prefect_api_url):
    from runs import curate_run

    from curation.errors import InputError

    out = tmp_path / "out"
    common = dict(
        validation=str(labelled_task["validation"]),
        model="linear",
        budget=20,
        out=str(out),
        cache=str(tmp_path / "cache"),
        skip_finetune=True,
    )
    curate_run(pool=str(labelled_task["pool"]), **common)
    before = (out / "selection.parquet").read_bytes()
    with pytest.raises(InputError):
        curate_run(pool=str(tmp_path / "missing.parquet"), **common)
    assert (out / "selection.parquet").read_bytes() == before and (out / "report.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".staging")]
