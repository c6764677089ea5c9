"""What the validate stage hands on: the reference a validation set fixes, the target's label shares,
and the valid pool read by column or by position without loading it whole."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.pool import AdmittedPool, Reference, Target


def pool_of(tmp_path, sizes) -> AdmittedPool:
    parts, start = [], 0
    for i, n in enumerate(sizes):
        parts.append(str(tmp_path / f"part-{i}.parquet"))
        pq.write_table(
            pa.table({"id": [f"r{j}" for j in range(start, start + n)], "x": list(range(start, start + n))}), parts[-1]
        )
        start += n
    return AdmittedPool(parts, pd.DataFrame(), start, start, {}, [], "hash")


def test_take_returns_rows_in_the_order_asked_across_parts(tmp_path):
    pool = pool_of(tmp_path, [3, 4, 2])
    assert pool.take(np.array([8, 0, 4, 3])).x.tolist() == [8, 0, 4, 3]
    assert pool.column("id").tolist() == [f"r{j}" for j in range(9)]
    assert len(pool.load_valid()) == 9


def test_the_reference_names_its_format_and_family_and_the_target_its_label_shares():
    ref = Reference("features", feature_dim=3, labels=(0, 1))
    assert ref.kind == "features" and ref.fixed == {"feature_dim": 3, "labels": (0, 1), "reading": None}
    assert Reference("text").kind == "text" and Reference("prompt-response").kind == "text"
    validation = pd.DataFrame({"label": [0, 0, 0, 1], "_content_hash": ["a", "b", "c", "d"]})
    target = Target(ref, validation, validation, validation, "test", frozenset())
    assert target.label_shares == {0: 0.75, 1: 0.25} and target.num_classes == 2
    assert Target(Reference("text"), validation, validation, validation, "test", frozenset()).label_shares is None
