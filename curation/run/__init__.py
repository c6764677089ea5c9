"""One target through one run.

- `context.py`: `TargetRun`, the run context: built right after validation, extended stage by stage
  (calibration, method choice, θT), passed whole to every later stage.
- `settings.py`: the typed slices of the run's options each stage reads (warmup, scoring, selection,
  finetune), made from the one config (`curation.config`).
"""
