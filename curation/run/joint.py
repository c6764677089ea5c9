"""Several targets' selections from one pool: the budget split by weight, a row selected at most once.

Each target ranks the pool as a single-target run would (its method, its selection strategy, its
own admitted rows) a little further than its quota: far enough that, whatever the other targets
take first, it can still fill its quota. `curation.targets.pick_across` then fills the quotas by a
weighted round-robin over those rankings, keyed by content hash (each target admits its own subset
of the pool, so positions differ). Each target keeps its own random control, drawn from its own
admitted rows, so its lift is measured as a single-target run's would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.rows import HASH_COLUMN
from curation.run.context import TargetRun
from curation.run.settings import SelectionSettings
from curation.scorers.base import Scored
from curation.selection import Chosen, budget_rows, chosen_at, preference
from curation.targets import pick_across, quotas


@dataclass(frozen=True)
class ScoredTarget:
    """One target of the run, scored: its context, its scores, its weight and its name."""

    run: TargetRun
    scored: Scored
    weight: float = 1.0
    name: str = "target"


@dataclass(frozen=True)
class TargetChoice:
    """One target's part of the joint selection: its rows, its quota, and how many rows it ranked within
    its quota that another target took first."""

    chosen: Chosen
    quota: int
    lost: int


def pick_for_targets(targets: dict[str, ScoredTarget], settings: SelectionSettings) -> dict[str, TargetChoice]:
    """The budget (`settings.budget`, of the largest admitted pool) split by weight and filled without
    selecting a row twice; the targets' order breaks ties."""
    pool_rows = max(target.run.pool.valid_rows for target in targets.values())
    counts = quotas(budget_rows(settings.budget, pool_rows), {name: t.weight for name, t in targets.items()})
    rankings, position_of = {}, {}
    for name, target in targets.items():
        reach = min(target.run.pool.valid_rows, sum(counts.values()))  # its quota plus all the others take
        positions = preference(target.run, target.scored, settings, reach)
        hashes = target.run.pool.column(HASH_COLUMN)[positions]
        rankings[name] = hashes
        position_of[name] = dict(zip(hashes.tolist(), positions.tolist()))
    taken = pick_across(rankings, counts)
    choices = {}
    for name, target in targets.items():
        positions = np.array([position_of[name][row] for row in taken[name].rows.tolist()], dtype=np.int64)
        chosen = chosen_at(target.run, target.scored, settings, positions)
        choices[name] = TargetChoice(chosen, counts[name], taken[name].lost)
    return choices
