"""The calibration's cache: the reference sample (the pool rows of smallest content hash, the model's
columns only), pinned per target whatever pool comes later; stored calibrations read back only if
they still make a calibration."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.cache.calibrations import REFERENCE_FILE, ReferenceEntry, obtain_calibration, reference_sample
from curation.cache.entry import obtain
from curation.cache.integrity import file_facts
from curation.calibration import Calibration
from curation.formats.features import Features
from curation.models.base import WarmupConfig
from curation.rows import HASH_COLUMN

COLUMNS = Features.model_columns()


def pool_part(path, start: int, n: int, note) -> str:
    frame = pd.DataFrame({"features": [np.full(3, float(i), np.float32) for i in range(start, start + n)]})
    frame["label"] = [i % 2 for i in range(start, start + n)]
    frame[HASH_COLUMN] = Features.row_hashes(frame)
    frame["id"] = [f"row-{i}" for i in range(start, start + n)]
    frame["note"] = [note] * n  # a pass-through column, typed differently per file
    frame.to_parquet(path)
    return str(path)


@pytest.fixture
def parts(tmp_path) -> list[str]:
    return [pool_part(tmp_path / "a.parquet", 0, 20, 1), pool_part(tmp_path / "b.parquet", 20, 20, "text")]


def test_the_sample_is_the_rows_of_smallest_hash_over_every_part_with_the_models_columns_only(parts):
    sample = reference_sample(parts, 8, COLUMNS)
    every = pd.concat([pd.read_parquet(p) for p in parts])
    assert sample[HASH_COLUMN].tolist() == sorted(every[HASH_COLUMN])[:8]
    assert set(sample.columns) == set(COLUMNS)  # no `note`: typed int in one file, text in the other
    assert reference_sample(parts, 100, COLUMNS)[HASH_COLUMN].tolist() == sorted(every[HASH_COLUMN])
    assert reference_sample([], 8, COLUMNS).empty


def test_the_pinned_sample_is_keyed_by_target_size_and_model_never_by_the_pool(parts, tmp_path):
    model = {"files": "f", "max_length": 64}
    first = ReferenceEntry("v1", 8, model, tuple(parts), COLUMNS)
    assert first.key == ReferenceEntry("v1", 8, model, (parts[1],), COLUMNS).key
    for other in (
        ReferenceEntry("v2", 8, model, tuple(parts), COLUMNS),
        ReferenceEntry("v1", 9, model, tuple(parts), COLUMNS),
        ReferenceEntry("v1", 8, {**model, "max_length": 32}, tuple(parts), COLUMNS),
    ):
        assert other.key != first.key
    found = obtain(first, str(tmp_path / "cache"))
    assert found.status == "miss" and found.manifest["facts"]["rows"] == 8
    assert found.value.hash == found.manifest["facts"]["hash"]


def test_a_pool_without_valid_rows_pins_no_sample(tmp_path):
    empty = str(tmp_path / "empty.parquet")
    pq.write_table(pa.table({HASH_COLUMN: pa.array([], pa.string()), "id": pa.array([], pa.string())}), empty)
    with pytest.raises(ValueError, match="no valid row"):
        obtain(ReferenceEntry("v1", 8, {}, (empty,), COLUMNS), str(tmp_path / "cache"))
    assert not list((tmp_path / "cache").rglob("manifest.json"))


def test_a_pinned_sample_emptied_behind_a_consistent_manifest_is_set_aside_and_pinned_again(parts, tmp_path):
    cache, entry = str(tmp_path / "cache"), ReferenceEntry("v1", 8, {}, tuple(parts), COLUMNS)
    pinned = obtain(entry, cache).value
    folder = tmp_path / "cache" / "reference" / entry.key
    pq.write_table(pa.Table.from_pandas(pinned.rows.iloc[:0], preserve_index=False), folder / REFERENCE_FILE)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in file_facts(str(folder)).items() if k != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest))  # every file matches: the content is what fails
    again = obtain(entry, cache)
    assert (again.status, again.damaged) == ("miss", 1) and again.value.hash == pinned.hash
    (kept,) = (tmp_path / "cache" / "damaged").rglob(REFERENCE_FILE)
    assert pq.read_metadata(kept).num_rows == 0  # the emptied sample is what was set aside


def a_calibration(steps: int) -> Calibration:
    table = [{"scope": "full", "lr": 0.05, "steps": steps, "specificity": 0.25, "spread": 0.0, "chosen": True}]
    return Calibration(
        config=WarmupConfig(steps=steps, lr=0.05, scope="full"), table=table, folds=3, steps_trained=3 * steps,
        seconds=0.5, criterion="auc", reference_rows=40, reference_hash="ref", grid="features",
        fold_scores=[{"held": [0.5], "reference": [0.1]}] * 3,
    )  # fmt: skip


def test_a_calibration_is_stored_once_and_read_back_as_it_was(tmp_path):
    calls = []

    def compute() -> Calibration:
        calls.append(1)
        return a_calibration(30)

    first, again = obtain_calibration(compute, str(tmp_path), "k"), obtain_calibration(compute, str(tmp_path), "k")
    assert (first.status, again.status, len(calls)) == ("miss", "hit", 1)
    assert again.as_dict() == a_calibration(30).as_dict() and again.key == first.key == "k"
    assert again.config == WarmupConfig(steps=30, lr=0.05, scope="full")


def test_stored_facts_that_make_no_calibration_are_set_aside_and_computed_again(tmp_path):
    obtain_calibration(lambda: a_calibration(30), str(tmp_path), "k")
    path = tmp_path / "calibration" / "k" / "manifest.json"
    manifest = json.loads(path.read_text())
    facts = {"config": {"steps": 30}, "table": "not a table"}  # its digest kept right: the value itself fails
    manifest.update(facts=facts, facts_sha256=hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest())
    path.write_text(json.dumps(manifest))
    rebuilt = obtain_calibration(lambda: a_calibration(60), str(tmp_path), "k")
    assert rebuilt.status == "miss" and rebuilt.config.steps == 60
    (kept,) = (tmp_path / "damaged").rglob("manifest.json")
    assert json.loads(kept.read_text())["facts"] == facts
