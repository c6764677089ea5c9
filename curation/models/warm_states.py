"""The warmup's checkpoints as tensors: θ1 and θT of the parameters a warmup trains, swapped in for a pass.

A warmup trains a set of parameters (a LoRA adapter's, or the model's own for a full-scope
warmup). Its checkpoints are those parameters' tensors at step 1 (θ1) and at the end (θT); a
full-scope warmup also keeps θ0's, since it trains the base weights in place. Only one state's
tensors sit in the parameters at a time (`live`); `holding` puts another's in for a forward
pass and back afterwards. Swapping is a pointer assignment per parameter, no copy.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager

import torch
from safetensors.torch import load_file, save_file

FULL_PARAMETER_LIMIT = 200_000_000  # a full-scope warmup of a larger model trains its top quarter of blocks only
FILES = {"warm": "warm.safetensors", "theta1": "start.safetensors"}  # what a cache entry holds


class WarmStates:
    def __init__(self, params: dict[str, torch.nn.Parameter], live: str):
        self.params = params  # name → a parameter the warmup trains
        self.states: dict[str, dict[str, torch.Tensor]] = {}
        self.live = live  # the state whose tensors the parameters hold now ("warm" while training)

    def keep(self, state: str) -> None:
        """Copy the parameters' tensors now as `state` (θ0 before a full warmup, θ1 after its first step)."""
        self.states[state] = {name: p.detach().clone() for name, p in self.params.items()}

    def finish(self, back_to: str | None = None) -> None:
        """Training is over: the parameters' tensors are θT; then put `back_to`'s tensors in place."""
        self.states["warm"] = {name: p.detach() for name, p in self.params.items()}
        if back_to is not None:
            self._put(self.states[back_to])
            self.live = back_to

    @contextmanager
    def holding(self, state: str):
        """The parameters hold `state`'s tensors inside the block."""
        if state == self.live:
            yield
            return
        saved = {name: p.data for name, p in self.params.items()}
        self._put(self.states[state])
        try:
            yield
        finally:
            self._put(saved)

    def _put(self, tensors: dict[str, torch.Tensor]) -> None:
        for name, p in self.params.items():
            p.data = tensors[name]

    def save(self, directory: str) -> None:
        for state, file in FILES.items():
            tensors = {name: t.contiguous() for name, t in self.states[state].items()}
            save_file(tensors, os.path.join(directory, file))

    def load(self, directory: str) -> None:
        """Read θ1 and θT; a file whose tensors are not these parameters' raises ValueError."""
        device = next(iter(self.params.values())).device
        for state, file in FILES.items():
            tensors = load_file(os.path.join(directory, file), device=str(device))
            if set(tensors) != set(self.params) or any(
                tensors[n].shape != p.shape or tensors[n].dtype != p.dtype for n, p in self.params.items()
            ):
                raise ValueError(f"{file} holds other tensors than this model's warmup trains")
            self.states[state] = tensors
        if self.live != "theta0":  # a LoRA warmup: θT in place; a full one keeps θ0's weights in place
            self._put(self.states[self.live])


def full_parameters(base) -> dict[str, torch.nn.Parameter]:
    """The base model's own parameters (no LoRA's), under names that do not depend on adapters;
    a model above FULL_PARAMETER_LIMIT gives its top quarter of blocks only."""
    named = [(n.replace(".base_layer", ""), p) for n, p in base.named_parameters() if "lora_" not in n]
    if sum(p.numel() for _, p in named) <= FULL_PARAMETER_LIMIT:
        return dict(named)
    blocks = {n: int(m.group(1)) for n, _ in named if (m := re.search(r"\.(?:h|layers)\.(\d+)\.", n))}
    count = max(blocks.values()) + 1
    first = count - max(1, count // 4)
    return {n: p for n, p in named if blocks.get(n, -1) >= first}
