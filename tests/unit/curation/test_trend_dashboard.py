"""What the trends show: a night as one flat history row (the held-out figure of the chosen method, the
lift, the drift), and the artifact's markdown: a table per target and the plot inline as a PNG."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
from reports import a_report

from curation.trend_dashboard import held_out_figure, trend_row, trends_markdown, trends_png
from curation.trends import DriftThresholds, Night, measure_drift


def history_of_two_nights() -> pd.DataFrame:
    report = a_report()
    rng = np.random.default_rng(0)
    hashes = np.array([f"h{i}" for i in range(200)])
    first = trend_row("code", report, None)
    drift = measure_drift(
        Night(hashes, rng.normal(size=200), "lossdrop", 0.25),
        Night(hashes, rng.normal(2, 1, size=200), "embedding", -0.1),
        DriftThresholds(),
    )
    second = trend_row("code", report, drift)
    other = trend_row("math", a_report(method_choice=None, evaluation=None), None)
    return pd.DataFrame([first, other, second])


def test_a_night_is_one_flat_row_with_the_chosen_methods_held_out_figure_and_the_drift():
    history = history_of_two_nights()
    first, other, second = history.to_dict("records")
    assert first["held_out"] == 0.3 == held_out_figure(a_report()) and first["lift"] == 0.25
    assert first["pool_version"] == "p" * 64 and first["seconds"] == 2.25 and not first["drifted"]
    assert pd.isna(other["held_out"]) and pd.isna(other["lift"])  # a forced method, no finetune
    forced = trend_row("math", a_report(method_choice=None, evaluation=None), None)
    assert forced["held_out"] is None and forced["lift"] is None and forced["drift_reasons"] == ""
    assert second["drifted"] and second["method_flipped"] and second["ks"] > 0.5
    assert "method choice flipped: lossdrop → embedding" in second["drift_reasons"]
    assert all(not isinstance(v, (dict, list)) for v in second.values())  # flat: Parquet columns


def test_the_artifact_has_a_table_per_target_and_the_plot_inline():
    text = trends_markdown(history_of_two_nights(), runs=14)
    assert text.startswith("# Curation trends") and "## code" in text and "## math" in text
    code = text.split("## code")[1].split("## math")[0]
    assert code.count("\n| 2026-01-01T00:00 |") == 2 and "| +0.3000 |" in code and "| +0.2500 |" in code
    assert "method choice flipped" in code and "| – |" in text.split("## math")[1].split("##")[0]
    image = re.search(r"!\[trends\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", text)
    assert image and base64.b64decode(image.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_plot_is_a_png_even_with_nights_without_a_lift():
    png = trends_png(history_of_two_nights(), runs=2)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
