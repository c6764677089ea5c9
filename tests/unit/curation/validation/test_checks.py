"""What the scan, the target's checks and admission share: ids and content hashes, the checks every
pool row meets, the suite over them (Great Expectations loaded on first use), rejected rows as one table."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pytest

from curation.errors import InputError
from curation.formats import Limits, format_named
from curation.rows import FILE_COLUMN, HASH_COLUMN
from curation.validation.checks import (
    assign_ids,
    concat_rejects,
    first_file,
    hashed,
    pool_checks,
    require_format,
    suite,
)

PROMPT_RESPONSE = format_named("prompt-response")


def test_rows_without_an_id_get_their_content_hash_and_every_id_is_text():
    rows = hashed(pd.DataFrame({"prompt": ["a", "b", "c"], "response": ["x", "y", "z"]}), PROMPT_RESPONSE)
    assert (
        rows[HASH_COLUMN].is_unique
        and rows[HASH_COLUMN].tolist() == hashed(rows, PROMPT_RESPONSE)[HASH_COLUMN].tolist()
    )
    assert assign_ids(rows)["id"].tolist() == rows[HASH_COLUMN].tolist()
    some = rows.assign(id=pd.array([7, None, 9], dtype="Int64"))
    assert assign_ids(some)["id"].tolist() == ["7", rows[HASH_COLUMN].iloc[1], "9"]
    assert "id" not in rows.columns  # the frame given is left as it was


def test_a_frame_without_the_formats_columns_is_an_error_naming_its_file():
    frame = pd.DataFrame({"prompt": ["q"], FILE_COLUMN: ["pool/a.jsonl"]})
    assert first_file(frame) == "pool/a.jsonl" and first_file(pd.DataFrame()) == "?"
    with pytest.raises(InputError, match="required column missing from the pool") as err:
        require_format(frame, PROMPT_RESPONSE, "pool")
    assert err.value.file == "pool/a.jsonl" and err.value.field == "response"
    require_format(frame.assign(response=["a"]), PROMPT_RESPONSE, "pool")


def test_every_pool_row_is_whole_and_valid_unicode_and_has_an_id_where_ids_are_given():
    reasons = [c.reason for c in pool_checks(PROMPT_RESPONSE, ["prompt", "response"], Limits())]
    assert reasons[:2] == ["cut_off", "invalid_unicode"] and "null_id" not in reasons
    assert "null_id" in [c.reason for c in pool_checks(PROMPT_RESPONSE, ["id", "prompt", "response"], Limits())]
    assert "response_length" in reasons


def test_the_suite_names_each_rows_first_failure():
    checks = pool_checks(PROMPT_RESPONSE, ["prompt", "response"], Limits(max_chars=5))
    rows = suite("test-checks-rows", checks, PROMPT_RESPONSE.facts)
    frame = pd.DataFrame({"prompt": ["q", "q", None], "response": ["fine", "far too long", "ok"]})
    reasons = rows.reasons(frame)
    assert reasons.isna().iloc[0] and reasons.iloc[1] == "response_length"


def test_rejected_rows_of_batches_that_disagree_on_a_columns_type_are_one_table():
    """A bad row's `label` of `true` in one batch, another's `0` in the next."""
    first = pa.table({"id": ["a"], "label": [True], "reason": ["null_response"]})
    second = pa.table({"id": ["b"], "label": [0], "reason": ["unknown_label"]})
    joined = concat_rejects([first, second])
    assert joined.num_rows == 2 and joined.column("reason").to_pylist() == ["null_response", "unknown_label"]
    same = concat_rejects([first, pa.table({"id": ["c"], "label": [False], "reason": ["x"]})])
    assert same.column("label").to_pylist() == [True, False]


def test_great_expectations_is_imported_only_by_the_validate_step():
    code = (
        "import sys, flows.cli, flows.curate; flows.cli.parser().format_help(); "
        "print('great_expectations' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
