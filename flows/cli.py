"""The `curate` command line: `curate run`, `curate demo`, and the service: `curate serve`, `curate watch`.

Heavy imports (torch, prefect, transformers) happen inside the commands so `--help` stays fast.
Bad input exits with code 2 and one message naming file, row and field; no traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import warnings

def _budget(value: str) -> float:
    try:
        budget = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a row count nor a fraction") from None
    if not math.isfinite(budget) or budget <= 0 or (budget >= 1 and not budget.is_integer()):
        raise argparse.ArgumentTypeError(f"{value!r}: use a row count ≥ 1 or a fraction in (0, 1)")
    return budget


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="curate", description="Targeted training-data curation: "
                                  "select the pool rows that help a target task and prove the lift.")
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="curate one pool against a validation set")
    _curation_options(run)
    run.add_argument("--method", default="lossdrop",
                     help="lossdrop (default: normalized endpoint loss drop), lossdrop-raw (un-normalized), "
                          "embedding (RDS+-style cosine similarity of θ0's mean-pooled hidden states, or of "
                          "the features, to the validation rows), gradcos (LESS-style gradient similarity "
                          "along a warmup on a sample of the pool) or random")

    compare = commands.add_parser("compare", help="run several methods on one pool and write a side-by-side "
                                  "table (comparison.md, comparison.csv)")
    _curation_options(compare)
    compare.add_argument("--methods", default="random,lossdrop,lossdrop-raw,embedding,gradcos", type=_methods,
                         help="comma-separated methods (default random,lossdrop,lossdrop-raw,embedding,gradcos)")

    demo = commands.add_parser("demo", help="the embedded default, end to end, on local text")
    demo.add_argument("--out", default="demo-out", help="where data, model and outputs go (default ./demo-out)")
    demo.add_argument("--cache", help="warmup cache directory (default: <out>/cache)")

    serve = commands.add_parser("serve", help="serve the nightly and pool-landed deployments from this "
                                "process (needs a Prefect server: PREFECT_API_URL)")
    serve.add_argument("--validation", required=True, help="the target task's validation set")
    serve.add_argument("--model", required=True, help="as for `curate run`")
    serve.add_argument("--budget", required=True, type=_budget, help="as for `curate run`")
    serve.add_argument("--out-root", required=True,
                       help="each run writes to <out-root>/<pool name>-<hash>/<UTC time>/, local or s3://")
    serve.add_argument("--pool", action="append", default=[], dest="pools",
                       help="a pool to curate every night (repeat for several)")
    serve.add_argument("--test", help="held-out target test set")
    serve.add_argument("--cache", help="warmup cache directory, shared by all runs")
    serve.add_argument("--cron", default="0 2 * * *", help="nightly schedule (default '0 2 * * *')")
    serve.add_argument("--timezone", default="UTC", help="time zone of --cron (default UTC)")
    serve.add_argument("--watch", dest="watch_prefix",
                       help="also run the watcher on this prefix (and trigger only for pools under it)")
    serve.add_argument("--watch-state", help="the watcher's state file (default: under --cache)")
    serve.add_argument("--watch-every", type=int, default=300, help="seconds between listings (default 300)")
    serve.add_argument("--runs-at-once", type=int, default=1,
                       help="flow runs this process runs at once; later ones wait (default 1)")
    serve.add_argument("--options", type=_json_object, default={},
                       help='further `curate run` parameters as JSON, e.g. \'{"seed": 1, "method": "lossdrop"}\'')

    watch = commands.add_parser("watch", help="emit a curation.pool.landed event per new pool object under "
                                "a prefix (needs a Prefect server: PREFECT_API_URL)")
    watch.add_argument("prefix", help="an S3 or local prefix where pools land")
    watch.add_argument("--state", help="where emitted pools are remembered (default: under the cache dir)")
    watch.add_argument("--every", type=float, help="list again every this many seconds (default: once)")
    watch.add_argument("--cache", help="cache directory holding the default state file")
    return top


def _curation_options(sub: argparse.ArgumentParser) -> None:
    """The options `curate run` and `curate compare` share: inputs, budget, warmup, limits, engine."""
    sub.add_argument("--pool", required=True, help="Parquet file/directory/glob or JSONL, local or s3://")
    sub.add_argument("--validation", required=True, help="the target task's validation set")
    sub.add_argument("--model", required=True,
                     help="'linear' or 'mlp' (feature rows) or a local Hugging Face causal-LM directory")
    sub.add_argument("--budget", required=True, type=_budget, help="rows to select (≥ 1) or a fraction (0-1)")
    sub.add_argument("--out", required=True, help="output directory, local or s3://")
    sub.add_argument("--test", help="held-out target test set (default: a held-out quarter of --validation)")
    sub.add_argument("--similarity", default="max",
                     help="embedding: a row's max (default) or mean cosine similarity to the validation rows")
    sub.add_argument("--gradcos-fraction", type=float, default=0.05,
                     help="gradcos: share of the pool its warmup trains on, as LESS (default 0.05)")
    sub.add_argument("--projection-dim", type=int, default=512,
                     help="gradcos: dimension the per-row gradients are projected to (default 512)")
    sub.add_argument("--selection", default="auto",
                     help="auto (stratified on labelled pools, else topk), stratified, topk or threshold")
    sub.add_argument("--seed", type=int, default=0)
    sub.add_argument("--warmup-steps", type=int, help="optimizer steps of the warmup (default per model kind)")
    sub.add_argument("--warmup-lr", type=float, help="learning rate of the warmup (default per model kind)")
    sub.add_argument("--warmup-rank", type=int, help="LoRA rank of a causal-LM warmup (default 8)")
    sub.add_argument("--warmup-seed", type=int, default=0,
                     help="seed of the warmup (default 0); --seed sets the selection's and the finetunes'")
    sub.add_argument("--finetune-epochs", type=int, help="epochs of the finetunes (default per model kind)")
    sub.add_argument("--skip-finetune", action="store_true", help="stop after selection")
    sub.add_argument("--cache", help="warmup cache directory (default: the user cache dir, or $CURATE_CACHE)")
    sub.add_argument("--max-reject-share", type=float, default=0.5,
                     help="stop if more than this share of pool rows is invalid (default 0.5)")
    sub.add_argument("--min-chars", type=int, default=1, help="shortest valid text, in characters (default 1)")
    sub.add_argument("--max-chars", type=int, default=100_000,
                     help="longest valid text, in characters (default 100000)")
    sub.add_argument("--shard-rows", type=int, default=65_536,
                     help="rows per shard, the unit of scoring, caching and resume (default 65536)")
    sub.add_argument("--engine", default="local",
                     help="where shards are scored: local (default), ray (a local Ray instance) or ray://ADDRESS")
    sub.add_argument("--workers", type=int, default=2,
                     help="shards scored at once: threads with --engine local, Ray actors with ray (default 2)")
    sub.add_argument("--max-length", type=int, default=256, help="token limit per text row (default 256)")


def _methods(value: str) -> list[str]:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    if not methods:
        raise argparse.ArgumentTypeError("give at least one method")
    return methods


def _json_object(value: str) -> dict:
    import json

    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("give a JSON object of curate parameters")
    return parsed


def _curation_kwargs(args: argparse.Namespace) -> dict:
    """The `curate` flow parameters of `curate run`/`compare` options, but the method and the output."""
    return dict(pool=args.pool, validation=args.validation, model=args.model, budget=args.budget,
                test=args.test, seed=args.seed, warmup_steps=args.warmup_steps, warmup_lr=args.warmup_lr,
                warmup_rank=args.warmup_rank, warmup_seed=args.warmup_seed, skip_finetune=args.skip_finetune,
                cache=args.cache,
                selection=args.selection, finetune_epochs=args.finetune_epochs,
                max_reject_share=args.max_reject_share, min_chars=args.min_chars, max_chars=args.max_chars,
                max_length=args.max_length, shard_rows=args.shard_rows, engine=args.engine,
                workers=args.workers, similarity=args.similarity, gradcos_fraction=args.gradcos_fraction,
                projection_dim=args.projection_dim)


def _run(args: argparse.Namespace) -> dict:
    from flows.curate import curate

    return curate(**_curation_kwargs(args), method=args.method, out=args.out)


def _compare(args: argparse.Namespace) -> dict:
    from flows.compare import compare

    return compare(methods=args.methods, out=args.out, run=_curation_kwargs(args))


def _demo(args: argparse.Namespace) -> list[dict]:
    """Pool A, then pool B with the same validation set: the second run reuses the warmup."""
    from curation.demo import build_demo_model, write_demo_data
    from flows.curate import curate

    out = os.path.abspath(args.out)
    data = write_demo_data(os.path.join(out, "data"))
    model = build_demo_model(os.path.join(out, "model"))
    reports = []
    for pool in ("pool_a", "pool_b"):
        reports.append(curate(pool=data[pool], validation=data["validation"], test=data["test"],
                              model=model, budget=100, out=os.path.join(out, f"run-{pool.replace('_', '-')}"),
                              cache=args.cache or os.path.join(out, "cache")))
    return reports


def _serve(args: argparse.Namespace) -> None:
    from flows.deployments import ServiceConfig, serve

    serve(ServiceConfig(validation=args.validation, model=args.model, budget=args.budget,
                        out_root=args.out_root, pools=args.pools, test=args.test, cache=args.cache,
                        cron=args.cron, timezone=args.timezone, watch_prefix=args.watch_prefix,
                        watch_state=args.watch_state, watch_every_s=args.watch_every,
                        runs_at_once=args.runs_at_once, options=args.options))


def _watch(args: argparse.Namespace) -> None:
    from flows.deployments import absolute, default_watch_state, require_server
    from flows.watch import watch

    require_server("watch")
    prefix = absolute(args.prefix)  # the events name pools by absolute path or URL
    state = args.state or default_watch_state(prefix, args.cache)

    def report(urls: list[str]) -> None:
        for url in urls:
            print(f"emitted curation.pool.landed for {url}", flush=True)
        print(f"{len(urls)} new pools under {prefix} (state: {state})", flush=True)

    def failed(err: Exception) -> None:
        print(f"curate watch: listing or sending failed, retrying in {args.every:g} s: {err}",
              file=sys.stderr, flush=True)

    watch(prefix, state, args.every, report, failed)


def _summary(report: dict) -> str:
    out = report["config"]["out"]
    timings = report["timings"]
    lines = [f"outputs in {out}: scores.parquet, selection.parquet, quarantine.parquet, score-distribution.png, "
             "report.json",
             f"rows: {report['counts']['valid']} valid, {report['counts']['quarantined']} quarantined, "
             f"{report['counts']['selected']} selected; warmup cache {report['cache']['warmup']} "
             f"({timings.get('warmup', 0.0):.2f} s), scoring {timings.get('score', 0.0):.2f} s"]
    evaluation = report.get("evaluation")
    if evaluation:
        metric = evaluation["metric"]
        lines.append(f"{metric} on {evaluation['eval_set']}: selection {evaluation['selection'][metric]:.4f}, "
                     f"random {evaluation['random'][metric]:.4f}, lift over random {evaluation['lift']:+.4f}"
                     f" ({'higher' if evaluation['higher_is_better'] else 'lower'} {metric} is better)")
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
        sweep_stale()  # what runs killed with -9 left: temporary folders, a temporary server
        import flows.curate  # noqa: F401  (imports prefect, which sets up its log handlers)

        runtime.quiet_console()
        if args.command in ("serve", "watch"):  # events and schedules need a server that outlives us
            from flows.deployments import require_server

            runtime.check_api(require_server(args.command))
            (_serve if args.command == "serve" else _watch)(args)
            return 0
        with runtime.prefect_api():
            if args.command == "compare":
                print(_compare(args)["markdown"])
                return 0
            reports = _demo(args) if args.command == "demo" else [_run(args)]
        print("\n\n".join(_summary(report) for report in reports))
        return 0
    except BaseException as err:  # noqa: BLE001  every way out ends in one line and an exit code
        if args.command in ("serve", "watch") and isinstance(err, KeyboardInterrupt):
            return 130  # stopping `serve` or `watch --every` is the normal way out
        code, line = runtime.exit_code_for(err)
        if code in (130, 143):
            remove_run_dir()
            _exit_now(code, line)
        print(line, file=sys.stderr, flush=True)
        return code
    finally:
        remove_run_dir()


def _exit_now(code: int, line: str) -> None:
    """After a signal, leave without waiting for worker threads still finishing a shard; the
    clean-up (staging, temporary folders, the temporary server) has already run."""
    print(line, file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
