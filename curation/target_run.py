"""The target as one run uses it, built once and passed whole: its checked rows, the warmup θT was
trained with (calibrated or fixed), the calibration behind it, θT's cache entry, the cache keys
and the method `--method auto` chose."""

from __future__ import annotations

from dataclasses import dataclass

from curation.cache.keys import CacheKeys
from curation.cache.warmups import Warmup
from curation.calibration import Calibration
from curation.method_choice import MethodChoice
from curation.models import WarmupConfig
from curation.pool import Target


@dataclass(frozen=True)
class TargetRun:
    target: Target
    keys: CacheKeys
    warmup: WarmupConfig  # the warmup θT was trained with: the calibration's choice, or the fixed settings
    calibration: Calibration | None  # None: a fixed warmup, or a method that needs none
    warm: Warmup | None  # θT's cache entry (None: the method needs no θT)
    choice: MethodChoice | None = None  # `--method auto`'s choice (None: the method was forced)

    def method(self, asked: str) -> str:
        """The method that scored: the choice's, else the one asked for."""
        return self.choice.method if self.choice else asked
