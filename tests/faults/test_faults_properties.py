"""Properties under hostile bytes and values: a damaged cache file is never read as a different value,
and any option value is either accepted within its bounds or refused naming its flag."""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runs import on_task

from curation.cache.integrity import MANIFEST, Damaged, open_safetensors, seal_safetensors
from curation.cache.keys import shard_key
from curation.cache.row_scores import RowScoreCache
from curation.config import CurateConfig
from curation.config.options import flag_of
from curation.errors import InputError
from curation.models.classifier import ClassifierAdapter
from curation.rows import HASH_COLUMN

DAMAGE = st.tuples(
    st.sampled_from(["truncate", "flip", "overwrite"]),
    st.floats(0, 1, exclude_max=True),
    st.integers(0, 7),
    st.binary(min_size=1, max_size=16),
)


def _damaged(data: bytes, damage) -> bytes:
    how, where, bit, garbage = damage
    at = int(where * len(data))
    if how == "truncate":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
    return data[:at] + garbage + data[at + len(garbage) :]


ROOT = tempfile.mkdtemp(prefix="curate-fault-properties-")
SHARD = pd.DataFrame(
    {
        HASH_COLUMN: [f"{i:032x}" for i in range(50)],
        "loss_base": np.linspace(0.5, 3.0, 50),
        "loss_warm": np.linspace(0.4, 2.0, 50),
    }
)
SHARD_KEY = shard_key(SHARD[HASH_COLUMN])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damage=DAMAGE)
def test_a_damaged_row_score_shard_reads_as_itself_or_as_damaged(damage):
    cache = RowScoreCache(os.path.join(ROOT, "shards"), "key")
    cache.store_shard(SHARD_KEY, SHARD)
    path = cache.shard_url(SHARD_KEY)
    with open(path, "rb") as handle:
        original = handle.read()
    with open(path, "wb") as handle:
        handle.write(_damaged(original, damage))
    frame, damaged = cache.read_shard(SHARD_KEY)
    if frame is None:  # detected: set aside, so the next read finds nothing and the rows are rescored
        assert damaged == 1 and not os.path.exists(path)
    else:  # the bytes that changed did not carry data (e.g. footer statistics): same values exactly
        assert damaged == 0
        pd.testing.assert_frame_equal(frame, SHARD)


TENSORS = {"weight": torch.arange(24, dtype=torch.float32).reshape(4, 6) / 7, "bias": torch.ones(4)}
SEALED = seal_safetensors(TENSORS)


@settings(max_examples=150, deadline=None)
@given(damage=DAMAGE)
def test_a_damaged_sealed_safetensors_file_opens_as_itself_or_raises_damaged(damage):
    data = _damaged(SEALED, damage)
    try:
        tensors = open_safetensors(data, "gradients.safetensors")
    except Damaged:
        return
    assert tensors.keys() == TENSORS.keys() and all(torch.equal(tensors[k], TENSORS[k]) for k in TENSORS)


@pytest.fixture(scope="module")
def warm_entry(tmp_path_factory):
    """A classifier's warmup entry, stored as the warmup stage stores it."""
    from curation.cache.entry import obtain
    from curation.cache.warmups import WarmupEntry
    from curation.models.base import WarmupConfig

    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {"features": list(rng.normal(size=(40, 3)).astype(np.float32)), "label": rng.integers(0, 2, 40)}
    )
    adapter = ClassifierAdapter("linear", 3, 2)
    cache = str(tmp_path_factory.mktemp("warm-cache"))
    obtain(WarmupEntry(adapter, "k", rows, WarmupConfig(steps=5, lr=0.1)), cache)
    return cache, {k: v.clone() for k, v in adapter.warm.state_dict().items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(damage=DAMAGE, target=st.sampled_from(["warm.safetensors", MANIFEST]))
def test_a_damaged_warmup_entry_loads_as_itself_or_raises_damaged(damage, target, warm_entry):
    from curation.cache.entry import read_entry
    from curation.cache.warmups import WarmupEntry

    cache, weights = warm_entry
    path = os.path.join(WarmupEntry(None, "k").url(cache), target)
    with open(path, "rb") as handle:
        original = handle.read()
    try:
        with open(path, "wb") as handle:
            handle.write(_damaged(original, damage))
        adapter = ClassifierAdapter("linear", 3, 2)
        try:
            read_entry(WarmupEntry(adapter, "k"), cache)
        except Damaged:
            return
        loaded = adapter.warm.state_dict()
        assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    finally:
        with open(path, "wb") as handle:
            handle.write(original)


# --- option values --------------------------------------------------------------------------------
NUMBERS = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, -1, 0.5, 1e-15, 2**32, 10**7]),
)


