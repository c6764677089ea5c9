"""Baselines behind --method: `embedding` (RDS+-style similarity) beside lossdrop, and the cost
each run reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from runs import curate_run, on_task, run_args, task_flags

from curation.formats.base import Reading
from curation.scorers.base import unit_rows
from curation.scorers.embedding import similarity_scores


def test_similarity_is_the_max_or_mean_cosine_to_the_validation_rows():
    validation = unit_rows(np.array([[1.0, 0.0], [0.0, 2.0]]))
    pool = np.array([[3.0, 0.0], [1.0, 1.0], [-1.0, 0.0], [0.0, 0.0]])
    s = np.sqrt(0.5)
    np.testing.assert_allclose(similarity_scores(pool, validation, "max"), [1.0, s, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(similarity_scores(pool, validation, "mean"), [0.5, s, -0.5, 0.0], atol=1e-6)


def test_lm_embeddings_are_mean_pooled_over_real_tokens_only(tiny_lm):
    """Padding must not move a row's embedding: alone or batched with a longer row, it is the same."""
    from curation.models.causal_lm import CausalLMAdapter

    adapter = CausalLMAdapter(Reading(tiny_lm, 64))
    short = pd.DataFrame({"prompt": ["Q: "], "response": ["A cookie."]})
    both = pd.DataFrame(
        {"prompt": ["Q: ", "Q: "], "response": ["A cookie.", "The server answers with a status code and headers."]}
    )
    alone, batched = adapter.embed(short), adapter.embed(both)
    assert alone.shape == (1, adapter.base.config.hidden_size) and alone.dtype == np.float32
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_embedding_method_selects_by_similarity_and_reports_its_cost(labelled_task, prefect_api_url, tmp_path):
    common = dict(**on_task(labelled_task, test=True), budget=300, cache=str(tmp_path / "cache"))
    report = curate_run(
        **common, out=str(tmp_path / "embedding"), method="embedding", similarity="mean", skip_finetune=True
    )
    scores = pd.read_parquet(tmp_path / "embedding" / "scores.parquet")
    assert report["cache"]["warmup"] == "not-used" and "warmup" not in report["timings"]
    assert scores["loss_base"].isna().all() and scores["score"].between(-1, 1).all()
    # The score is each row's mean cosine to the validation rows the warmup would have used.
    pool, validation = pd.read_parquet(labelled_task["pool"]), pd.read_parquet(labelled_task["validation"])
    expected = similarity_scores(np.stack(pool["features"]), unit_rows(np.stack(validation["features"])), "mean")
    by_id = scores.set_index("id")["score"]
    np.testing.assert_allclose(by_id.loc[pool["id"]].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert report["cost"] == {
        "method": "embedding",
        "scoring_forward_passes": 2400 + 200,
        "scoring_backward_passes": 0,
        "warmup_steps": 0,
        "calibration_steps": 0,
        "calibration_seconds": 0.0,
        "bytes_stored": 0,
        "score_seconds": report["timings"]["score"],
    }

    lossdrop = curate_run(**common, out=str(tmp_path / "lossdrop"), skip_finetune=True)
    assert lossdrop["cost"]["scoring_forward_passes"] == 2 * 2400 and lossdrop["cost"]["bytes_stored"] > 0
    assert lossdrop["cost"]["warmup_steps"] > 0


def test_unknown_similarity_is_bad_input(curate_cli, labelled_task, tmp_path):
    done = curate_cli(
        *run_args(labelled_task, budget="10"),
        "--out",
        str(tmp_path / "out"),
        "--method",
        "embedding",
        "--similarity",
        "median",
    )
    assert done.returncode == 2 and "field '--similarity'" in done.stderr and "median" in done.stderr


def test_compare_runs_each_method_and_writes_one_table(curate_cli, labelled_task, tmp_path):
    out = tmp_path / "compare"
    done = curate_cli(
        *task_flags(labelled_task, "compare"),
        "--test",
        str(labelled_task["test"]),
        "--model",
        "linear",
        "--budget",
        "300",
        "--out",
        str(out),
        "--cache",
        str(tmp_path / "cache"),
        "--methods",
        "random,lossdrop,lossdrop-raw,embedding,auto",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(out / "comparison.csv")
    # auto's row names what it chose: the loss drop, on a pool whose target differs by label correctness
    assert list(table["method"]) == ["random", "lossdrop", "lossdrop-raw", "embedding", "auto → lossdrop"]
    assert (table["metric"] == "accuracy").all()
    folders = ["random", "lossdrop", "lossdrop-raw", "embedding", "auto"]
    reports = {
        m: pd.read_json(out / folder / "report.json", typ="series") for m, folder in zip(table["method"], folders)
    }
    for _, row in table.iterrows():  # the table says what each run's report says
        evaluation = reports[row["method"]]["evaluation"]
        assert row["lift over random"] == pytest.approx(evaluation["lift"])
        assert row["selection"] == pytest.approx(evaluation["selection"]["accuracy"])
    by_method = table.set_index("method")
    # The lossdrop variants share one warmup: the second finds it cached.
    assert list(by_method.loc[["lossdrop", "lossdrop-raw"], "warmup"]) == ["miss", "hit"]
    assert by_method.loc["lossdrop-raw", "scoring forward passes"] == 0  # every row reused
    assert by_method.loc["auto → lossdrop", "warmup"] == "hit"  # the same calibration, so the same θT
    assert by_method.loc["auto → lossdrop", "lift over random"] == by_method.loc["lossdrop", "lift over random"]
    # On this pool (half of it wrong-label copies) lossdrop beats random clearly.
    assert by_method.loc["lossdrop", "lift over random"] > 0.05
    assert "| lossdrop |" in (out / "comparison.md").read_text() and "| lossdrop |" in done.stdout


def test_compare_refuses_an_unknown_method(curate_cli, labelled_task, tmp_path):
    done = curate_cli(
        *task_flags(labelled_task, "compare"),
        "--model",
        "linear",
        "--budget",
        "10",
        "--out",
        str(tmp_path / "c"),
        "--methods",
        "lossdrop,less",
    )
    assert done.returncode == 2 and "field '--methods'" in done.stderr
    assert not (tmp_path / "c").exists()


def test_methods_without_a_warmup_can_follow_each_other_in_one_process(tiny_lm, text_task, prefect_api_url, tmp_path):
    """`curate compare` runs methods in one process on one loaded model: a run that made only
    finetune adapters (no θT) must leave the model as it found it."""
    common = dict(
        **on_task(text_task, model=tiny_lm, test=True), budget=20, cache=str(tmp_path / "cache"), max_length=64
    )
    first = curate_run(**common, method="random", out=str(tmp_path / "random"))
    second = curate_run(**common, method="embedding", out=str(tmp_path / "embedding"))
    third = curate_run(**common, method="lossdrop", out=str(tmp_path / "lossdrop"))
    assert first["evaluation"]["random"] == second["evaluation"]["random"] == third["evaluation"]["random"]
    embedding = pd.read_parquet(tmp_path / "embedding" / "selection.parquet")
    assert len(embedding) == 20 and embedding["score"].between(-1, 1).all()
