"""Progress: a bar on stderr fed by the adapters' callbacks; no artifact outside a Prefect run."""

from __future__ import annotations

from curation.progress import progress_artifact, progress_bar


def test_the_bar_counts_what_the_callbacks_report(capsys):
    with progress_bar(10, "score", artifact_key="scoring-progress") as update:
        for _ in range(4):
            update(2)
    err = capsys.readouterr().err
    assert "score" in err and "8/10" in err


def test_no_progress_artifact_outside_a_prefect_run():
    assert progress_artifact("anything", "desc") is None