def _numeric_fields() -> dict[str, tuple[type, float | None, float | None, bool]]:
    """Each numeric option of the config: (its type, lowest, highest, whether it may be None), read from the
    config's own field definitions, so a new numeric option is covered without editing this test."""
    fields = {}
    for name, field in CurateConfig.model_fields.items():
        kinds = [k for k in (field.annotation, *getattr(field.annotation, "__args__", ())) if k in (int, float)]
        if not kinds or field.annotation is bool:
            continue
        low = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
        high = next((m.le for m in field.metadata if hasattr(m, "le")), None)
        fields[name] = (kinds[0], low, high, not field.is_required() and field.default is None)
    return fields


NUMERIC = _numeric_fields()
BASE = dict(pool="p.parquet", out="out", validation="v.parquet", model="linear")


def _acceptable(name: str, value) -> bool:
    kind, low, high, optional = NUMERIC[name]
    if value is None:
        return optional
    if not math.isfinite(value) or (kind is int and float(value) != int(value)):
        return False
    if name == "budget":  # a row count or a fraction
        return value > 0 and (value < 1 or float(value).is_integer())
    return (low is None or value >= low) and (high is None or value <= high)


def test_the_property_below_covers_every_numeric_option():
    assert {
        "budget",
        "seed",
        "warmup_steps",
        "warmup_lr",
        "max_reject_share",
        "workers",
        "projection_dim",
        "gradcos_fraction",
        "max_length",
        "shard_rows",
    } <= set(NUMERIC)


@settings(max_examples=300, deadline=None)
@given(values=st.fixed_dictionaries({name: NUMBERS for name in NUMERIC}))
def test_every_numeric_option_value_is_accepted_within_bounds_or_refused_naming_its_flag(values):
    try:
        CurateConfig.parse(**BASE, **values)
    except InputError as err:
        assert err.field in {flag_of(CurateConfig, name) for name in NUMERIC} and str(err)
        bad = [name for name, value in values.items() if not _acceptable(name, value)]
        ordered = (
            values.get("min_chars") is None
            or values.get("max_chars") is None
            or values["min_chars"] <= values["max_chars"]
        )
        assert bad or not ordered, f"refused {values}: {err}"
        return
    for name, value in values.items():
        assert _acceptable(name, value), (name, value)
    assert values["min_chars"] <= values["max_chars"]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    shard_rows=st.sampled_from([600, 10**9]),
    workers=st.sampled_from([1, 3]),
    max_length=st.sampled_from([2, 1_048_576]),
    budget=st.sampled_from([1, 0.001, 0.999, 10**9]),
    max_reject_share=st.sampled_from([0.0, 1.0]),
)
def test_extreme_accepted_option_values_run_to_the_end(
    shard_rows, workers, max_length, budget, max_reject_share, labelled_task, tmp_path_factory, prefect_api_url
):
    """Values at the edges of their bounds make a run that finishes (or refuses input in one
    InputError), never a crash deep inside a stage."""
    from runs import curate_run

    root = tmp_path_factory.mktemp("extreme")
    try:
        report = curate_run(
            **on_task(labelled_task, pool="pool_first_half"),
            budget=budget,
            out=str(root / "out"),
            cache=str(root / "cache"),
            skip_finetune=True,
            shard_rows=shard_rows,
            workers=workers,
            max_length=max_length,
            max_reject_share=max_reject_share,
        )
    except InputError as err:
        assert str(err)
        return
    assert 1 <= report["counts"]["selected"] <= report["counts"]["valid"]


def test_a_shard_whose_damage_nulls_a_content_hash_reads_as_damaged():
    """Found by the property above (a flipped bit in the validity bitmap): a null hash, not a crash."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curation.cache.integrity import DIGEST_KEY
    from curation.cache.row_scores import ROWS_KEY, SCHEMA, unseal

    table = pa.table({HASH_COLUMN: ["a", None], "loss_base": [1.0, 2.0], "loss_warm": [0.5, 1.5]}, schema=SCHEMA)
    table = table.replace_schema_metadata({ROWS_KEY: "2", DIGEST_KEY: "0" * 64})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    with pytest.raises(Damaged, match="content hash is missing"):
        unseal(sink.getvalue().to_pybytes(), "key", "shard.parquet")
