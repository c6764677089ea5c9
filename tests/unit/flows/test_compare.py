"""`curate compare`'s pieces: `--methods` read and checked before anything runs, one table row per
method from its report, and the table in Markdown."""

from __future__ import annotations

import pandas as pd
import pytest
from reports import a_report

from curation.errors import InputError
from curation.scorers import METHODS
from flows.compare import comparison_table, markdown, method_list


def test_methods_are_each_registered_method_or_auto_each_once():
    assert method_list(None) == [*METHODS, "auto"]
    assert method_list(" lossdrop, embedding ,auto") == ["lossdrop", "embedding", "auto"]
    assert method_list(["random", "blend"]) == ["random", "blend"]
    assert method_list("lossdrop,,blend") == ["lossdrop", "blend"]  # an empty name is nothing
    for bad in ("lossdrop,lossdrop", "lossdrop,best", "", ",", []):
        with pytest.raises(InputError) as err:
            method_list(bad)
        assert err.value.field == "--methods"


def test_the_table_has_a_row_per_method_with_its_metric_lift_and_cost():
    auto = a_report()  # --method auto, which chose lossdrop
    forced = a_report(method_choice=None, evaluation=None, config=auto.config.model_copy(update={"out": "o/random"}))
    table = comparison_table({"auto": auto, "random": forced})
    first, second = table.to_dict("records")
    assert first["method"] == "auto → lossdrop" and second["method"] == "random"
    assert (first["metric"], first["selection"], first["random control"], first["lift over random"]) == (
        "accuracy", 0.75, 0.5, 0.25
    )  # fmt: skip
    assert (first["score seconds"], first["warmup seconds"], first["warmup"]) == (1.5, 0.25, "miss")
    assert (first["scoring forward passes"], first["bytes stored"], first["outputs"]) == (220, 4096, "out")
    assert pd.isna(second["metric"]) and pd.isna(second["lift over random"]) and second["outputs"] == "o/random"


def test_the_markdown_table_bolds_the_lift_and_dashes_what_is_missing():
    reports = {"auto": a_report(), "random": a_report(method_choice=None, evaluation=None)}
    text = markdown(comparison_table(reports), budget=50, pool="s3://bucket/pool.parquet")
    lines = text.splitlines()
    assert lines[0] == "# Method comparison on `s3://bucket/pool.parquet` (budget 50)"
    header = lines[2]
    assert header.startswith("| method | metric | selection |") and "outputs" not in header
    assert lines[3].count("---") == header.count("|") - 1
    auto, random = lines[4], lines[5]
    assert (
        "| auto → lossdrop | accuracy | 0.7500 | 0.5000 | **+0.2500** | 1.50 | 0.25 | miss | 220 | 0 | 4,096 |" == auto
    )
    assert random.startswith("| random | – | – | – | – |")
    assert "Lift over random" in lines[-1]
