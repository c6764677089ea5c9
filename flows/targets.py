"""`curate run --target NAME=VALIDATION[:WEIGHT] ...`: several targets curated from one pool in one run.

The pool is ingested once and its target-independent checks are cached once (the validated-pool
cache); each target then goes through validate → calibrate → choose → warmup → score exactly as a
one-target run does (its own admission, calibration, method choice, θT and scores: `scored_target`).
The select stage splits the budget by weight and fills the quotas without selecting a row twice
(`curation.run.joint`); each target's selection is then finetuned and evaluated against its own
random control on its own held-out rows. Outputs: each target's under `OUT/targets/NAME/`, the joint
selection and scores at the top, report.json last (`curation.run.targets_report`).
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone

from prefect import flow
from prefect.runtime import flow_run

from curation.config import CurateConfig
from curation.models import LoadedModels
from curation.outputs import StagedOutputs
from curation.pool import PoolRejected
from curation.report import Report
from curation.run.joint import ScoredTarget
from curation.run.report import Curated, build_report
from curation.run.settings import FinetuneSettings, SelectionSettings
from curation.run.targets_report import TargetsReport, share_of, write_joint_outputs
from curation.selection import Chosen
from curation.tempfiles import make_temp_dir
from curation.trends import check_folder
from flows.curate import Stages, finetuned, run_name, scored_target
from tasks.ingest import ingest
from tasks.publish import publish, publish_rejection
from tasks.select import select_for_targets
from tasks.trends import night_of, track_trends


def curated_target(config: CurateConfig, target: ScoredTarget, chosen: Chosen, stage: Stages, pool) -> Report:
    """One target's finetunes and evaluation (unless --skip-finetune), its report, its outputs in place."""
    run, scored = target.run, target.scored
    evaluation = None if config.skip_finetune else finetuned(run, chosen, FinetuneSettings.of(config), stage)
    curated = Curated(scored, chosen, evaluation)
    report = build_report(config, run, curated, stage.timings)
    publish(StagedOutputs(config.out), report, pool, curated, target.name)
    return report


def targets_report(
    config: CurateConfig, reports: dict[str, Report], choices: dict, weights: dict[str, float]
) -> TargetsReport:
    """The top-level report: each target's share, rows, losses to the others, method and lift."""
    shares = [
        share_of(name, weights[name], report, (choices[name].quota, choices[name].lost))
        for name, report in reports.items()
    ]
    rows_read = max(report.counts.rows_read for report in reports.values())  # the same pool for every target
    return TargetsReport(
        config=config,
        targets=shares,
        selected=sum(share.selected for share in shares),
        rows_read=rows_read,
        passes_per_row=sum(share.scoring_forward_passes for share in shares) / max(rows_read, 1),
        flow_run=str(flow_run.id or ""),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


@flow(name="curate-targets", flow_run_name=run_name, log_prints=True)
def curate_targets(config: CurateConfig) -> list[Report]:
    """Curate one pool for several targets, each with its share of the budget, no row selected twice.

    Args:
        config: Every option of the run, as `curate run` takes them, the targets as `--target`.
    """
    config, shared = config.with_cache_dir(), Stages()
    if config.trends:
        check_folder(config.trends)  # before any work: a file in its place is bad input
    outputs, spill_root = StagedOutputs(config.out), make_temp_dir("valid-rows")
    targets = {option.name: option for option in config.target_options}
    one = {name: config.for_target(option) for name, option in targets.items()}
    with LoadedModels().active():  # one θ0 for every target; each target's θT replaces the last one's
        try:
            with shared("ingest"):
                source = ingest(config.pool)
            stages = {name: Stages(shared.timings) for name in targets}
            pools, scored = {}, {}
            for name, option in targets.items():
                spill_dir = os.path.join(spill_root, name)
                os.makedirs(spill_dir)
                try:
                    pools[name], found = scored_target(one[name], source, spill_dir, stages[name])
                except PoolRejected as rejected:  # its quarantine under its folder; the run stops, naming it
                    publish_rejection(StagedOutputs(one[name].out), one[name], rejected)
                    where = {"file": rejected.file, "row": rejected.row, "field": rejected.field, "hint": rejected.hint}
                    raise PoolRejected(f"target {name}: {rejected.detail}", rejected.pool, **where) from None
                scored[name] = ScoredTarget(found.run, found.scored, option.weight, name)
            with shared("select"):
                choices = select_for_targets(scored, SelectionSettings.of(config))
            reports = {}
            for name, stage in stages.items():
                stage.timings["select"] = shared.timings["select"]
                reports[name] = curated_target(one[name], scored[name], choices[name].chosen, stage, pools[name])
            summary = targets_report(config, reports, choices, {name: s.weight for name, s in scored.items()})
            frames = {name: choice.chosen.frame for name, choice in choices.items()}
            write_joint_outputs(outputs, summary, frames, {name: s.scored.path for name, s in scored.items()})
            if config.trends:
                with shared("trends"):
                    nights = {n: (r, night_of(r, pools[n], scored[n].scored)) for n, r in reports.items()}
                    track_trends(config, nights)
        except BaseException:
            outputs.abandon()
            raise
        finally:
            shutil.rmtree(spill_root, ignore_errors=True)
    return list(reports.values())
