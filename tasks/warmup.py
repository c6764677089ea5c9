"""Warmup: θ0 → θT, a short, capacity-limited fine-tune on the validation set, cached.

θT never depends on the pool, so it is trained once and reused for every later pool: the
verified cache entry, its lock and its layout are `curation.warmup_cache`.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from curation.models import ModelAdapter, WarmupConfig
from curation.models.base import WARMUP_DEFAULTS
from curation.warmup_cache import Warmup, obtain_warmup


def warmup_config(kind: str, config) -> WarmupConfig:
    """The model kind's default warmup with the run's overrides (`--warmup-steps`, `-lr`, `-rank`, `-seed`)."""
    # The warmup's seed is its own option: a run that only changes the seed of the selection and
    # the finetunes (--seed) reuses θT.
    rank = config.warmup_rank
    overrides = {
        "steps": config.warmup_steps,
        "lr": config.warmup_lr,
        "lora_rank": rank,
        "lora_alpha": 2 * rank if rank is not None else None,
    }
    return dataclasses.replace(
        WARMUP_DEFAULTS[kind], seed=config.warmup_seed, **{k: v for k, v in overrides.items() if v is not None}
    )


@task(name="warmup", tags=["warmup"], persist_result=False, cache_policy=NO_CACHE)
def warmup(adapter: ModelAdapter, validation: pd.DataFrame, config: WarmupConfig, cache: str, key: str) -> Warmup:
    """Load θT from the warmup cache, or train it on the validation set and store it."""
    outcome = obtain_warmup(adapter, validation, config, cache, key)
    get_run_logger().info("warmup %s (key %s)", outcome.status, key[:12])
    return outcome
