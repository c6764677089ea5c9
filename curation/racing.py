"""The calibration's pruning: which warmup candidates are still worth judging, fold after fold.

A candidate is a (scope, lr, steps) of the grid; its figure on a fold is the auc − ½ of the
held-out rows' normalized drops against the reference's (curation.calibration). The full grid
judges every candidate on every fold; three rules cut it short, each stated with its risk:

1. **Racing on a bound** (Maron & Moore's Hoeffding races, with the auc's own error): after each
   fold, a candidate is dropped when its mean so far plus `Z` standard errors of its difference from
   the best mean so far is below that best minus the tie margin. The error of one fold's auc is Hanley & McNeil's
   (1982) for its held-out and reference sizes. The best so far includes the *rival*: the figure
   `--method auto`'s cheaper method (embedding similarity, judged first on the same folds) reached,
   so a loss drop that cannot catch it stops training. When every candidate is dropped so, the loss
   drop is ruled out: the calibration ends, and the method choice reads its figure on the folds judged.
2. **Successive halving** (Jamieson & Talwalkar 2016, η = 2): of the candidates left after a fold,
   only the better half (by mean so far, ties at the cut kept) is judged on the next. Risk: the
   winner of the full grid ranked in the lower half on the first fold(s), which the auc's noise
   (± 0.07 on a fold of 20 against 64) allows when candidates are close; the figure lost is then
   within that noise.
3. **Early stopping along the steps** (patience 1): on the first fold, a training run stops at a
   checkpoint whose figure fell below the arm's best earlier checkpoint by more than the tie
   margin; its later step counts are never judged. The grids' measured curves rise to one peak
   and fall (benchmarks/RESULTS.md); a second rise after a fall is the case this misses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Z = 2.0  # standard errors: a candidate whose mean + Z·SE cannot reach the best is dropped
MARGIN = 0.01  # auc units: the tie margin, as `--method auto`'s (curation.method_choice.TIE)
KEEP = 0.5  # successive halving: the share of the candidates judged on the next fold (η = 2)
Candidate = tuple[str, float, int]  # scope, lr, steps


def auc_standard_error(auc: float, held: int, reference: int) -> float:
    """Hanley & McNeil's standard error of an auc (here: ½ + the specificity) on `held` positives
    against `reference` negatives."""
    auc = min(max(auc, 1e-6), 1 - 1e-6)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    variance = auc * (1 - auc) + (held - 1) * (q1 - auc**2) + (reference - 1) * (q2 - auc**2)
    return math.sqrt(max(variance, 0.0) / max(held * reference, 1))


@dataclass
class Race:
    """The candidates' figures fold by fold, and which are still judged. `rival`: the cheaper
    method's figure on each fold (None: no rival, as for `--method lossdrop`)."""

    candidates: list[Candidate]
    rival: tuple[float, ...] | None = None
    folds: int = 2  # how many the race has: no rule applies after the last
    auc: bool = True  # the figures are auc − ½ (rule 1 needs their error; other criteria get rules 2 and 3)
    tie: float = MARGIN
    figures: dict[Candidate, list[float]] = field(default_factory=dict)
    dropped: dict[Candidate, str] = field(default_factory=dict)  # candidate → why it left the race
    folds_done: int = 0

    def steps_to_judge(self, scope: str, lr: float) -> list[int]:
        """The step counts of this arm still in the race, in order."""
        return sorted(s for (sc, r, s) in self.candidates if (sc, r) == (scope, lr) and (sc, r, s) not in self.dropped)

    def record(self, candidate: Candidate, figure: float) -> None:
        self.figures.setdefault(candidate, []).append(figure)

    def past_peak(self, scope: str, lr: float, step: int) -> bool:
        """Rule 3: on the first fold, whether this arm's figure at `step` fell below its best earlier
        checkpoint by more than the tie; its later step counts are then dropped."""
        if self.folds_done:
            return False
        earlier = [f[0] for (sc, r, s), f in self.figures.items() if (sc, r) == (scope, lr) and s < step and f]
        now = self.figures[(scope, lr, step)][0]
        if not earlier or now >= max(earlier) - self.tie:
            return False
        for later in self.steps_to_judge(scope, lr):
            if later > step:
                self.dropped[(scope, lr, later)] = "early-stopped"
        return True

    def end_fold(self, held: int, reference: int) -> None:
        """Rules 1 and 2 after a fold judged on `held` held-out rows against `reference` rows."""
        self.folds_done += 1
        alive = {c: float(np.mean(f)) for c, f in self.figures.items() if c not in self.dropped}
        if not alive or self.folds_done >= self.folds:
            return
        best = max(alive.values())
        rival = float(np.mean(self.rival[: self.folds_done])) if self.rival and self.auc else -math.inf
        top = max(best, rival)

        def error(mean: float) -> float:  # of a mean over the folds done
            return auc_standard_error(0.5 + mean, held, reference) / math.sqrt(self.folds_done)

        for candidate, mean in alive.items():  # the difference's error: both figures are estimates
            if self.auc and mean + Z * math.hypot(error(mean), error(top)) < top - self.tie:
                self.dropped[candidate] = "below the rival" if rival > best else "below the best"
        left = sorted((c for c in alive if c not in self.dropped), key=lambda c: -alive[c])
        if len(left) > 1:
            cut = alive[left[math.ceil(len(left) * KEEP) - 1]]
            for candidate in left:
                if alive[candidate] < cut:
                    self.dropped[candidate] = "halved"

    @property
    def ruled_out(self) -> bool:
        """Whether every candidate is out of the race (rule 1 against the rival ended it)."""
        return all(c in self.dropped for c in self.figures) and bool(self.figures)

    def table(self) -> list[dict[str, Any]]:
        """One row per candidate judged: its figure's mean over the folds it was judged on, their
        spread (std), how many, and why it left the race ("" if it never did)."""
        return [
            {
                "scope": scope,
                "lr": float(lr),
                "steps": int(steps),
                "specificity": round(float(np.mean(figures)), 6),
                "spread": round(float(np.std(figures, ddof=1)) if len(figures) > 1 else 0.0, 6),
                "folds": len(figures),
                "dropped": self.dropped.get((scope, lr, steps), ""),
            }
            for (scope, lr, steps), figures in self.figures.items()
        ]
