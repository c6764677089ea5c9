"""The several-target flow's report: each target's share of the budget, rows, losses to the others and
lift, from the targets' own reports (the flow end to end: tests/e2e/test_targets_flow.py)."""

from __future__ import annotations

import pytest
from reports import a_report

from curation.config import CurateConfig
from curation.errors import InputError
from curation.run.joint import TargetChoice
from flows.targets import targets_report


def test_the_top_report_has_each_targets_share_in_the_order_given():
    config = CurateConfig.parse(
        pool="p.parquet", targets=["code=c.parquet:3", "math=m.parquet"], model="linear", budget=40, out="out"
    )
    choices = {"code": TargetChoice(None, 30, 2), "math": TargetChoice(None, 10, 0)}
    reports = {"code": a_report(), "math": a_report(evaluation=None)}
    report = targets_report(config, reports, choices, {o.name: o.weight for o in config.target_options})
    code, math = report.targets
    assert (code.name, code.weight, code.quota, code.lost_to_other_targets, code.lift) == ("code", 3.0, 30, 2, 0.25)
    assert (math.weight, math.quota, math.lift) == (1.0, 10, None)
    assert report.selected == code.selected + math.selected == 100


def test_the_one_target_flow_refuses_several_targets(prefect_api_url):
    from flows.curate import curate

    config = CurateConfig.parse(pool="p.parquet", targets=["a=a.parquet"], model="linear", budget=4, out="out")
    with pytest.raises(InputError, match="several run as curate-targets"):
        curate(config)


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--target", "a=v.parquet", "--validation", "v.parquet"], "give one target with --validation, or several"),
        (["--target", "a=v.parquet", "--target", "A=w.parquet"], "two targets are named 'A'"),
        (["--target", "a=v.parquet:-2"], "the weight must be a finite number above 0"),
        ([], "--validation is required (or give the targets with --target"),
        (["--target", "a=v.parquet", "--targets-file", "t.yaml"], "--target and --targets-file: give one target"),
        (["--targets-file", "no-such-targets.yaml"], "no such targets file"),
    ],
)
def test_bad_targets_on_the_command_line_are_one_line_and_exit_2(capsys, tmp_path, flags, words):
    """Refused while the options are checked, before Prefect starts (in this process: main's own exit path)."""
    from flows.cli import main

    code = main(["run", "--pool", "p.parquet", "--model", "linear", "--budget", "4", "--out", str(tmp_path), *flags])
    stderr = capsys.readouterr().err
    assert code == 2 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("curate: error:") and words in stderr


def test_the_console_script_refuses_a_bad_target_in_one_line(curate_cli, tmp_path):
    done = curate_cli("run", "--pool", "p.parquet", "--model", "linear", "--budget", "4", "--out", str(tmp_path),
                      "--target", "a=v.parquet:nan")  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip() == (
        "curate: error: field '--target': 'a=v.parquet:nan': the weight must be a finite number above 0 "
        "(got ['a=v.parquet:nan'])"
    ), done.stderr
