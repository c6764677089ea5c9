"""What a run shows in the Prefect UI, built from its report and selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
from reports import a_report

from curation.config import CurateConfig
from curation.dashboards import report_markdown, score_distribution_png, top_rows_table
from curation.method_choice import NO_SEPARATION, choose
from curation.report import CacheUse, Counts, Damaged, Evaluation, MethodChoiceUse, Report


def report(evaluation=None, choice: MethodChoiceUse | None = None) -> Report:
    """A whole, typed report (the dashboards read nothing else): tests/reports.py's, with the sections these
    tests read set here."""
    effective = a_report().effective.model_copy(
        update={
            "method": choice.method if choice else "lossdrop",
            "start": "theta1",
            "warmup": {"scope": "full", "lr": 0.05, "steps": 30, "lora_rank": 4},
            "finetune": None,
        }
    )
    return a_report(
        config=CurateConfig(
            pool="s3://b/pool.parquet", validation="val.parquet", model="linear", budget=100, out="s3://b/runs/x"
        ),
        effective=effective,
        counts=Counts(
            rows_read=1234,
            valid=1200,
            quarantined=34,
            selected=100,
            quarantine_reasons={"duplicate": 30, "leakage": 4},
            validation_rows=10,
            warmup_rows=10,
            eval_rows=5,
        ),
        calibration=None,
        method_choice=choice,
        timings={"ingest": 0.5, "score": 2.25},
        evaluation=Evaluation(**evaluation, finetune={}) if evaluation else None,
        cache=CacheUse(
            pool="hit", warmup="hit", calibration="hit", rows_scored=200, rows_reused=1000, dir="c", damaged=Damaged()
        ),
    )


def test_report_states_counts_cache_times_and_lift_with_its_metric(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")  # an S3-compatible server: no console
    text = report_markdown(
        report(
            {
                "metric": "loss",
                "higher_is_better": False,
                "lift": 0.152,
                "selection": {"loss": 5.141},
                "random": {"loss": 5.293},
                "rows": 150,
                "eval_set": "test",
            }
        )
    )
    assert "`s3://b/pool.parquet`" in text
    assert "| 1,234 | 1,200 | 34 | 100 |" in text
    assert (
        "duplicate 30, leakage 4" in text
        and "validated pool **hit**, warmup **hit**, calibration **hit**, 200 rows scored, 1,000 reused" in text
    )
    assert "Warmup: all weights, lr 0.05, 30 steps (fixed); scores from theta1." in text
    assert "| loss (lower is better) |" in text and "| **lift over random** | **+0.1520** |" in text
    assert "| score | 2.25 |" in text
    assert "[score-distribution.png](s3://b/runs/x/score-distribution.png)" in text
    assert "In `s3://b/runs/x` (`aws s3 ls s3://b/runs/x/`) ([open](s3://b/runs/x))" in text


def test_outputs_get_a_link_a_browser_opens_where_the_store_offers_one(monkeypatch, tmp_path):
    from curation.dashboards import outputs_link

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # AWS S3: its console
    assert outputs_link("s3://b/runs/x") == "https://s3.console.aws.amazon.com/s3/buckets/b?prefix=runs/x/"
    assert outputs_link("s3://b/runs/x", "p.png") == "https://s3.console.aws.amazon.com/s3/object/b?prefix=runs/x/p.png"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    assert outputs_link("s3://b/runs/x") == "s3://b/runs/x"
    assert outputs_link(str(tmp_path), "p.png") == tmp_path.resolve().as_uri() + "/p.png"


def test_report_without_finetune_says_the_lift_was_not_measured():
    assert "Not measured" in report_markdown(report(None))


def test_top_rows_are_cut_to_a_readable_table():
    selection = pd.DataFrame(
        {
            "id": ["a", "b"],
            "score": [0.123456789, 0.1],
            "rank": [1, 2],
            "response": ["x" * 500, "short"],
            "features": [np.zeros(3), np.ones(3)],
            "messages": [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}], []],
        }
    )
    rows = top_rows_table(selection, limit=1)
    assert rows[0]["messages"] == "user: hi | assistant: hello"  # a conversation: its turns on one line
    assert len(rows) == 1 and rows[0]["score"] == 0.123457 and rows[0]["rank"] == 1
    assert len(rows[0]["response"]) == 120 and rows[0]["response"].endswith("…")
    assert rows[0]["features"] == "[0, 0, 0]"


def test_score_plot_is_a_png_even_with_non_finite_scores():
    scores = np.concatenate([np.linspace(-1, 1, 1000), [np.nan]])
    png = score_distribution_png(scores, np.arange(900, 1000), "lossdrop")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def choice_use(figures: dict) -> MethodChoiceUse:
    from curation.method_choice import MethodChoice

    table, method, similarity = choose(figures, "max")
    choice = MethodChoice(method, similarity, table, folds=3)
    warning = None if choice.separates else NO_SEPARATION
    return MethodChoiceUse(
        status="miss",
        key="k",
        method=method,
        similarity=similarity,
        candidates=table,
        folds=3,
        outranks_percent=choice.outranks,
        separates=choice.separates,
        warning=warning,
        forward_passes=90,
        seconds=0.1,
    )


def test_the_report_shows_each_candidates_held_out_figure_and_the_choice():
    chosen = report(choice=choice_use({("lossdrop", "-"): [0.1, 0.2, 0.3], ("embedding", "max"): [0.4, 0.4, 0.4]}))
    text = report_markdown(chosen)
    assert "method `embedding` (auto)" in text and "## Method choice" in text
    assert "held-out target rows outrank **90%** of pool rows" in text
    assert "| lossdrop | +0.200 | 0.100 |  |" in text and "| embedding (max) | +0.400 | 0.000 | ✓ |" in text
    assert "Warning" not in text
    assert chosen.method_words().startswith("method: embedding (max) (auto, judged on 3 folds: cache miss)")
    forced = report()
    assert "## Method choice" not in report_markdown(forced)
    assert forced.method_words() == "method: lossdrop (forced with --method)"


def test_the_report_warns_when_no_candidate_separates_the_target():
    near = report(choice=choice_use({("lossdrop", "-"): [0.02, 0.0, 0.04], ("embedding", "max"): [0.0, 0.01, 0.0]}))
    text = report_markdown(near)
    assert "> **Warning**: no method tells held-out target rows from pool rows better than chance" in text
    assert near.method_words().splitlines()[-1] == NO_SEPARATION


def test_each_target_of_several_gets_artifact_keys_of_its_own():
    from curation.dashboards import REPORT_KEY, artifact_key

    assert artifact_key(REPORT_KEY) == "curation-report"
    assert artifact_key(REPORT_KEY, "Code_Python") == "curation-report-code-python"
