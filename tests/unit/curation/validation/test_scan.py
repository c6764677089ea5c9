"""A pool's checks that involve no target, streamed: valid rows (normalized, ids, content hashes) to
Parquet parts, bad rows with their reason to the quarantine, and the summary the cache keeps."""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest

from curation.cache.pools import QUARANTINE
from curation.errors import InputError
from curation.formats import Limits, format_named
from curation.io.sources import open_source
from curation.rows import FILE_COLUMN, HASH_COLUMN, ROW_COLUMN
from curation.validation.scan import scan_pool

MESSAGES = format_named("messages")


def write_lines(path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_valid_rows_go_to_parts_and_bad_ones_to_the_quarantine_across_batches(tmp_path):
    rows = [{"id": f"r{i}", "prompt": "q", "response": f"answer {i}"} for i in range(6)]
    rows[3] = {"id": "r3", "prompt": "q", "response": "answer 0"}  # the content of row 0
    rows[4] = {"id": "r1", "prompt": "q", "response": "another answer"}  # the id of row 1
    rows[5] = {"id": "r5", "prompt": "q", "response": ""}
    write_lines(tmp_path / "pool.jsonl", rows)
    out = tmp_path / "scan"
    out.mkdir()
    summary = scan_pool(
        open_source(str(tmp_path / "pool.jsonl")), format_named("prompt-response"), Limits(batch_rows=2), str(out)
    )
    assert summary["parts"] == ["part-00000.parquet", "part-00001.parquet"]
    assert (
        summary["rows_read"] == 6 and summary["valid_rows"] == 3 and summary["files"] == [str(tmp_path / "pool.jsonl")]
    )
    valid = pd.concat([pq.read_table(out / p).to_pandas() for p in summary["parts"]], ignore_index=True)
    assert valid["id"].tolist() == ["r0", "r1", "r2"] and valid[HASH_COLUMN].is_unique
    quarantine = pq.read_table(out / QUARANTINE).to_pandas()
    assert dict(zip(quarantine[ROW_COLUMN], quarantine["reason"])) == {
        3: "duplicate",
        4: "duplicate_id",
        5: "response_length",
    }
    figures = {e["reason"]: e for e in summary["expectations"]}
    assert figures["duplicate"]["rows_failed"] == 1 and figures["duplicate_id"]["rows_failed"] == 1
    assert figures["response_length"]["rows_failed"] == 1 and len(summary["pool_hash"]) > 10


def test_the_other_chat_form_is_normalized_and_one_conversation_in_both_forms_is_a_duplicate(tmp_path):
    chat = [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]
    share = [{"from": {"user": "human", "assistant": "gpt"}[t["role"]], "value": t["content"]} for t in chat]
    (tmp_path / "pool").mkdir()
    write_lines(tmp_path / "pool" / "a.jsonl", [{"messages": chat}])
    write_lines(tmp_path / "pool" / "b.jsonl", [{"conversations": share}])
    out = tmp_path / "scan"
    out.mkdir()
    summary = scan_pool(open_source(str(tmp_path / "pool")), MESSAGES, Limits(), str(out))
    assert summary["valid_rows"] == 1 and pq.read_table(out / "part-00000.parquet").column("messages").to_pylist() == [
        chat
    ]
    quarantine = pq.read_table(out / QUARANTINE).to_pandas()
    assert quarantine["reason"].tolist() == ["duplicate"] and quarantine[FILE_COLUMN].tolist() == [
        str(tmp_path / "pool" / "b.jsonl")
    ]


def test_a_pool_without_rows_or_with_a_bad_footer_is_refused_before_a_part_is_written(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    out = tmp_path / "scan"
    out.mkdir()
    with pytest.raises(InputError, match="the pool holds no rows"):
        scan_pool(open_source(str(tmp_path / "empty.jsonl")), MESSAGES, Limits(), str(out))
    pd.DataFrame({"features": [[1.0, 2.0]], "label": [0]}).to_parquet(tmp_path / "a.parquet")
    pd.DataFrame({"features": [[1.0, 2.0]], "label": ["cat"]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(InputError, match="field 'label'"):
        scan_pool(open_source(str(tmp_path / "*.parquet")), format_named("features"), Limits(), str(out))
    assert os.listdir(out) == []


def test_a_missing_column_is_an_error_naming_the_file(tmp_path):
    write_lines(tmp_path / "pool.jsonl", [{"prompt": "q"}])
    out = tmp_path / "scan"
    out.mkdir()
    with pytest.raises(InputError, match="required column missing from the pool") as err:
        scan_pool(open_source(str(tmp_path / "pool.jsonl")), format_named("prompt-response"), Limits(), str(out))
    assert err.value.file == str(tmp_path / "pool.jsonl") and err.value.field == "response"
