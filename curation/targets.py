"""Several targets in one run: each named, with its validation set and a weight; the budget split by
weight; a pool row selected at most once.

A target is given as `NAME=VALIDATION[:WEIGHT]` (`TargetOption.parse`). The budget is split by
weight with the largest-remainder rule (`quotas`), and the quotas are filled by a weighted
round-robin over each target's ranking (`pick_across`): the target furthest below its quota takes
its best row that no target has taken yet, so a row wanted by two targets goes to whichever reaches
it first, and each target's count follows its weight exactly while rows last.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

import numpy as np

from curation.errors import InputError

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # a column suffix and a folder name on any store


@dataclass(frozen=True)
class TargetOption:
    """One target of a run: its name, validation set, weight (its share of the budget) and test set."""

    name: str
    validation: str
    weight: float = 1.0
    test: str | None = None

    @classmethod
    def parse(cls, text: str, flag: str = "--target") -> TargetOption:
        """`NAME=VALIDATION[:WEIGHT]`: the weight is what follows the last `:` when it is a number
        (so `s3://bucket/v.parquet` has none); InputError naming the flag otherwise."""
        name, sep, rest = text.partition("=")
        if not sep or not NAME.fullmatch(name) or not rest:
            raise InputError(
                f"{text!r}: use NAME=VALIDATION[:WEIGHT], NAME of letters, digits, '-' and '_' (at most 64)", field=flag
            )
        validation, weight = rest, 1.0
        head, colon, tail = rest.rpartition(":")
        if colon and head and re.fullmatch(r"[0-9.eE+-]+|[+-]?(nan|inf|infinity)", tail, flags=re.IGNORECASE):
            try:
                weight = float(tail)
            except ValueError:
                raise InputError(f"{text!r}: the weight {tail!r} is not a number", field=flag) from None
            validation = head
        if not math.isfinite(weight) or weight <= 0:
            raise InputError(f"{text!r}: the weight must be a finite number above 0", field=flag)
        return cls(name, validation, weight)


def check_names(targets: list[TargetOption], flag: str = "--target") -> None:
    """InputError if two targets share a name (their columns and folders would collide)."""
    seen: set[str] = set()
    for target in targets:
        if target.name.lower() in seen:
            raise InputError(f"two targets are named {target.name!r}; give each its own name", field=flag)
        seen.add(target.name.lower())


def quotas(rows: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `rows` over the targets in proportion to their weights: largest remainder, ties by the
    targets' order."""
    top = max(weights.values())  # scaled to at most 1 first: weights near the float limit cannot overflow
    scaled = {name: weight / top for name, weight in weights.items()}
    total = sum(scaled.values())
    exact = {name: rows * weight / total for name, weight in scaled.items()}
    counts = {name: math.floor(share) for name, share in exact.items()}
    order = sorted(weights, key=lambda name: (-(exact[name] - counts[name]), list(weights).index(name)))
    for name in order[: rows - sum(counts.values())]:
        counts[name] += 1
    return counts


@dataclass(frozen=True)
class Taken:
    """What one target got: its rows (in the order taken) and how many rows it ranked within its quota
    another target took first."""

    rows: np.ndarray
    lost: int


def pick_across(rankings: dict[str, np.ndarray], counts: dict[str, int]) -> dict[str, Taken]:
    """Fill each target's quota from its ranking (row keys, best first), no row twice.

    A row's key must name the same row for every target: each target admits its own subset of the
    pool (leakage is checked against its own validation set), so positions differ between targets
    and the key is the row's content hash. Each turn goes to the target with the smallest share of
    its quota filled (ties: the targets' order); it takes its best row not yet taken. A target whose
    ranking runs out stops short.
    """
    names = [name for name in rankings if counts.get(name, 0) > 0]
    taken_by: dict[object, str] = {}
    picked: dict[str, list] = {name: [] for name in rankings}
    cursor = dict.fromkeys(rankings, 0)
    active = list(names)
    while active:
        name = min(active, key=lambda n: (len(picked[n]) / counts[n], names.index(n)))
        ranking = rankings[name]
        while cursor[name] < len(ranking) and ranking[cursor[name]] in taken_by:
            cursor[name] += 1
        if cursor[name] == len(ranking):
            active.remove(name)
            continue
        row = ranking[cursor[name]]
        taken_by[row] = name
        picked[name].append(row)
        cursor[name] += 1
        if len(picked[name]) == counts[name]:
            active.remove(name)
    result = {}
    for name, ranking in rankings.items():
        wanted = ranking[: counts.get(name, 0)]
        lost = sum(1 for row in wanted if taken_by.get(row, name) != name)
        result[name] = Taken(np.asarray(picked[name], dtype=ranking.dtype), lost)
    return result


TARGET_KEYS = {"name", "validation", "weight", "test"}


def read_targets_file(url: str) -> list[TargetOption]:
    """The targets of a YAML or JSON file (local or s3://): a list of {name, validation, weight, test},
    or {targets: [...]}; weight and test may be left out; a relative path is relative to the file's
    folder (wherever the run starts). InputError naming the file, the target's position and the key
    otherwise."""
    import yaml

    from curation.storage import read_bytes

    try:
        found = yaml.safe_load(read_bytes(url).decode("utf-8"))
    except FileNotFoundError:
        raise InputError("no such targets file", file=url, field="--targets-file") from None
    except IsADirectoryError:
        raise InputError("a folder, not a targets file", file=url, field="--targets-file") from None
    except PermissionError as err:
        raise InputError(f"cannot be read: {err.strerror}", file=url, field="--targets-file") from None
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError(f"not YAML or JSON: {str(err).splitlines()[0]}", file=url, field="--targets-file") from None
    items = found.get("targets") if isinstance(found, dict) else found
    if not isinstance(items, list) or not items:
        raise InputError("expected a list of targets (or `targets:` holding one)", file=url, field="--targets-file")
    targets = [_relative_to(url, _target_of(item, url, row)) for row, item in enumerate(items)]
    try:
        check_names(targets, flag="--targets-file")
    except InputError as err:
        raise InputError(err.detail, file=url, field="--targets-file") from None
    return targets


def _relative_to(url: str, target: TargetOption) -> TargetOption:
    """The target with its relative local paths joined to the targets file's folder."""
    if "://" in url:
        folder = url.rsplit("/", 1)[0]

        def place(path):
            return path if path is None or "://" in path or path.startswith("/") else f"{folder}/{path}"
    else:
        folder = os.path.dirname(os.path.abspath(url))

        def place(path):
            return path if path is None or "://" in path else os.path.join(folder, os.path.expanduser(path))

    return TargetOption(target.name, place(target.validation), target.weight, place(target.test))


def _target_of(item: object, url: str, row: int) -> TargetOption:
    if not isinstance(item, dict):
        raise InputError("a target is a mapping of name, validation, weight and test", file=url, row=row)
    unknown = sorted(set(map(str, item)) - TARGET_KEYS)
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r}; a target has {sorted(TARGET_KEYS)}", file=url, row=row, field=unknown[0]
        )
    for key in ("name", "validation"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise InputError("a non-empty string is required", file=url, row=row, field=key)
    if not NAME.fullmatch(item["name"]):
        raise InputError("letters, digits, '-' and '_' (at most 64)", file=url, row=row, field="name")
    weight = item.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
        raise InputError(f"{weight!r}: a finite number above 0", file=url, row=row, field="weight")
    test = item.get("test")
    if test is not None and (not isinstance(test, str) or not test):
        raise InputError("a non-empty string, or left out", file=url, row=row, field="test")
    return TargetOption(item["name"], item["validation"], float(weight), test)
