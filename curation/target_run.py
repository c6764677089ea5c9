"""The target as one run uses it, built once and passed whole: its checked rows, the warmup θT was
trained with (calibrated or fixed), the calibration behind it, θT's cache entry and the cache keys."""

from __future__ import annotations

from dataclasses import dataclass

from curation.cache_keys import CacheKeys
from curation.calibration import Calibration
from curation.models import WarmupConfig
from curation.pool import Target
from curation.warmup_cache import Warmup


@dataclass(frozen=True)
class TargetRun:
    target: Target
    keys: CacheKeys
    warmup: WarmupConfig  # the warmup θT was trained with: the calibration's choice, or the fixed settings
    calibration: Calibration | None  # None: a fixed warmup, or a method that needs none
    warm: Warmup | None  # θT's cache entry (None: the method needs no θT)
