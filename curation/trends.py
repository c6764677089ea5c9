"""Trends across nights: one row per target per run in a history kept beside a deployment's outputs,
and each run's drift against the previous run of the same deployment and target.

Drift figures (`measure_drift`): the score quantiles of both nights and the two-sample
Kolmogorov-Smirnov statistic between their score distributions (scipy), the rows new, dropped and
kept by content hash, the method choice flipping and the lift changing sign. A night drifts when the
KS statistic or the share of new rows reaches its threshold (`DriftThresholds`), or the method
flips, or the lift changes sign; `reasons` says which.

Storage, per target under the trends folder: `history.parquet` (every night's row, appended) and
`<target>/last-night.parquet` (that night's content hashes and scores: what the next night compares
with; the one before it stays as `night-before.parquet`, so that a run resumed after a crash compares
with the night before it, not with itself). Each is written whole and atomically: a run killed
midway leaves the previous file. A file that cannot be read back (cut short, another file put in
its place) is set aside under `damaged/` in the trends folder with a warning, and the trends go on
without it, as the caches do: the run's own outputs are worth more than its history.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.stats import ks_2samp

from curation.errors import InputError
from curation.storage import exists, filesystem, join, read_parquet, write_parquet_atomic

HISTORY = "history.parquet"
LAST_NIGHT = "last-night.parquet"
NIGHT_BEFORE = "night-before.parquet"
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class Night:
    """What one run of one target leaves for the trends: the scored rows' content hashes and scores,
    the method it used, and the lift it measured (None without a finetune)."""

    hashes: np.ndarray
    scores: np.ndarray
    method: str
    lift: float | None = None
    run: str = ""  # the flow run it came from


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


def check_folder(folder: str) -> None:
    """InputError (before a run starts) when the trends folder names something that is not a folder."""
    fs, path = filesystem(folder)
    if fs.exists(path) and not fs.isdir(path):
        raise InputError("is a file, not a folder for the trends", file=folder, field="--trends")


def _readable(folder: str, url: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
    """The Parquet file at `url` if it is there and has `columns`; one that is not readable is set aside."""
    if not exists(url):
        return None
    try:
        frame = read_parquet(url)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"no column {missing[0]!r}")
        return frame
    except (OSError, ValueError, pa.ArrowException) as err:
        _set_aside(folder, url, f"{type(err).__name__}: {str(err)[:200]}")
        return None


def _set_aside(folder: str, url: str, reason: str) -> None:
    """Move an unreadable trends file to `<folder>/damaged/<UTC time>-<pid>/`, kept for a person to look at."""
    fs, path = filesystem(url)
    _, root = filesystem(folder)
    stamp = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    _, target = filesystem(join(folder, "damaged", stamp, path[len(root.rstrip("/")) + 1 :]))
    logging.getLogger("curate").warning("unreadable trends file set aside: %s (%s; moved to %s)", url, reason, target)
    fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
    fs.mv(path, target)


def _read_night(folder: str, url: str) -> Night | None:
    frame = _readable(folder, url, ("hash", "score", "method", "lift"))
    if frame is None:
        return None
    first = frame.iloc[0] if len(frame) else None
    lift = None if first is None or pd.isna(first["lift"]) else float(first["lift"])
    run = str(first["run"]) if first is not None and "run" in frame.columns else ""
    method = str(first["method"]) if first is not None else ""
    return Night(frame["hash"].to_numpy(), frame["score"].to_numpy(), method, lift, run)


def last_night(folder: str, target: str, run: str = "") -> Night | None:
    """The target's previous night under the trends folder (another run's than `run`), or None before its first."""
    night = _read_night(folder, join(folder, target, LAST_NIGHT))
    if night is not None and run and night.run == run:  # this run recorded before it crashed
        night = _read_night(folder, join(folder, target, NIGHT_BEFORE))
    return night


def keep_night(folder: str, target: str, night: Night) -> None:
    """This night becomes the one the next night compares with (the last one, another run's, the night before)."""
    last = _read_night(folder, join(folder, target, LAST_NIGHT))
    if last is not None and last.run != night.run:
        keep_frame(join(folder, target, NIGHT_BEFORE), last)
    keep_frame(join(folder, target, LAST_NIGHT), night)


def keep_frame(url: str, night: Night) -> None:
    frame = pd.DataFrame({"hash": np.asarray(night.hashes), "score": np.asarray(night.scores, dtype=np.float64)})
    frame["method"], frame["lift"] = night.method, np.nan if night.lift is None else night.lift
    frame["run"] = night.run
    write_parquet_atomic(url, frame)


def append_history(folder: str, rows: list[dict]) -> pd.DataFrame:
    """The history with `rows` (one per target of this run) appended; written back whole. A run that
    records again (resumed after a crash) replaces its own earlier rows: one row per run and target."""
    url = join(folder, HISTORY)
    earlier = _readable(folder, url, ("run", "target"))
    earlier = pd.DataFrame() if earlier is None else earlier
    if len(earlier) and rows:
        mine = {(row["run"], row["target"]) for row in rows}
        earlier = earlier[[(run, target) not in mine for run, target in zip(earlier["run"], earlier["target"])]]
    history = pd.concat([earlier, pd.DataFrame(rows)], ignore_index=True)
    write_parquet_atomic(url, history)
    return history


def recent(history: pd.DataFrame, target: str, runs: int) -> pd.DataFrame:
    """The target's last `runs` rows of the history, oldest first."""
    return history[history["target"] == target].tail(runs).reset_index(drop=True)


def record_run(
    folder: str, nights: dict[str, Night], row_of: Callable[[str, Drift | None], dict], thresholds: DriftThresholds
) -> tuple[pd.DataFrame, dict[str, Drift | None]]:
    """Each target's drift against its last night (None on its first), the run's rows appended to the
    history (`row_of(target, drift)` makes a row), then each night kept for the next run to compare with.

    Returns the whole history and the drifts."""
    drifts = {}
    for target, night in nights.items():
        previous = last_night(folder, target, night.run)
        drifts[target] = measure_drift(previous, night, thresholds) if previous is not None else None
    history = append_history(folder, [row_of(target, drift) for target, drift in drifts.items()])
    for target, night in nights.items():
        keep_night(folder, target, night)
    return history, drifts
