"""What a run shows in the Prefect UI: a markdown report, a table of the top selected rows, a link
to the outputs, and the score-distribution plot saved next to the outputs.

Artifact keys are stable, lowercase and dash-separated, so each forms a history across runs in the
UI's Artifacts page. The report is built from the run's `Report` alone: what the UI shows is what the
outputs say.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd

from curation.report import Report

REPORT_KEY = "curation-report"
TOP_ROWS_KEY = "top-selected-rows"
OUTPUTS_KEY = "curation-outputs"
VALIDATION_KEY = "pool-validation"
PLOT_NAME = "score-distribution.png"
TOP_ROWS = 20
CELL_CHARS = 120  # long text cells are cut so the table stays readable


def score_distribution_png(scores: np.ndarray, positions: np.ndarray, method: str) -> bytes:
    """A histogram of the scores, selected rows against the rest, as PNG bytes."""
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    scores = np.asarray(scores, dtype=np.float64)
    selected = np.zeros(len(scores), dtype=bool)
    selected[positions] = True
    finite = np.isfinite(scores)
    edges = np.histogram_bin_edges(scores[finite], bins=60) if finite.any() else 60
    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    axes.hist(scores[finite & ~selected], bins=edges, color="#9aa5b1", label=f"not selected ({(~selected).sum():,})")
    axes.hist(
        scores[finite & selected], bins=edges, color="#2563eb", alpha=0.85, label=f"selected ({selected.sum():,})"
    )
    axes.set_xlabel(f"score ({method})")
    axes.set_ylabel("rows")
    axes.set_title("Score distribution of the valid pool rows")
    axes.legend(frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def outputs_link(out: str, name: str | None = None) -> str:
    """A URL a browser can open for an output folder, where the store offers one: an AWS S3 folder
    as its S3 console page (an S3-compatible server, `AWS_ENDPOINT_URL` set, offers none: the
    s3:// URL); a local folder as a file:// URL (open on the machine that ran the flow)."""
    import os
    import pathlib
    from urllib.parse import quote

    if out.startswith("s3://") and not os.environ.get("AWS_ENDPOINT_URL"):
        bucket, _, key = out[len("s3://") :].partition("/")
        folder = key.rstrip("/") + "/"
        if name:  # a file's object page
            return f"https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={quote(folder + name)}"
        return f"https://s3.console.aws.amazon.com/s3/buckets/{bucket}?prefix={quote(folder)}"
    where = out if "://" in out else pathlib.Path(out).resolve().as_uri()
    return f"{where.rstrip('/')}/{name}" if name else where


def outputs_where(out: str) -> str:
    """Where the outputs are, in words, for a link a browser may not open."""
    import socket

    if out.startswith("s3://"):
        return f"`{out}` (`aws s3 ls {out.rstrip('/')}/`)"
    return f"`{out}` on host `{socket.gethostname()}`"


def report_markdown(report: Report) -> str:
    """The run's report as markdown: pool, counts, cache, stage times, lift over random."""
    config, counts, cache = report.config, report.counts, report.cache
    out = outputs_link(config.out)
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in sorted(counts.quarantine_reasons.items()))
    lines = [
        "# Curation report",
        "",
        f"Pool `{config.pool}`, validation `{config.validation}`, model `{config.model}`, "
        f"method `{report.effective.method}`{' (auto)' if report.method_choice else ''}, "
        f"selection `{report.effective.selection}`, seed {config.seed}.",
        "",
        "| rows read | valid | quarantined | selected |",
        "| ---: | ---: | ---: | ---: |",
        f"| {counts.rows_read:,} | {counts.valid:,} | {counts.quarantined:,} | {counts.selected:,} |",
        "",
        f"Quarantine reasons: {reasons or 'none'}.",
        "",
        f"Cache: validated pool **{cache.pool}**, warmup **{cache.warmup}**, calibration **{cache.calibration}**, "
        f"{cache.rows_scored:,} rows scored, {cache.rows_reused:,} reused from the row-score cache.",
        "",
        f"Warmup: {report.warmup_words()}; scores from {report.effective.start}.",
        "",
        *method_choice_markdown(report),
        "## Lift over random",
        "",
    ]
    evaluation = report.evaluation
    if evaluation:
        metric = evaluation.metric
        better = "higher" if evaluation.higher_is_better else "lower"
        lines += [
            f"| | {metric} ({better} is better) |",
            "| --- | ---: |",
            f"| selection | {evaluation.selection[metric]:.4f} |",
            f"| random control | {evaluation.random[metric]:.4f} |",
            f"| **lift over random** | **{evaluation.lift:+.4f}** |",
            "",
            f"Measured on {evaluation.rows:,} rows of the {evaluation.eval_set} set.",
        ]
    else:
        lines.append("Not measured: the run stopped after selection (`--skip-finetune`).")
    lines += ["", "## Stage times", "", "| stage | seconds |", "| --- | ---: |"]
    lines += [f"| {stage} | {seconds:.2f} |" for stage, seconds in report.timings.items()]
    lines += [
        "",
        "## Outputs",
        "",
        f"In {outputs_where(config.out)} ([open]({out})): "
        + ", ".join(f"`{name}`" for name in config.selection_files)
        + ", `scores.parquet`, `quarantine.parquet`, `report.json`.",
        "",
        f"Score distribution, selected vs not: [{PLOT_NAME}]({outputs_link(config.out, PLOT_NAME)})",
    ]
    return "\n".join(lines)


