"""Content hashes: a row's covers its payload only, a dataset's ignores row order but no byte of
content, and a large file's digest reads its size and three windows."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from curation.hashing import DatasetHasher, dataset_hash, file_digest, json_hash, row_hashes

ROWS = pd.DataFrame({"prompt": ["a", "b", "c"], "response": ["x", "y", "z"], "id": ["1", "2", "3"]})
PAYLOAD = ("prompt", "response")


def test_a_rows_hash_covers_its_payload_columns_and_no_other():
    hashes = row_hashes(ROWS, PAYLOAD)
    assert hashes.str.len().tolist() == [32, 32, 32] and hashes.nunique() == 3
    renamed = ROWS.assign(id=["9", "8", "7"], source="web")
    assert row_hashes(renamed, PAYLOAD).tolist() == hashes.tolist()
    edited = ROWS.assign(response=["x", "y", "Z"])
    assert row_hashes(edited, PAYLOAD).tolist()[:2] == hashes.tolist()[:2]
    assert row_hashes(edited, PAYLOAD).iloc[2] != hashes.iloc[2]
    # a payload column the frame lacks is left out, not an error
    assert row_hashes(ROWS[["response"]], PAYLOAD).tolist() != hashes.tolist()
    assert row_hashes(ROWS.iloc[:0], PAYLOAD).tolist() == []


def test_numbers_hash_by_value_whatever_their_container_or_numpy_type():
    as_lists = pd.DataFrame({"features": [[1.0, 2.0]], "label": [3]})
    as_numpy = pd.DataFrame({"features": [np.array([1.0, 2.0], dtype=np.float64)], "label": [np.int64(3)]})
    assert row_hashes(as_lists, ("features", "label")).iloc[0] == row_hashes(as_numpy, ("features", "label")).iloc[0]
    other = pd.DataFrame({"features": [[1.0, 2.5]], "label": [3]})
    assert row_hashes(other, ("features", "label")).iloc[0] != row_hashes(as_lists, ("features", "label")).iloc[0]
    # NaN and the infinities are told apart (JSON would write them all alike)
    specials = pd.DataFrame({"features": [[float("nan")], [float("inf")], [float("-inf")]]})
    assert row_hashes(specials, ("features",)).nunique() == 3


def test_a_dataset_hash_ignores_row_order_but_not_one_changed_byte():
    hashes = row_hashes(ROWS, PAYLOAD).tolist()
    whole = dataset_hash(hashes)
    assert dataset_hash(list(reversed(hashes))) == whole
    shuffled = ROWS.sample(frac=1.0, random_state=3)
    assert dataset_hash(row_hashes(shuffled, PAYLOAD)) == whole
    one_byte = ROWS.assign(prompt=["a", "b", "d"])
    assert dataset_hash(row_hashes(one_byte, PAYLOAD)) != whole
    assert dataset_hash(hashes[:2]) != whole
    assert dataset_hash(hashes + hashes[:1]) != whole  # a repeated row counts


def test_a_dataset_fed_batch_by_batch_hashes_as_a_whole():
    hashes = [f"{i:032x}" for i in range(1, 1000, 7)]
    hasher = DatasetHasher()
    for start in range(0, len(hashes), 10):
        hasher.update(hashes[start : start + 10])
    assert hasher.count == len(hashes) and hasher.hexdigest() == dataset_hash(hashes)
    # the count is part of the hash: two rows whose hashes sum to a third's are not that row
    assert dataset_hash([f"{1:032x}", f"{2:032x}"]) != dataset_hash([f"{3:032x}"])


def test_a_json_hash_ignores_key_order():
    assert json_hash({"a": 1, "b": [1, 2]}) == json_hash({"b": [1, 2], "a": 1})
    assert json_hash({"a": 1}) != json_hash({"a": 2})


def test_a_small_file_is_hashed_whole_and_a_large_one_by_its_size_and_three_windows():
    mib = 1 << 20
    data = bytearray(np.random.default_rng(0).integers(0, 256, 5 * mib, dtype=np.uint8).tobytes())

    def digest(blob: bytes, whole_up_to: int) -> str:
        return file_digest(io.BytesIO(blob), len(blob), whole_up_to=whole_up_to)

    whole, windows = digest(bytes(data), 8 * mib), digest(bytes(data), mib)
    assert whole != windows
    changed_outside = bytearray(data)
    changed_outside[mib + 10] ^= 0xFF  # between the first window and the middle one
    assert digest(bytes(changed_outside), 8 * mib) != whole
    assert digest(bytes(changed_outside), mib) == windows  # the documented trade-off
    for at in (0, len(data) // 2, len(data) - 1):  # a byte in each window
        changed = bytearray(data)
        changed[at] ^= 0xFF
        assert digest(bytes(changed), mib) != windows
    assert digest(bytes(data) + b"\0", mib) != windows  # the size is hashed too


def test_an_arrays_hash_is_its_elements_hash_whatever_the_path():
    """Numeric arrays skip the element-by-element canonical form; the hashes stay those of plain lists."""
    from curation.hashing import row_hashes

    arrays = [
        np.array([0.1, -2.5, 3e38], dtype=np.float32),
        np.array([1, 2, 3], dtype=np.int64),
        np.array([1.0, np.nan, np.inf]),  # not finite: the element-wise path ("nan", "inf" as text)
        np.array([7], dtype=np.uint8),
    ]
    as_arrays = pd.DataFrame({"features": pd.Series(arrays, dtype=object), "label": [0, 1, 2, 3]})
    as_lists = pd.DataFrame({"features": pd.Series([a.tolist() for a in arrays], dtype=object), "label": [0, 1, 2, 3]})
    assert row_hashes(as_arrays, ["features", "label"]).tolist() == row_hashes(as_lists, ["features", "label"]).tolist()
