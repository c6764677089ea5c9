"""The run context: one target through one run, built right after validation and passed whole.

It starts with what validation gave (the checked target, the pool admitted for it, θ0 and the
warmup it would train) and the method asked for; each stage that learns something returns a new
context with it (`calibrated`, `chose`, `warmed`): the calibration's warmup replaces the default,
`--method auto` is resolved once (by the choice) into the method that scores, and θT's cache entry
is recorded. Later stages read the method, the keys and θ0/θT from here, never from the config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

from curation.cache.keys import CacheKeys, cache_keys
from curation.cache.warmups import Warmup
from curation.calibration import Calibration
from curation.grids import grid_for
from curation.method_choice import MethodChoice
from curation.models import ModelAdapter, ModelSpec, WarmupConfig, adapter_for
from curation.pool import AdmittedPool, Target
from curation.run.settings import WarmupSettings


@dataclass(frozen=True)
class TargetRun:
    target: Target  # the checked validation and evaluation rows
    pool: AdmittedPool  # the pool as admitted for this target
    spec: ModelSpec  # θ0 as plain data (workers load it themselves)
    adapter: ModelAdapter  # θ0, and θT once warmed up
    warmup: WarmupConfig  # the warmup θT trains with: the model kind's default, then the calibration's choice
    method: str  # the method asked for ("auto" until the choice), then the one that scores
    similarity: str  # the embedding side's reduction (max or mean), the choice's once chosen
    start: str  # the score's start point: θ0 or θ1
    calibration: Calibration | None = None  # None: a fixed warmup, or a method that needs none
    choice: MethodChoice | None = None  # `--method auto`'s choice (None: the method was forced)
    warm: Warmup | None = None  # θT's cache entry (None: the method needs no θT)

    @property
    def kind(self) -> str:
        """The model kind: `features` (a classifier) or `text` (a causal LM)."""
        return self.target.ref.kind

    @property
    def chooses_method(self) -> bool:
        return self.method == "auto"

    @cached_property
    def keys(self) -> CacheKeys:
        """θT's and the row scores' cache keys (from the warmup rows, θ0, the warmup and the start)."""
        return cache_keys(self.adapter, self.target.warm_rows, self.warmup, self.start)

    def calibrated(self, calibration: Calibration) -> TargetRun:
        """This run with the calibration, and the warmup it chose."""
        return dataclasses.replace(self, calibration=calibration, warmup=calibration.config)

    def chose(self, choice: MethodChoice) -> TargetRun:
        """This run with `--method auto` resolved: the chosen method and similarity."""
        return dataclasses.replace(self, choice=choice, method=choice.method, similarity=choice.similarity)

    def warmed(self, warm: Warmup) -> TargetRun:
        """This run with θT in the adapter (`warm`: its cache entry)."""
        return dataclasses.replace(self, warm=warm)


def begin(target: Target, pool: AdmittedPool, config) -> TargetRun:
    """The run context right after validation: θ0 loaded for the target's row form, the warmup the
    settings ask for (with the batch size the model's calibration grid trains with: the candidates
    and θT train the same way), and the method as asked (`config`: `curation.config.CurationSettings`)."""
    spec = ModelSpec.of(config, target)
    adapter = adapter_for(spec)
    warmup = WarmupSettings.of(config).config_for(target.ref.kind)
    batch_size = grid_for(adapter, target.warm_rows).batch_size
    return TargetRun(
        target=target,
        pool=pool,
        spec=spec,
        adapter=adapter,
        warmup=dataclasses.replace(warmup, batch_size=batch_size) if batch_size else warmup,
        method=config.method,
        similarity=config.similarity,
        start=config.start,
    )
