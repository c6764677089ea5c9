"""Cache keys, every one defined here: each hashes everything that determines the cached value, and nothing else.

- A pool's check (`pool_key`) depends on its files' identities, the row format, the limits and
  the checks' code (`CHECKS_VERSION`).

- θT (the warmup entry) depends on the validation rows, θ0 (its files: weights *and* tokenizer),
  how rows become losses (max length, dtype, loss span: `ModelAdapter.loss_settings`), the
  warmup config and the code version.
  The span of a chat row the score reads (`score_on`) changes no weight of θT: it is left out of
  θT's key (`SCORE_ONLY`), so scoring another span reuses θT, but it is in the row scores' key.
- A row's endpoint losses depend on θT and the same loss settings, hence on the warmup key; the
  row-score key hashes it again with the loss settings and the score's start point (θ0 or θ1:
  both live in θT's entry, and `loss_base` is the start's loss), so that a setting which changes
  the losses but not θT cannot share a row cache.
- θ0's loss of a row (`base_loss_key`) depends on θ0 and the loss settings only: one entry for every
  target and every later run that reads rows the same way.

- The calibration (curation.cache.calibrations) depends on the validation rows, θ0, its grid and
  settings, and the reference sample, which is pinned per target and per reading settings by
  `reference_key`.

- A row-score shard (`shard_key`) is named by its rows' content hashes in order; gradcos's trajectory
  (`trajectory_key`) by its pool sample, θ0, the warmup and gradcos settings.

Options that only act after scoring (budget, selection, output folder, the seed of the selection
and the finetunes, shard size, engine) are in no key: runs that differ only in them share entries.
tests/faults/test_faults_cache.py checks both halves against the real flow.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from curation import CODE_VERSION
from curation.hashing import dataset_hash, json_hash
from curation.rows import HASH_COLUMN

# Bump when a row format's checks or normalization change what a pool's check finds (2: chat rows as they ship).
CHECKS_VERSION = "2"
SCORE_ONLY = ("score_on",)  # loss settings that change the scores and the calibration's judge, never θT


def model_identity(adapter) -> dict[str, Any]:
    """θ0 and how it turns rows into losses: a content hash of its files, plus the loss settings."""
    return {"files": adapter.fingerprint(), **adapter.loss_settings()}


def warmup_key(validation_hash: str, model: Any, config) -> str:
    """The key of θT: the validation rows' hash, `model_identity`, the warmup config, the code."""
    return json_hash({"validation": validation_hash, "model": model, "config": config.as_dict(), "code": CODE_VERSION})


def row_score_key(warm_key: str, model: Any, start: str = "theta0") -> str:
    """The key of the per-row endpoint losses under θT, from the start point `start`."""
    # "passes": θT's losses from merged plain weights since issue 36 (within 1e-6 of LoRA's own path): not mixed
    row = {"kind": "row-scores", "warmup": warm_key, "model": model, "start": start, "code": CODE_VERSION}
    return json_hash({**row, "passes": "plain-weights"})


def base_loss_key(model: Any) -> str:
    """The key of θ0's per-row losses: `model_identity` alone (no target, no θT)."""
    return json_hash({"kind": "theta0-rows", "model": model, "code": CODE_VERSION})


@dataclass(frozen=True)
class CacheKeys:
    warmup: str  # θT's entry
    row_scores: str  # the per-row endpoint losses under θT
    base_losses: str  # θ0's per-row losses, shared by every target


def cache_keys(adapter, warm_rows, config, start: str = "theta0") -> CacheKeys:
    """The keys of a run: θT's (from the rows it warms up on, θ0 and the warmup config), its row
    scores' (θT's key and the start point) and θ0's row losses' (θ0 alone)."""
    identity = model_identity(adapter)
    trains = {name: value for name, value in identity.items() if name not in SCORE_ONLY}
    key = warmup_key(dataset_hash(warm_rows[HASH_COLUMN]), trains, config)
    return CacheKeys(key, row_score_key(key, identity, start), base_loss_key(identity))


def reference_key(validation_hash: str, rows: int, model: Any) -> str:
    """The key of the reference sample pinned for a target: the validation rows' hash, its size and
    `model_identity` (θ0's files and how it reads rows: max length, spans, truncation), under which
    its rows were admitted (a row admitted at one token limit may have no trained token at another)."""
    return json_hash(
        {"kind": "reference", "validation": validation_hash, "rows": rows, "model": model, "code": CODE_VERSION}
    )


def calibration_key(validation_hash: str, model: Any, settings: dict[str, Any], reference_hash: str) -> str:
    """The key of a calibration: the validation rows, θ0, the grid and its settings (folds, criterion,
    the base warmup config) and the reference sample's content (not the start point: candidates are
    judged from θ0, and θT holds both start points)."""
    return json_hash(
        {
            "kind": "calibration",
            "validation": validation_hash,
            "model": model,
            "settings": settings,
            "reference": reference_hash,
            "code": CODE_VERSION,
        }
    )


def method_choice_key(calibration: str) -> str:
    """The key of `--method auto`'s choice: the calibration it read (which names the validation rows,
    θ0, the folds and the reference sample: all the embedding side depends on)."""
    return json_hash({"kind": "method-choice", "calibration": calibration, "code": CODE_VERSION})


def pool_key(identity, row_format: str, limits: dict[str, Any]) -> str:
    """The key of a pool's check: its files' identities, the row format, the limits and the checks' version."""
    return json_hash(
        {"files": [list(f) for f in identity], "format": row_format, "limits": limits, "checks": CHECKS_VERSION}
    )


def shard_key(hashes) -> str:
    """A shard's identity: the hash of its rows' content hashes, in order."""
    digest = hashlib.sha256()
    for h in hashes:
        digest.update(h.encode())
    return digest.hexdigest()[:32]


def trajectory_key(sample_hash: str, model: Any, warm: dict[str, Any], gradcos: dict[str, Any]) -> str:
    """The key of gradcos's warmup trajectory: its pool sample, θ0, the warmup and the gradcos settings."""
    return json_hash(
        {
            "method": "gradcos",
            "sample": sample_hash,
            "model": model,
            "warmup": warm,
            "gradcos": gradcos,
            "code": CODE_VERSION,
        }
    )
