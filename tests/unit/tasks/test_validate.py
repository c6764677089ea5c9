"""The validate tasks: the target checked and the pool checked for it, as the flow calls them."""

from __future__ import annotations

import json

from prefect.logging import disable_run_logger

from curation.formats import Limits
from curation.io.batches import read_rows
from curation.io.sources import open_source
from tasks.validate import validate_pool, validate_target


def lines(path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_validate_target_then_validate_pool_admit_the_pools_rows_for_the_target(tmp_path):
    validation = read_rows(lines(tmp_path / "v.jsonl", [{"prompt": "v", "response": f"val {i}"} for i in range(8)]))
    target = validate_target.fn(validation, None, "text", Limits())
    assert target.ref.format == "prompt-response" and target.eval_set == "validation-holdout"
    rows = [{"prompt": "q", "response": f"answer {i}"} for i in range(5)] + [{"prompt": "v", "response": "val 0"}]
    source = open_source(lines(tmp_path / "pool.jsonl", rows))
    with disable_run_logger():
        checked = validate_pool.fn(source, target, str(tmp_path / "spill"), Limits(), str(tmp_path / "cache"))
        again = validate_pool.fn(source, target, str(tmp_path / "spill2"), Limits(), str(tmp_path / "cache"))
    assert checked.valid_rows == 5 and checked.reasons == {"leakage": 1} and checked.cache == "miss"
    assert again.cache == "hit" and again.valid_rows == 5
