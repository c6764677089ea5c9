"""The command line in its own process: each command's flags (a flag another command owns is a usage
error, exit 2), the options checked before anything starts, and what a finished run or validation
prints (the commands end to end: tests/e2e/, tests/faults/test_faults_cli.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from reports import a_report

from curation.config import CurateConfig
from flows.cli import _summary, _validation_summary, checked_options, main, parser

RUN = ["--pool", "p.parquet", "--validation", "v.parquet", "--model", "linear", "--out", "o"]


def test_each_command_takes_its_own_flags_and_anothers_is_a_usage_error(capsys):
    args = parser().parse_args(["watch", "s3://bucket/landing/", "--every", "30", "--out-root", "runs"])
    assert (args.command, args.prefix, args.every, args.out_root, args.state) == (
        "watch", "s3://bucket/landing/", 30.0, "runs", None
    )  # fmt: skip
    args = parser().parse_args(["model", "fetch", "smollm2", "--to", "m"])
    assert (args.command, args.model_command, args.name, args.to) == ("model", "fetch", "smollm2", "m")
    assert parser().parse_args(["demo", "--chat"]).chat and parser().parse_args(["demo"]).out == "demo-out"
    for argv in (
        ["validate", *RUN, "--budget", "5"],  # validate scores nothing: no budget
        ["run", *RUN, "--budget", "5", "--methods", "lossdrop"],  # compare's flag
        ["serve", "--budget", "5", "--method", "bogus"],
        [],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2, argv
    assert "usage: curate" in capsys.readouterr().err


def test_the_options_are_checked_per_command_before_anything_starts():
    run = checked_options(parser().parse_args(["run", *RUN, "--budget", "0.5"]))
    assert isinstance(run, CurateConfig) and run.budget == 0.5
    validate = checked_options(parser().parse_args(["validate", *RUN]))
    assert validate.budget == 1 and validate.pool == "p.parquet"  # the budget acts after scoring: any will do
    config, methods = checked_options(
        parser().parse_args(["compare", *RUN, "--budget", "5", "--methods", "random,auto"])
    )
    assert methods == ["random", "auto"] and config.budget == 5
    assert checked_options(parser().parse_args(["demo"])) is None


def test_a_bad_methods_list_exits_2_in_the_commands_own_process(capsys, tmp_path):
    assert main(["compare", *RUN, "--out", str(tmp_path / "out"), "--budget", "5", "--methods", "lossdrop,best"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("curate: error: field '--methods'")
    assert not (tmp_path / "out").exists()


def test_a_finished_runs_summary_says_where_what_and_how_well():
    lines = _summary(a_report()).splitlines()
    assert lines[0] == (
        "outputs in out: scores.parquet, selection.parquet, selection.jsonl, quarantine.parquet, "
        "score-distribution.png, report.json"
    )
    assert lines[1].startswith("rows: 110 valid, 10 quarantined, 50 selected (validated pool cache miss); ")
    assert "warmup cache miss (0.25 s), scoring 1.50 s" in lines[1]
    assert lines[2].startswith("method: lossdrop (auto, judged on 3 folds: cache miss)")
    assert lines[3] == "warmup: all weights, lr 0.05, 60 steps (calibrated on 3 folds: cache miss); scores from theta0"
    assert lines[4] == (
        "accuracy on validation-holdout: selection 0.7500, random 0.5000, lift over random +0.2500 "
        "(higher accuracy is better)"
    )
    report = a_report()
    quiet = a_report(
        evaluation=None,
        cache=report.cache.model_copy(update={"warmup": "not-used"}),
        counts=report.counts.model_copy(update={"truncated": 3}),
    )
    lines = _summary(quiet).splitlines()
    assert "110 valid (3 chat rows cut to --max-length)" in lines[1] and len(lines) == 3  # no warmup, no evaluation


def test_a_validations_summary_lists_the_reasons_most_frequent_first_and_a_refusal():
    found = {
        "pool": "p.jsonl", "rows_read": 10, "valid": 4, "quarantined": 6, "truncated": 1, "truncation": "keep-answer",
        "validated_pool_cache": "miss", "seconds": 1.25, "quarantine_reasons": {"null_text": 1, "duplicate": 5},
        "refused": "6 of 10 rows rejected, more than --max-reject-share 0.5",
    }  # fmt: skip
    lines = _validation_summary(found).splitlines()
    assert lines[0] == (
        "validated p.jsonl in 1.2 s (validated pool cache miss): 10 rows read, 4 valid, 6 quarantined, "
        "1 valid rows cut to --max-length (keep-answer)"
    )
    assert lines[1:3] == ["  duplicate: 5", "  null_text: 1"]
    assert lines[3] == "a run would refuse this pool: 6 of 10 rows rejected, more than --max-reject-share 0.5"
    assert len(_validation_summary({**found, "refused": None}).splitlines()) == 3


def test_help_starts_without_torch_prefect_or_great_expectations():
    code = (
        "import sys\nfrom flows.cli import main\n"
        "for command in ('run', 'compare', 'serve'):\n"
        "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'prefect', 'great_expectations', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--warmup-steps" in done.stdout and "--runs-at-once" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_several_target_runs_summary_gives_each_targets_rows_and_losses(tmp_path):
    from flows.cli import _targets_summary

    (tmp_path / "report.json").write_text(
        '{"selected": 40, "targets": [{"name": "near", "selected": 30, "quota": 30, "lost_to_other_targets": 2},'
        ' {"name": "far", "selected": 9, "quota": 10, "lost_to_other_targets": 0}]}'
    )
    line = _targets_summary(str(tmp_path)).strip()
    assert line.startswith("several targets, 40 rows selected, none twice: near 30 of 30 (lost 2 to other targets)")
    assert "far 9 of 10" in line and line.endswith(f"joint outputs in {tmp_path}")


def test_the_console_script_runs_pythons_exit_steps_and_keeps_the_exit_code(tmp_path):
    """`run_and_exit` skips only the interpreter's teardown: atexit handlers (Prefect's drains among them)
    and non-daemon threads still finish, the output is flushed, and main's exit code is the process's."""
    code = (
        "import atexit, threading, time, sys\nfrom flows.cli import run_and_exit\n"
        "atexit.register(print, 'atexit ran')\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread finished'))).start()\n"
        "sys.stdout.write('unflushed output')\n"
        f"run_and_exit(['compare', *{RUN!r}, '--out', {str(tmp_path / 'out')!r}, '--budget', '5', '--methods', 'x'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unflushed output" in done.stdout and "thread finished" in done.stdout and "atexit ran" in done.stdout
    assert done.stderr.strip().splitlines()[-1].startswith("curate: error: field '--methods'")
