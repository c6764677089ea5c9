"""`--method auto`: the target picks its scoring method, judged on the calibration's held-out folds.

No method wins everywhere (benchmarks/RESULTS.md): the calibrated loss drop finds label noise and
man-page text, embedding similarity finds rotated digits and a topic in real chat data. Which
case a target is can be read off its own validation set, with what the calibration already holds:
the same folds, the same pinned reference sample of the pool and the same rank criterion (`auc`:
the chance a held-out target row outscores a reference row, minus ½), for every candidate:

- `lossdrop`: the calibration winner's normalized drops of the held-out fold and the reference
  (kept by the calibration: no new pass);
- `embedding`, max and mean: each held-out and reference row's cosine similarity to the *training*
  folds' rows, over θ0's embeddings (one θ0 pass over the validation set and the reference);
- `blend`, with either similarity: the mean of the two rank percentiles over held-out ∪ reference.

The highest mean wins; candidates within TIE of it count as tied and the cheapest of those wins
(embedding: one pass per pool row and no θT; the loss drop: two; the blend: three). The auc is
scale-free, so the loss drop and a cosine compare fairly; the calibration's own criterion (`drop`,
`gradient`) still picks the warmup. The choice is cached beside the calibration it read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from curation.calibration import rank_specificity
from curation.signals import blend_scores

COST = {"embedding": 1, "lossdrop": 2, "blend": 3}  # passes per pool row: ties go to the cheapest
TIE = 0.01  # auc units: closer than this is not a difference the folds can tell
SEPARATES = 0.1  # a held-out auc − ½ at or below this (a target row outranks ≤ 60 % of pool rows): near chance


@dataclass
class MethodChoice:
    """The method that scores this target's pools, the candidates' held-out figures, and the cost."""

    method: str  # lossdrop, embedding or blend
    similarity: str  # max or mean: the embedding side of the chosen method (as --similarity)
    candidates: list[dict[str, Any]] = field(default_factory=list)  # one row per candidate
    folds: int = 0
    forward_passes: int = 0  # θ0 passes for the embedding side (0 on a cache hit)
    seconds: float = 0.0
    status: str = "miss"  # "hit", "miss" or "skipped" (too few validation rows to fold)
    key: str = ""

    @property
    def chosen(self) -> dict[str, Any] | None:
        return next((row for row in self.candidates if row["chosen"]), None)

    @property
    def separates(self) -> bool:
        """Whether any candidate tells held-out target rows from pool rows better than chance."""
        return any(row["specificity"] > SEPARATES for row in self.candidates)

    @property
    def outranks(self) -> float | None:
        """The share of pool rows a held-out target row outranks, in percent (50: chance)."""
        chosen = self.chosen
        return None if chosen is None else round(100 * (0.5 + chosen["specificity"]), 1)

    def words(self) -> str:
        """The choice for a person: what was chosen, on what evidence, and whether to trust it."""
        if self.status == "skipped":
            return f"method: {self.method} (auto: too few validation rows to judge on folds)"
        chosen = self.chosen
        label = candidate_label(chosen)
        words = (
            f"method: {label} (auto, judged on {self.folds} folds: cache {self.status}); "
            f"held-out target rows outrank {self.outranks:g}% of pool rows"
        )
        others = ", ".join(
            f"{candidate_label(row)} {row['specificity']:+.3f}" for row in self.candidates if not row["chosen"]
        )
        words += f" (auc − ½ {chosen['specificity']:+.3f} ± {chosen['spread']:.3f}; {others})"
        return words + ("" if self.separates else "\n" + NO_SEPARATION)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k not in ("status", "key")}

    @classmethod
    def from_dict(cls, data: dict[str, Any], status: str) -> MethodChoice:
        """A stored choice, verified: one of its candidates, and the one its own table chooses (an
        edited or damaged entry raises, and is set aside and rebuilt)."""
        found = cls(**{k: v for k, v in data.items() if k not in ("status", "key")}, status=status)
        found.verify()
        return found

    def verify(self) -> None:
        if not self.candidates:
            raise ValueError("the stored choice has no candidates")
        winner = _winner(self.candidates)
        similarity = self.similarity if winner["method"] == "lossdrop" else winner["similarity"]
        marked = [row for row in self.candidates if row["chosen"]]
        if (winner["method"], similarity) != (self.method, self.similarity) or marked != [winner]:
            raise ValueError(f"the stored choice ({self.method}, {self.similarity}) is not what its table chooses")


NO_SEPARATION = (
    "warning: no method tells held-out target rows from pool rows better than chance (auc − ½ ≤ "
    f"{SEPARATES}): the selection will be close to random. Check that the validation set differs from "
    "the pool, or add validation rows."
)


def candidate_label(row: dict[str, Any]) -> str:
    return row["method"] + (f" ({row['similarity']})" if row["method"] != "lossdrop" else "")


def similarity_to(rows: np.ndarray, train: np.ndarray, reduce: str) -> np.ndarray:
    """Each row's max or mean cosine similarity to the training rows (both unit vectors)."""
    cosines = rows @ train.T
    return cosines.max(1) if reduce == "max" else cosines.mean(1)


