"""The command line under faults: exit codes 2/3/130/143, one line as the last line of stderr, and
nothing left behind: no outputs that look complete, no temporary folders, no server process."""

from __future__ import annotations

import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import REPO
from forkserver import ForkServer
from runs import on_task, task_flags

STAGES = ["ingest", "validate", "calibrate", "warmup", "score", "select", "finetune", "evaluate", "publish"]


def _env(tmp_path: Path, api: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(
        {
            "PYTHONWARNINGS": "ignore",
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "CURATE_ERROR_LOG_DIR": str(tmp_path / "errors"),
            **extra,
        }
    )
    if api:
        env["PREFECT_API_URL"] = api
    return env


def _last_line(stderr: str) -> str:
    return stderr.rstrip().splitlines()[-1]


def _assert_one_error_line(result: subprocess.CompletedProcess, code: int, words: list[str]) -> None:
    assert result.returncode == code, result.stderr
    last = _last_line(result.stderr)
    assert last.startswith("curate: error:"), result.stderr
    assert sum(line.startswith("curate: error:") for line in result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in last, last


def _run_args(task: dict, out: Path, cache: Path, *extra: str) -> list[str]:
    return [*task_flags(task), "--model", "linear", "--budget", "100", "--out", str(out), "--cache", str(cache), *extra]


def _cli(args: list[str], env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


# --- environment faults: exit 3 ------------------------------------------------------------------
def test_a_dead_prefect_api_exits_3_in_one_line(labelled_task, tmp_path):
    env = _env(tmp_path, "http://127.0.0.1:9/api")
    for args in (_run_args(labelled_task, tmp_path / "out", tmp_path / "cache"), ["watch", str(tmp_path)]):
        result = _cli(args, env)
        _assert_one_error_line(result, 3, ["cannot reach the Prefect API", "127.0.0.1:9"])
    assert not (tmp_path / "out").exists()


def _in_a_small_filesystem(directory: Path, kib: int, command: list[str], env: dict[str, str]):
    """Run command with a `kib` KiB tmpfs mounted at directory, in a mount namespace of its own (so
    the mount goes away with it); returns the result and the files left in the tmpfs ("path size")."""
    directory.mkdir()
    listing = directory.parent / f"{directory.name}-left.txt"
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = (
        'mount -t tmpfs -o size="$2"k tmpfs "$1" || exit 99; dir=$1; list=$3; shift 3; "$@"; code=$?; '
        'find "$dir" -mindepth 1 -printf "%P %s\\n" > "$list"; exit $code'
    )
    result = subprocess.run(
        ["unshare", "--mount", *as_root, "sh", "-c", script, "sh", str(directory), str(kib), str(listing), *command],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode != 99, f"could not mount a tmpfs: {result.stderr}"
    return result, listing.read_text().splitlines()


def test_a_full_disk_under_out_exits_3_and_leaves_nothing(labelled_task, tmp_path, prefect_api_url):
    small = tmp_path / "small"
    result, left = _in_a_small_filesystem(
        small,
        16,
        [
            sys.executable,
            "-m",
            "flows.cli",
            *_run_args(labelled_task, small / "out", tmp_path / "cache", "--skip-finetune"),
        ],
        _env(tmp_path, prefect_api_url),
    )
    _assert_one_error_line(result, 3, ["no space left", "small/out"])
    assert left == [], left  # not even the empty output folder


def test_a_full_disk_under_cache_exits_3_and_leaves_no_half_written_file(labelled_task, tmp_path, prefect_api_url):
    small = tmp_path / "small"
    result, left = _in_a_small_filesystem(
        small,
        380,  # the validated pool (~240 KiB), the calibration with its rival's rows (~68 KiB) and θT (~20 KiB) fit;
        # the row scores (~128 KiB) do not
        [
            sys.executable,
            "-m",
            "flows.cli",
            *_run_args(labelled_task, tmp_path / "out", small / "cache", "--skip-finetune", "--shard-rows", "600")
            + ["--warmup", "fixed"],  # the disk fills while the row scores are written
        ],
        _env(tmp_path, prefect_api_url),
    )
    _assert_one_error_line(result, 3, ["no space left", "small/cache/"])  # theta0-rows/ or row-scores/
    files = {line.rsplit(" ", 1)[0]: int(line.rsplit(" ", 1)[1]) for line in left if "." in line.rsplit("/", 1)[-1]}
    # What stays: complete entries (the validated pool, the judging of the fixed warmup for `auto`, θT:
    # a manifest each, and the files it lists)
    # and finished shards.
    assert files and all(".tmp-" not in name and size > 0 for name, size in files.items()), left
    manifests = sorted(name.split("/")[1] for name in files if name.endswith("manifest.json"))
    assert manifests == ["calibration", "method-choice", "pools", "reference", "warmup"], manifests
    assert any(name.endswith("warm.safetensors") for name in files)
    assert not (tmp_path / "out").exists()


def test_a_full_disk_while_keeping_the_validated_pool_exits_3_and_leaves_no_entry(
    labelled_task, tmp_path, prefect_api_url
):
    small = tmp_path / "small"
    args = _run_args(labelled_task, tmp_path / "out", small / "cache", "--skip-finetune", "--warmup", "fixed")
    result, left = _in_a_small_filesystem(
        small, 24, [sys.executable, "-m", "flows.cli", *args], _env(tmp_path, prefect_api_url)
    )
    _assert_one_error_line(result, 3, ["no space left", "small/cache/pools"])
    assert not [line for line in left if line.startswith("cache/pools/") and "/" in line[len("cache/pools/") :]], left


def test_a_full_disk_while_calibrating_exits_3_and_leaves_no_half_written_entry(
    labelled_task, tmp_path, prefect_api_url
):
    small = tmp_path / "small"
    args = _run_args(labelled_task, tmp_path / "out", small / "cache", "--skip-finetune")
    result, left = _in_a_small_filesystem(
        small, 8, [sys.executable, "-m", "flows.cli", *args], _env(tmp_path, prefect_api_url)
    )
    _assert_one_error_line(result, 3, ["no space left"])
    assert not any(".tmp-" in line for line in left), left
    calibration = [line for line in left if line.startswith("cache/calibration/")]
    assert all(
        line.rsplit(" ", 1)[0].endswith("/manifest.json") and int(line.rsplit(" ", 1)[1]) > 0 for line in calibration
    )
    assert not (tmp_path / "out").exists()


# --- a model directory's own code never runs -------------------------------------------------------
@pytest.fixture
def custom_code_model(tiny_lm, tmp_path) -> tuple[Path, Path]:
    model = tmp_path / "custom-model"
    shutil.copytree(tiny_lm, model)
    marker = tmp_path / "the-model-code-ran"
    config = json.loads((model / "config.json").read_text())
    config.update(
        model_type="evil-gpt", auto_map={"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    )
    (model / "config.json").write_text(json.dumps(config))
    (model / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import GPT2Config as EvilConfig, GPT2LMHeadModel as EvilModel\n"
    )
    return model, marker


def test_a_model_with_its_own_code_is_refused_and_its_code_never_runs(
    custom_code_model, text_task, tmp_path, prefect_api_url
):
    model, marker = custom_code_model
    args = [
        *task_flags(text_task),
        "--model",
        str(model),
        "--budget",
        "10",
        "--out",
        str(tmp_path / "out"),
        "--cache",
        str(tmp_path / "cache"),
    ]
    # Under a terminal transformers would ask "Do you wish to run the custom code? [y/N]"; answer y.
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(REPO)
        os.execve(sys.executable, [sys.executable, "-m", "flows.cli", *args], _env(tmp_path, prefect_api_url))
    output, deadline = b"", time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
        if b"[y/N]" in output:
            os.write(fd, b"y\n")
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace").replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 2, text
    assert "[y/N]" not in text and "Traceback" not in text
    last = _last_line(text)
    assert last.startswith("curate: error:") and "auto_map" in last and "never runs a model's code" in last, text
    assert not marker.exists(), "the model directory's code ran"


def test_bad_input_is_printed_once_as_the_last_line(labelled_task, tmp_path, prefect_api_url):
    bad = tmp_path / "validation.parquet"
    frame = pd.read_parquet(labelled_task["validation"])
    frame.loc[5, "label"] = -1
    frame.to_parquet(bad)
    result = _cli(
        _run_args({**labelled_task, "validation": bad}, tmp_path / "out", tmp_path / "cache"),
        _env(tmp_path, prefect_api_url),
    )
    _assert_one_error_line(result, 2, ["validation.parquet", "row 5", "field 'label'", "bad_label"])
    assert not (tmp_path / "out").exists()


# --- signals at each stage boundary ----------------------------------------------------------------
def _kill_at(stage: str, sig: int, args: list[str], runs: ForkServer, log: Path) -> tuple[int, int, str]:
    """Start a run, send `sig` when it logs the start of `stage`; (exit code, pid, stderr)."""
    pid = runs.start(args, log)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if f"stage {stage}" in log.read_text(errors="replace"):
            os.kill(pid, sig)
            break
        time.sleep(0.05)
    return runs.wait(), pid, log.read_text(errors="replace")


def _leftovers(pids: list[int], out: Path) -> list[str]:
    """Temporary folders, staging folders and server processes of these (dead) runs."""
    import tempfile

    left = [
        name for name in os.listdir(tempfile.gettempdir()) if any(name.startswith(f"curate-run-{pid}-") for pid in pids)
    ]
    left += [p.name for p in out.glob(".staging-*")] if out.exists() else []
    for line in subprocess.run(["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines():
        if "prefect.server.api.server:create_app" in line and int(line.split()[1]) in pids:
            left.append(line)
    return left


def test_killed_at_every_stage_boundary_a_rerun_gives_the_uninterrupted_outputs(
    labelled_task, tmp_path, prefect_api_url
):
    """At each stage boundary a run is stopped by SIGTERM, then another by kill -9, all over one
    cache and output folder; then a rerun goes to the end. Its outputs equal an uninterrupted
    run's, and no temporary folder, staging folder or server of a stopped run is left. The run
    killed with -9 while scoring starts its own temporary Prefect server (the case where one could
    be orphaned); the others report to the session's server. Runs are forked from a process that
    has done the imports (tests/forkserver.py): 16 runs in a minute or two instead of four."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    task = {**labelled_task, "pool": labelled_task["pool_first_half"]}

    def args(out, cache):  # small and quick
        return _run_args(task, out, cache, "--finetune-epochs", "3", "--shard-rows", "400")

    with_server, without_server = (
        ForkServer(REPO, _env(tmp_path, prefect_api_url)),
        ForkServer(REPO, _env(tmp_path, None)),
    )
    try:
        reference = with_server.start(args(tmp_path / "reference", tmp_path / "reference-cache"), tmp_path / "ref.log")
        assert with_server.wait() == 0, (tmp_path / "ref.log").read_text()
        killed = []
        for stage in STAGES:
            code, pid, stderr = _kill_at(
                stage, signal.SIGTERM, args(out, cache), with_server, tmp_path / f"{stage}-term.log"
            )
            assert code == 143, stderr
            assert _last_line(stderr).startswith("curate: terminated (SIGTERM)") and "Traceback" not in stderr, stderr
            assert _leftovers([pid], out) == [], f"SIGTERM at {stage} left {_leftovers([pid], out)}"
            runs = without_server if stage == "score" else with_server
            code, pid, stderr = _kill_at(stage, signal.SIGKILL, args(out, cache), runs, tmp_path / f"{stage}-kill.log")
            assert code == -signal.SIGKILL, stderr
            killed.append(pid)
            assert not (out / "report.json").exists() or stage == "publish", f"a report after a kill at {stage}"
        with_server.start(args(out, cache), tmp_path / "final.log")
        assert with_server.wait() == 0, (tmp_path / "final.log").read_text()
    finally:
        with_server.close()
        without_server.close()
    assert reference
    for name in ("scores.parquet", "selection.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name), pd.read_parquet(tmp_path / "reference" / name))
    report = json.loads((out / "report.json").read_text())
    assert report["evaluation"] == json.loads((tmp_path / "reference" / "report.json").read_text())["evaluation"]
    assert report["cache"]["warmup"] == "hit"
    assert report["cache"]["damaged"] == {"pool": 0, "warmup": 0, "row_scores": 0}
    time.sleep(1)  # a server told to stop by its parent's death needs a moment
    assert _leftovers(killed, out) == []


# --- two runs at once on one cache ---------------------------------------------------------------
def test_two_concurrent_runs_on_one_cache_train_the_warmup_once(labelled_task, tmp_path, prefect_api_url):
    """The lock is held by this test while both runs start, so both must wait on it: then one
    trains θT (a miss) and the other loads what it stored (a hit)."""
    import fcntl

    from runs import curate_run

    key = curate_run(
        **on_task(labelled_task),
        budget=100,
        out=str(tmp_path / "probe"),
        cache=str(tmp_path / "probe-cache"),
        skip_finetune=True,
    )["hashes"]["warmup_key"]
    lock = tmp_path / "cache" / "locks" / f"warmup-{key}.lock"
    lock.parent.mkdir(parents=True)
    held = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(held, fcntl.LOCK_EX)
    env = _env(tmp_path, prefect_api_url)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    runs = []
    for name, log in zip("ab", logs):
        with open(log, "w") as err:
            runs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "flows.cli",
                        *_run_args(labelled_task, tmp_path / name, tmp_path / "cache", "--skip-finetune"),
                    ],
                    cwd=REPO,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    deadline = time.monotonic() + 300
    while not all("waiting for it" in log.read_text() for log in logs):
        assert time.monotonic() < deadline and all(r.poll() is None for r in runs), [log.read_text() for log in logs]
        time.sleep(0.1)
    os.close(held)  # release: now they race for it
    assert [r.wait(timeout=300) for r in runs] == [0, 0], [log.read_text() for log in logs]
    statuses = sorted(json.loads((tmp_path / n / "report.json").read_text())["cache"]["warmup"] for n in "ab")
    assert statuses == ["hit", "miss"]
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "a" / "scores.parquet"), pd.read_parquet(tmp_path / "b" / "scores.parquet")
    )
    assert not (tmp_path / "cache" / "locks").exists()  # locks are removed when released


def test_the_error_line_starts_a_line_of_its_own_after_a_bar_cut_short(capsys):
    """A signal can stop a run while a progress bar is mid-line on stderr."""
    from tqdm import tqdm

    from flows.cli import _print_error

    bar = tqdm(total=10, desc="warmup", file=sys.stderr)
    bar.update(1)
    _print_error("curate: terminated (SIGTERM); temporary files removed, no outputs published")
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert any(line == "curate: terminated (SIGTERM); temporary files removed, no outputs published" for line in lines)


# --- `curate model fetch` (finding 13 of issue 32): one line, exit 2 or 3, no partial directory ----
def _fetch_args(to: Path) -> list[str]:
    from curation.config import default_cache_dir

    return ["model", "fetch", "smollm2", "--to", str(to), "--cache", default_cache_dir()]


@pytest.mark.real_model
def test_model_fetch_on_a_full_disk_exits_3_and_leaves_no_partial_directory(tmp_path):
    small = tmp_path / "small"
    result, left = _in_a_small_filesystem(
        small, 20_000, [sys.executable, "-m", "flows.cli", *_fetch_args(small / "smol")], _env(tmp_path, None)
    )
    _assert_one_error_line(result, 3, ["no space left", "small/smol", "--to"])
    assert left == [], left  # neither smol/ nor smol.partial/


def test_model_fetch_onto_a_read_only_mount_or_a_file_exits_2_naming_to(tmp_path):
    readonly = tmp_path / "ro"
    readonly.mkdir()
    as_root = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = 'mount -t tmpfs -o ro tmpfs "$1" || exit 99; shift; "$@"'
    command = [sys.executable, "-m", "flows.cli", *_fetch_args(readonly / "smol")]
    result = subprocess.run(
        ["unshare", "--mount", *as_root, "sh", "-c", script, "sh", str(readonly), *command],
        cwd=REPO, env=_env(tmp_path, None), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 99, result.stderr
    _assert_one_error_line(result, 2, ["field '--to'", "cannot write the model here", "ro/smol"])
    in_the_way = tmp_path / "smol"
    in_the_way.write_text("a file")
    _assert_one_error_line(_cli(_fetch_args(in_the_way), _env(tmp_path, None)), 2, ["field '--to'", "not a fetched"])
    assert in_the_way.read_text() == "a file"


@pytest.mark.real_model
def test_model_fetch_stopped_midway_leaves_no_partial_directory(tmp_path):
    """SIGTERM while converting: exit 143, and nothing a later fetch or run could take for a model."""
    env = _env(tmp_path, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *_fetch_args(tmp_path / "smol")], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (tmp_path / "smol.partial").exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert (tmp_path / "smol.partial").exists(), "the conversion never started"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143 and "Traceback" not in stderr, stderr
    assert not (tmp_path / "smol.partial").exists() and not (tmp_path / "smol").exists()
