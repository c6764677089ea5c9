"""Staged outputs: nothing is in place until publish, report.json comes last, a failed run leaves an
earlier run's outputs as they were, and staging folders of dead runs are swept."""

from __future__ import annotations

import json
import os

import pandas as pd

from curation.outputs import REJECTED, REPORT, StagedOutputs, _host_tag


def test_files_appear_only_at_publish_with_the_report_last(tmp_path):
    out = tmp_path / "out"
    staged = StagedOutputs(str(out))
    staged.parquet("selection.parquet", pd.DataFrame({"id": ["a"]}))
    staged.json("validation.json", {"ok": True})
    staged.bytes("plot.png", b"png")
    assert not (out / "selection.parquet").exists() and not (out / REPORT).exists()
    staged.publish({"done": True})
    assert sorted(p.name for p in out.iterdir()) == ["plot.png", REPORT, "selection.parquet", "validation.json"]
    assert json.loads((out / REPORT).read_text()) == {"done": True}


def test_a_refusal_and_a_finished_run_in_one_folder_leave_only_the_latest_word(tmp_path):
    """A folder holds report.json or rejected.json, never both: whichever run came last."""
    out = tmp_path / "out"
    StagedOutputs(str(out)).publish({"run": 1})
    StagedOutputs(str(out)).publish_rejected({"reason": "too many rows rejected"})
    assert (out / REJECTED).exists() and not (out / REPORT).exists()
    StagedOutputs(str(out)).publish({"run": 3})
    assert (out / REPORT).exists() and not (out / REJECTED).exists()


def test_an_abandoned_run_leaves_the_earlier_outputs_and_no_new_folder(tmp_path):
    out = tmp_path / "out"
    first = StagedOutputs(str(out))
    first.json("validation.json", {"run": 1})
    first.publish({"run": 1})
    second = StagedOutputs(str(out))
    second.json("validation.json", {"run": 2})
    second.abandon()
    assert json.loads((out / "validation.json").read_text()) == {"run": 1}
    assert not [p for p in out.iterdir() if p.name.startswith(".staging-")]
    never = StagedOutputs(str(tmp_path / "never"))
    never.json("x.json", {})
    never.abandon()
    assert not (tmp_path / "never").exists()  # this run made it, and it is empty again


def test_staging_folders_of_dead_processes_on_this_host_are_swept(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = out / f".staging-{_host_tag()}-999999999-abc"
    other_host = out / ".staging-00000000-999999999-abc"
    alive = out / f".staging-{_host_tag()}-{os.getpid()}-abc"
    for folder in (dead, other_host, alive):
        folder.mkdir()
    StagedOutputs(str(out))
    assert not dead.exists() and other_host.exists() and alive.exists()


def test_rejected_conversations_stay_nested_beside_one_arrow_cannot_type_with_them():
    """The helper's attack: one turn with a number for content (or bytes from Parquet) made every
    rejected conversation a JSON string; now only that row goes to `<column>_json`."""
    import pandas as pd

    from curation.storage import arrow_table

    good = [{"role": "user", "content": "a"}, {"role": "tool", "content": "b"}]
    frame = pd.DataFrame({"messages": [good, [{"role": "user", "content": 5}], None, "text", [{"role": b"u\xff"}]]})
    table = arrow_table(frame)
    assert table.column("messages").to_pylist() == [good, None, None, None, None]
    assert table.column("messages_json").to_pylist() == [
        None, '[{"role": "user", "content": 5}]', None, '"text"', '[{"role": "u\\\\xff"}]'
    ]  # fmt: skip
