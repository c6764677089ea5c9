"""Finetune: train θ0 on a set of rows (the selection, or the random control of the same size)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from curation.models import FinetuneConfig, ModelAdapter
from curation.models.base import FINETUNE_DEFAULTS
from curation.progress import progress_bar
from curation.run.context import TargetRun
from curation.run.settings import FinetuneSettings
from tasks.slots import device_slot


def finetune_config(kind: str, settings: FinetuneSettings) -> FinetuneConfig:
    """The model kind's default finetune, with `--finetune-epochs` if given."""
    config = FINETUNE_DEFAULTS[kind]
    return dataclasses.replace(config, epochs=settings.epochs) if settings.epochs is not None else config


def train_on(adapter: ModelAdapter, rows: pd.DataFrame, config: FinetuneConfig, seed: int, name: str) -> Any:
    """Train θ0 on rows with a progress bar; returns the adapter's handle to the trained model."""
    with progress_bar(config.steps_for(len(rows)), f"finetune {name}", unit="step") as progress:
        return adapter.finetune(rows, config, seed, name, progress)


@task(name="finetune", tags=["finetune"], persist_result=False, cache_policy=NO_CACHE, task_run_name="finetune-{name}")
def finetune(run: TargetRun, rows: pd.DataFrame, settings: FinetuneSettings, name: str) -> Any:
    """Finetune θ0 on the given rows."""
    with device_slot(settings.device_slot, run.adapter.gpus, f"finetune {name}"):
        return train_on(run.adapter, rows, finetune_config(run.kind, settings), settings.seed, name)