Similarities = list[dict[str, dict[str, list[float]]]]  # per fold, per reduce: the held-out and reference rows'


def fold_similarities(validation: np.ndarray, reference: np.ndarray, parts: list[np.ndarray]) -> Similarities:
    """Each fold's held-out and reference rows' max and mean cosine similarity to the training folds'
    rows, from θ0's unit embeddings: what the embedding and blend candidates are judged on."""
    found = []
    for held_at in parts:
        train = np.delete(validation, held_at, axis=0)
        found.append(
            {
                reduce: {
                    "held": similarity_to(validation[held_at], train, reduce).tolist(),
                    "reference": similarity_to(reference, train, reduce).tolist(),
                }
                for reduce in ("max", "mean")
            }
        )
    return found


def embedding_figures(similarities: Similarities) -> dict[tuple[str, str], list[float]]:
    """Embedding similarity's auc − ½ on each fold, max and mean."""
    return {
        ("embedding", reduce): [
            rank_specificity(np.asarray(f[reduce]["held"]), np.asarray(f[reduce]["reference"])) for f in similarities
        ]
        for reduce in ("max", "mean")
    }


def rival(similarities: Similarities) -> tuple[float, ...]:
    """The figure per fold of the better embedding candidate (by mean): what the loss drop's calibration
    must reach to be worth finishing (curation.racing)."""
    return tuple(max(embedding_figures(similarities).values(), key=lambda values: float(np.mean(values))))


def fold_figures(drops: list[dict[str, list[float]]], similarities: Similarities) -> dict[tuple[str, str], list[float]]:
    """Each candidate's auc − ½ on each fold the calibration judged its winner on (all of them, unless
    embedding ruled the loss drop out: then on the folds judged before, for every candidate alike)."""
    # Every candidate on the same folds: when embedding ruled the loss drop out after k folds, on those k.
    figures = {name: values[: len(drops)] for name, values in embedding_figures(similarities).items()}
    for fold, judged in enumerate(drops):
        held_drop, ref_drop = (np.asarray(judged[side], dtype=np.float64) for side in ("held", "reference"))
        figures.setdefault(("lossdrop", "-"), []).append(rank_specificity(held_drop, ref_drop))
        for reduce in ("max", "mean"):
            held_sim, ref_sim = (np.asarray(similarities[fold][reduce][side]) for side in ("held", "reference"))
            both = blend_scores(np.concatenate([held_drop, ref_drop]), np.concatenate([held_sim, ref_sim]))
            figures.setdefault(("blend", reduce), []).append(
                rank_specificity(both[: len(held_drop)], both[len(held_drop) :])
            )
    return figures


def _winner(table: list[dict[str, Any]]) -> dict[str, Any]:
    """The highest mean wins; candidates within TIE of it are tied, and the cheapest of those wins."""
    best = max(row["specificity"] for row in table)
    tied = [row for row in table if row["specificity"] >= best - TIE]
    return min(tied, key=lambda row: (COST[row["method"]], -row["specificity"]))


def choose(figures: dict[tuple[str, str], list[float]], similarity: str) -> tuple[list[dict[str, Any]], str, str]:
    """The candidates' table (mean and spread over folds), the chosen method and its similarity.

    `similarity` (the run's --similarity) stands for the loss drop's row, which has none."""
    table = [
        {
            "method": method,
            "similarity": reduce,
            "specificity": round(float(np.mean(values)), 6),
            "spread": round(float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, 6),
            "folds": [round(float(v), 6) for v in values],
            "chosen": False,
        }
        for (method, reduce), values in figures.items()
    ]
    winner = _winner(table)
    winner["chosen"] = True
    return table, winner["method"], similarity if winner["method"] == "lossdrop" else winner["similarity"]
