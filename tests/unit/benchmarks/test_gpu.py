"""benchmarks/gpu.py kept working: its CPU run (seconds) measures both loops, the dtype, memory, and the
OOM back-off scoring every row as the unconstrained run does."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "gpu.py"


def test_the_gpu_benchmarks_cpu_run_measures_scoring_and_backs_off_a_batch_that_does_not_fit(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("gpu_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CSV", tmp_path / "gpu.csv")
    result = module.main(["--small", "--cpu", "--oom-rows", "4", "--csv"])
    assert result["device"].startswith("cpu") and result["dtype"] == "float32" and result["rows"] == 64
    assert result["bare_tokens_per_s"] > 0 and 0 < result["fraction_of_two_pass_bound"]
    assert result["oom"].startswith("simulated") and result["oom_batch_asked"] == 64
    assert result["oom_batch_ended_at"] <= 4 and result["oom_scores_match"] is True
    assert result["peak_memory_mb"] > 0 and (tmp_path / "gpu.csv").read_text().count("\n") == 2
