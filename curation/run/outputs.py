"""A run's outputs staged and moved into place, report.json last (a run is complete once it is there)."""

from __future__ import annotations

from curation.dashboards import PLOT_NAME, score_distribution_png
from curation.formats.chat import as_given
from curation.outputs import StagedOutputs
from curation.pool import AdmittedPool
from curation.report import Report
from curation.run.report import Curated


def stage_validation(outputs: StagedOutputs, pool_url: str, pool: AdmittedPool) -> None:
    """What validating the pool found: quarantine.parquet and validation.json (a run's or a refusal's)."""
    outputs.parquet("quarantine.parquet", pool.quarantine)
    outputs.json("validation.json", {"pool": pool_url, "files": pool.files, "expectations": pool.expectations})


def write_outputs(outputs: StagedOutputs, report: Report, pool: AdmittedPool, curated: Curated) -> None:
    """Stage every output, then move them into place with report.json last (a run is complete once it is there)."""
    stage_validation(outputs, report.config.pool, pool)
    scored, chosen = curated.scored, curated.chosen
    outputs.file("scores.parquet", scored.path)
    export = report.config.export_format
    if export in ("parquet", "both"):
        outputs.parquet("selection.parquet", chosen.frame)
    if export in ("jsonl", "both"):  # `datasets.load_dataset("json", ...)` and TRL's SFTTrainer read it as it is
        lines = as_given(chosen.frame).to_json(orient="records", lines=True, force_ascii=False)
        outputs.bytes("selection.jsonl", lines.encode())
    outputs.bytes(PLOT_NAME, score_distribution_png(scored.scores, chosen.positions, report.effective.method))
    outputs.publish(report.as_json())
