"""Temporary folders: one per process, removed at the end; those of dead processes are swept."""

from __future__ import annotations

import os
import tempfile

from curation import tempfiles


def test_temporary_dirs_live_under_the_run_dir_and_go_away(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(tempfiles, "_run_dir", None)
    with tempfiles.temporary_dir("spill") as path:
        assert os.path.isdir(path) and os.path.dirname(path) == tempfiles.run_dir()
        assert os.path.basename(tempfiles.run_dir()).startswith(f"curate-run-{os.getpid()}-")
    assert not os.path.exists(path)
    tempfiles.remove_run_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("curate-run-")]


def test_the_sweep_removes_folders_of_dead_processes_only(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead, alive = tmp_path / "curate-run-999999999-x", tmp_path / f"curate-run-{os.getpid()}-y"
    dead.mkdir()
    alive.mkdir()
    (dead / "server.json").write_text('{"pid": 999999999}')  # its server is gone too: nothing to stop
    assert tempfiles.sweep_stale() == [str(dead)]
    assert alive.exists() and not dead.exists()
    assert tempfiles.process_alive(os.getpid()) and not tempfiles.process_alive(999999999)
