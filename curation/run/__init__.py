"""One target through one run (and several targets' shares of one run).

- `context.py`: `TargetRun`, the run context: built right after validation, extended stage by stage
  (calibration, method choice, θT), passed whole to every later stage.
- `judge.py`: the warmup's calibration and `--method auto`'s choice, found on held-out folds.
- `report.py`: report.json from the options, the context and what the stages returned;
  `outputs.py`: the outputs staged and moved into place, report.json last.
- `settings.py`: the typed slices of the run's options each stage reads (warmup, scoring, selection,
  finetune), made from the one config (`curation.config`).
- `joint.py`: several targets' selections from one pool (the budget split by weight, no row twice);
  `targets_report.py`: the top-level report.json and the outputs that span the targets.
"""