def method_choice_markdown(report: Report) -> list[str]:
    """`--method auto`'s evidence: each candidate's held-out figure, the choice, and the warning."""
    choice = report.method_choice
    if choice is None or not choice.candidates:
        return [f"{report.method_words().capitalize()}.", ""]
    lines = [
        "## Method choice",
        "",
        f"**{report.effective.method}** chosen on {choice.folds} held-out folds (cache {choice.status}): held-out "
        f"target rows outrank **{choice.outranks_percent:g}%** of pool rows (50% is chance).",
        "",
        "| candidate | held-out auc − ½ | spread over folds | chosen |",
        "| --- | ---: | ---: | :---: |",
    ]
    for row in choice.candidates:
        name = row["method"] + ("" if row["method"] == "lossdrop" else f" ({row['similarity']})")
        lines.append(f"| {name} | {row['specificity']:+.3f} | {row['spread']:.3f} | {'✓' if row['chosen'] else ''} |")
    if choice.warning:
        lines += ["", f"> **Warning**: {choice.warning.removeprefix('warning: ')}"]
    return [*lines, ""]


def top_rows_table(selection: pd.DataFrame, limit: int = TOP_ROWS) -> list[dict[str, Any]]:
    """The best-ranked selected rows, long values cut, as JSON-friendly records."""

    def cell(value: Any) -> Any:
        if isinstance(value, (float, np.floating)):
            return round(float(value), 6)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (list, np.ndarray)) and len(value) and all(isinstance(v, dict) for v in value):
            text = " | ".join(f"{turn.get('role')}: {turn.get('content')}" for turn in value)
        elif isinstance(value, (list, np.ndarray)):  # a feature vector: plain rounded numbers
            text = "[" + ", ".join(f"{float(v):.4g}" for v in value) + "]"
        else:
            text = str(value)
        return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"

    head = selection.head(limit)
    return [{column: cell(value) for column, value in row.items()} for row in head.to_dict("records")]


def artifact_key(key: str, target: str | None = None) -> str:
    """An artifact's key, for one target of a several-target run `KEY-target` (lowercase, dashes: what
    Prefect accepts), so each target keeps its own history in the UI."""
    return key if not target else f"{key}-{re.sub(r'[^a-z0-9-]+', '-', target.lower()).strip('-')}"


def publish_dashboards(report: Report, selection: pd.DataFrame, target: str | None = None) -> None:
    """The report, the top rows and the outputs link as Prefect artifacts of the current run (keys per
    target in a several-target run)."""
    from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

    pool, out = report.config.pool, report.config.out
    create_markdown_artifact(
        key=artifact_key(REPORT_KEY, target),
        markdown=report_markdown(report),
        description=f"curation report for {pool}",
    )
    create_table_artifact(
        key=artifact_key(TOP_ROWS_KEY, target),
        table=top_rows_table(selection),
        description=f"the {TOP_ROWS} best-ranked selected rows of {pool}",
    )
    create_link_artifact(
        key=artifact_key(OUTPUTS_KEY, target),
        link=outputs_link(out),
        link_text=out,
        description=f"outputs of the run on {pool}",
    )


def publish_validation(expectations: list[dict], target: str | None = None) -> None:
    """The expectation results as a Prefect table artifact: expectation, rows checked, rows failed."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key=artifact_key(VALIDATION_KEY, target),
        table=[
            {
                "expectation": e["expectation"],
                "reason": e["reason"],
                "rows checked": e["rows_checked"],
                "rows failed": e["rows_failed"],
            }
            for e in expectations
        ],
        description="Great Expectations results over the pool, summed over its batches",
    )
