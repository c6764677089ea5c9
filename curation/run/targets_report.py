"""A run of several targets: the top-level report.json (each target's share, rows, losses to the other
targets, method and lift) and the outputs that span the targets.

Each target's own outputs are a single-target run's, under `OUT/targets/NAME/` (its report.json,
selection, scores, quarantine). At the top: `selection.parquet`/`.jsonl` with every target's rows and
a `target` column (a row appears once), `scores.parquet` with one `score_NAME` column per target
(by row id: a row a target did not admit, leakage against its validation set, has no score for it),
and report.json last: the run is complete once it is there.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from curation.config import CurateConfig
from curation.formats.chat import as_given
from curation.outputs import StagedOutputs
from curation.report import Report, Section

TARGETS_FOLDER = "targets"


class TargetShare(Section):
    """One target's part of the run."""

    name: str
    weight: float
    quota: int  # its share of the budget
    selected: int  # rows it got (fewer than the quota only when its admitted rows run out)
    lost_to_other_targets: int  # rows within its quota of its ranking that another target took first
    method: str
    lift: float | None  # over its own random control, on its own held-out rows (None: --skip-finetune)
    scoring_forward_passes: int  # model passes over pool rows this target's scoring ran (θ0's shared ones once)
    score_seconds: float
    report: str  # its own report.json, relative to the run's folder


class TargetsReport(Section):
    config: CurateConfig
    targets: list[TargetShare]
    selected: int  # rows in the joint selection (each once)
    rows_read: int  # the pool's rows
    passes_per_row: float  # every target's scoring passes over the pool's rows, per row read
    flow_run: str
    finished_at: str

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def share_of(name: str, weight: float, report: Report, counts: tuple[int, int]) -> TargetShare:
    """A target's line of the top-level report from its own report (`counts`: its quota, its losses)."""
    quota, lost = counts
    return TargetShare(
        name=name,
        weight=weight,
        quota=quota,
        selected=report.counts.selected,
        lost_to_other_targets=lost,
        method=report.effective.method,
        lift=report.evaluation.lift if report.evaluation else None,
        scoring_forward_passes=report.cost.scoring_forward_passes,
        score_seconds=report.cost.score_seconds,
        report=f"{TARGETS_FOLDER}/{name}/report.json",
    )


def joint_selection(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every target's selection in one table, a `target` column after the id (targets in order)."""
    tables = [frame.assign(target=name) for name, frame in frames.items()]
    joint = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["id", "target"])
    return joint[["id", "target", *[c for c in joint.columns if c not in ("id", "target")]]]


def joint_scores(paths: dict[str, str]) -> pd.DataFrame:
    """One row per id any target scored, one `score_NAME` column per target."""
    joint = None
    for name, path in paths.items():
        frame = pq.read_table(path, columns=["id", "score"]).to_pandas().rename(columns={"score": f"score_{name}"})
        joint = frame if joint is None else joint.merge(frame, on="id", how="outer", sort=False)
    return joint


def write_joint_outputs(
    outputs: StagedOutputs, report: TargetsReport, frames: dict[str, pd.DataFrame], scores: dict[str, str]
) -> None:
    """The outputs that span the targets, then report.json last."""
    selection = joint_selection(frames)
    export = report.config.export_format
    if export in ("parquet", "both"):
        outputs.parquet("selection.parquet", selection)
    if export in ("jsonl", "both"):
        lines = as_given(selection).to_json(orient="records", lines=True, force_ascii=False)
        outputs.bytes("selection.jsonl", lines.encode())
    outputs.parquet("scores.parquet", joint_scores(scores))
    outputs.publish(report.as_json())
