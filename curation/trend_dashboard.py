"""What the trends show: one flat history row per target per run (`trend_row`), and the
`curation-trends` artifact's markdown: the last runs per target as a table, with a plot of the lift
the finetunes measured beside the held-out figure the method choice expected, embedded as a PNG
data URI so that it renders inside the Prefect UI itself (a markdown artifact's image)."""

from __future__ import annotations

import base64
import io
import math
import numbers

import numpy as np
import pandas as pd

from curation.report import Report
from curation.trends import Drift, recent

TRENDS_KEY = "curation-trends"
HEADINGS = ("finished", "pool version", "read", "valid", "quarantined", "method", "held-out", "selected", "lift")
HEADINGS += ("KS", "new rows", "drift")
DRIFT_COLUMNS = ("ks", "rows_new", "rows_dropped", "rows_kept", "method_flipped", "lift_sign_changed")


def held_out_figure(report: Report) -> float | None:
    """The method choice's held-out figure for the method it chose (auc − ½ on held-out validation rows
    against pool rows), or None when the method was forced or the choice skipped."""
    choice = report.method_choice
    if choice is None:
        return None
    chosen = [c for c in choice.candidates if c.get("chosen")]
    value = chosen[0].get("specificity") if chosen else None
    return None if value is None or not math.isfinite(value) else float(value)


def trend_row(target: str, report: Report, drift: Drift | None) -> dict:
    """One target's night as a history row: the pool version, counts, method and its held-out figure,
    the lift, the cache's hits, the cost in seconds and the drift against the night before."""
    counts, cache = report.counts, report.cache
    row = {
        "run": report.flow_run,
        "finished_at": report.finished_at,
        "target": target,
        "pool": report.config.pool,
        "pool_version": report.hashes.pool,
        "rows_read": counts.rows_read,
        "valid": counts.valid,
        "quarantined": counts.quarantined,
        "method": report.effective.method,
        "held_out": held_out_figure(report),
        "selected": counts.selected,
        "lift": report.evaluation.lift if report.evaluation else None,
        "cache_pool": cache.pool,
        "cache_warmup": cache.warmup,
        "cache_calibration": cache.calibration,
        "rows_reused": cache.rows_reused,
        "seconds": round(sum(report.timings.values()), 3),
    }
    figures = drift.as_dict() if drift else {}
    row.update({name: figures.get(name) for name in DRIFT_COLUMNS})
    row["q50"] = drift.quantiles["q50"] if drift else None
    row["drifted"] = drift.drifted if drift else False
    row["drift_reasons"] = "; ".join(drift.reasons) if drift else ""
    return row


def trends_png(history: pd.DataFrame, runs: int) -> bytes:
    """Per target, the lift measured (solid) and the held-out figure expected (dashed) over its last runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    figure, axes = plt.subplots(figsize=(7, 3.6), dpi=110)
    for target in dict.fromkeys(history["target"]):
        rows = recent(history, target, runs)
        nights = range(1, len(rows) + 1)
        line = axes.plot(nights, pd.to_numeric(rows["lift"], errors="coerce"), marker="o", label=f"{target}: lift")
        axes.plot(
            nights,
            pd.to_numeric(rows["held_out"], errors="coerce"),
            linestyle="--",
            color=line[0].get_color(),
            label=f"{target}: held-out figure",
        )
    axes.axhline(0, color="#9aa5b1", linewidth=0.8)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # runs are whole numbers
    axes.set_xlabel(f"run (last {runs})")
    axes.set_ylabel("lift over random / held-out auc − ½")
    axes.set_title("Lift measured against what the method choice expected")
    axes.legend(frameon=False, fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def _cell(value) -> str:
    """A table cell: figures signed to four places, counts with separators, a missing value as a dash."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):+.4f}"
    return str(value)


def trends_markdown(history: pd.DataFrame, runs: int = 14) -> str:
    """The artifact: per target, its last `runs` nights as a table, then the plot inline."""
    lines = ["# Curation trends", ""]
    header = "| " + " | ".join(HEADINGS) + " |"
    for target in dict.fromkeys(history["target"]):
        lines += [f"## {target}", "", header, "|" + " --- |" * len(HEADINGS)]
        for row in recent(history, target, runs).to_dict("records"):
            cells = [
                str(row["finished_at"])[:16], str(row["pool_version"])[:12], row["rows_read"], row["valid"],
                row["quarantined"], row["method"], row["held_out"], row["selected"], row["lift"], row["ks"],
                row["rows_new"], row["drift_reasons"] or "",
            ]  # fmt: skip
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    image = base64.b64encode(trends_png(history, runs)).decode("ascii")
    lines += ["## Lift against the held-out figure", "", f"![trends](data:image/png;base64,{image})", ""]
    return "\n".join(lines)
