"""Trends across nights: one row per target per run in a history kept beside a deployment's outputs,
and each run's drift against the previous run of the same deployment and target.

Drift figures (`measure_drift`): the score quantiles of both nights and the two-sample
Kolmogorov-Smirnov statistic between their score distributions (scipy), the rows new, dropped and
kept by content hash, the method choice flipping and the lift changing sign. A night drifts when the
KS statistic or the share of new rows reaches its threshold (`DriftThresholds`), or the method
flips, or the lift changes sign; `reasons` says which.

Storage, per target under the trends folder: `history.parquet` (every night's row, appended) and
`<target>/last-night.parquet` (that night's content hashes and scores: what the next night compares
with). Both are written whole and atomically: a run killed midway leaves the previous file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from curation.storage import exists, join, read_parquet, write_parquet_atomic

HISTORY = "history.parquet"
LAST_NIGHT = "last-night.parquet"
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Night:
    """What one run of one target leaves for the trends: the scored rows' content hashes and scores,
    the method it used, and the lift it measured (None without a finetune)."""

    hashes: np.ndarray
    scores: np.ndarray
    method: str
    lift: float | None = None


@dataclass(frozen=True)
class DriftThresholds:
    """A night drifts when the KS statistic or the share of rows new since the last night reaches these."""

    ks: float = 0.2
    new_rows: float = 0.5


@dataclass(frozen=True)
class Drift:
    """One target's night against its previous night."""

    ks: float
    quantiles: dict[str, float]
    previous_quantiles: dict[str, float]
    rows_new: int
    rows_dropped: int
    rows_kept: int
    method_flipped: bool
    lift_sign_changed: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    def as_dict(self) -> dict:
        return {**asdict(self), "drifted": self.drifted}


def quantiles(scores: np.ndarray) -> dict[str, float]:
    """The scores' 10th, 50th and 90th percentiles (finite scores only; NaN when there are none)."""
    finite = np.asarray(scores, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return {f"q{int(q * 100)}": float(np.quantile(finite, q)) if len(finite) else float("nan") for q in QUANTILES}


def measure_drift(previous: Night, current: Night, thresholds: DriftThresholds) -> Drift:
    """How `current` differs from `previous` (the same deployment and target, the night before)."""
    before, now = (np.asarray(n.scores, dtype=np.float64) for n in (previous, current))
    before, now = before[np.isfinite(before)], now[np.isfinite(now)]
    ks = float(ks_2samp(before, now).statistic) if len(before) and len(now) else 1.0
    old, new = set(np.asarray(previous.hashes).tolist()), set(np.asarray(current.hashes).tolist())
    kept = len(old & new)
    flipped = previous.method != current.method
    sign_changed = previous.lift is not None and current.lift is not None and (previous.lift > 0) != (current.lift > 0)
    reasons = []
    if ks >= thresholds.ks:
        reasons.append(f"score distribution moved: KS {ks:.3f} ≥ {thresholds.ks}")
    if new and (len(new) - kept) / len(new) >= thresholds.new_rows:
        reasons.append(f"{len(new) - kept} of {len(new)} rows are new (≥ {thresholds.new_rows:.0%})")
    if flipped:
        reasons.append(f"method choice flipped: {previous.method} → {current.method}")
    if sign_changed:
        reasons.append(f"lift changed sign: {previous.lift:+.4f} → {current.lift:+.4f}")
    return Drift(
        ks=ks,
        quantiles=quantiles(now),
        previous_quantiles=quantiles(before),
        rows_new=len(new) - kept,
        rows_dropped=len(old) - kept,
        rows_kept=kept,
        method_flipped=flipped,
        lift_sign_changed=sign_changed,
        reasons=reasons,
    )


def last_night(folder: str, target: str) -> Night | None:
    """The target's previous night under the trends folder, or None before its first."""
    url = join(folder, target, LAST_NIGHT)
    if not exists(url):
        return None
    frame = read_parquet(url)
    lift = frame["lift"].iloc[0] if len(frame) else None
    return Night(
        frame["hash"].to_numpy(),
        frame["score"].to_numpy(),
        str(frame["method"].iloc[0]) if len(frame) else "",
        None if lift is None or pd.isna(lift) else float(lift),
    )


def keep_night(folder: str, target: str, night: Night) -> None:
    """This night becomes the one the next night compares with."""
    frame = pd.DataFrame({"hash": np.asarray(night.hashes), "score": np.asarray(night.scores, dtype=np.float64)})
    frame["method"], frame["lift"] = night.method, np.nan if night.lift is None else night.lift
    write_parquet_atomic(join(folder, target, LAST_NIGHT), frame)


def append_history(folder: str, rows: list[dict]) -> pd.DataFrame:
    """The history with `rows` (one per target of this run) appended; written back whole."""
    url = join(folder, HISTORY)
    earlier = read_parquet(url) if exists(url) else pd.DataFrame()
    history = pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True)
    write_parquet_atomic(url, history)
    return history


def recent(history: pd.DataFrame, target: str, runs: int) -> pd.DataFrame:
    """The target's last `runs` rows of the history, oldest first."""
    return history[history["target"] == target].tail(runs).reset_index(drop=True)
