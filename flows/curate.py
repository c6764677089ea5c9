"""The curation flow: ingest → validate → warmup → score → select → finetune → evaluate."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow.parquet as pq
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from curation.cache_keys import model_identity, row_score_key, warmup_key
from curation.hashing import dataset_hash
from curation.models import adapter_for, check_model_name
from curation.models.base import FINETUNE_DEFAULTS, WARMUP_DEFAULTS, WarmupConfig
from curation.outputs import StagedOutputs
from curation.errors import InputError
from curation.rows import HASH_COLUMN, INTERNAL_COLUMNS, kind_for_model
from curation.engines import ShardJob, run_on_ray
from curation.score_cache import RowScoreCache
from curation.tempfiles import make_temp_dir
from flows.dashboards import PLOT_NAME, publish_dashboards, score_distribution_png
from tasks.evaluate import evaluate, holdout_split
from tasks.finetune import finetune
from tasks.gradcos import GradcosConfig, write_gradcos_scores
from tasks.ingest import ingest, read_target
from tasks.score import (METHODS, SIMILARITIES, score_shard_task, write_embedding_scores, write_random_scores,
                         write_scores)
from tasks.select import STRATEGIES, budget_rows, random_positions, select, selection_frame
from tasks.validate import Limits, validate_pool, validate_target
from tasks.warmup import warmup


def default_cache_dir() -> str:
    from platformdirs import user_cache_dir
    return os.environ.get("CURATE_CACHE") or user_cache_dir("curate")


def run_name() -> str:
    pool = str(flow_run.parameters.get("pool", "pool")).rstrip("/").rsplit("/", 1)[-1]
    return f"curate-{pool}-{datetime.now(timezone.utc):%Y-%m-%d-%H%M}"


@contextmanager
def timed(timings: dict[str, float], stage: str):
    """Time a stage; its start is logged ("stage warmup"), so a terminal or the UI shows where a run is."""
    get_run_logger().info("stage %s", stage)
    started = time.perf_counter()
    yield
    timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - started, 3)


def check_options(model: str, method: str, selection: str, budget: float, engine: str = "local",
                  similarity: str = "max") -> None:
    """Fail on bad options before any data is read."""
    check_model_name(model)
    if engine != "local" and engine != "ray" and not engine.startswith("ray://"):
        raise InputError(f"unknown engine {engine!r}; use local, ray or ray://ADDRESS", field="--engine")
    if method not in METHODS:
        raise InputError(f"unknown method {method!r}; use one of {', '.join(METHODS)}", field="--method")
    if similarity not in SIMILARITIES:
        raise InputError(f"unknown similarity {similarity!r}; use one of {', '.join(SIMILARITIES)}",
                         field="--similarity")
    if selection not in STRATEGIES:
        raise InputError(f"unknown selection {selection!r}; use one of {', '.join(STRATEGIES)}",
                         field="--selection")
    budget_rows(budget, 10**12)


# Numeric options: (flag, lowest, highest) with None for no bound; None values mean "the default".
NUMERIC_BOUNDS = {
    "warmup_steps": ("--warmup-steps", 1, 1_000_000), "warmup_lr": ("--warmup-lr", 1e-12, 10.0),
    "warmup_rank": ("--warmup-rank", 1, 4096), "warmup_seed": ("--warmup-seed", 0, 2**32 - 1),
    "seed": ("--seed", 0, 2**32 - 1), "finetune_epochs": ("--finetune-epochs", 1, 10_000),
    "max_reject_share": ("--max-reject-share", 0.0, 1.0), "min_chars": ("--min-chars", 0, None),
    "max_chars": ("--max-chars", 1, None), "max_length": ("--max-length", 2, 1_048_576),
    "shard_rows": ("--shard-rows", 1, None), "workers": ("--workers", 1, 1024),
    "gradcos_fraction": ("--gradcos-fraction", 1e-9, 1.0), "projection_dim": ("--projection-dim", 1, 65_536),
}


def check_numbers(**values: float | None) -> None:
    """Each numeric option finite and within NUMERIC_BOUNDS (InputError naming the flag), before any data is read."""
    for name, value in values.items():
        flag, low, high = NUMERIC_BOUNDS[name]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InputError(f"{value!r} is not a finite number", field=flag)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"from {low}" + (f" to {high}" if high is not None else " up")
            raise InputError(f"{value!r} is out of range: use a value {bounds}", field=flag)
    if (values.get("min_chars") or 0) > (values.get("max_chars") or math.inf):
        raise InputError("--min-chars is above --max-chars", field="--min-chars")


def warmup_config(kind: str, seed: int, steps: int | None, lr: float | None,
                  rank: int | None) -> WarmupConfig:
    """The kind's default warmup with the user's overrides."""
    # The warmup's seed is its own option: a run that only changes the seed of the selection and
    # the finetunes (--seed) reuses θT.
    overrides = {"steps": steps, "lr": lr, "lora_rank": rank,
                 "lora_alpha": 2 * rank if rank is not None else None}
    return dataclasses.replace(WARMUP_DEFAULTS[kind], seed=seed,
                               **{k: v for k, v in overrides.items() if v is not None})


@flow(name="curate", flow_run_name=run_name, log_prints=True)
def curate(pool: str, validation: str, model: str, budget: float, out: str,
           test: str | None = None, method: str = "lossdrop", seed: int = 0,
           warmup_steps: int | None = None, warmup_lr: float | None = None,
           warmup_rank: int | None = None, skip_finetune: bool = False, cache: str | None = None,
           selection: str = "auto", finetune_epochs: int | None = None,
           max_reject_share: float = 0.5, min_chars: int = 1, max_chars: int = 100_000,
           max_length: int = 256, shard_rows: int = 65_536, engine: str = "local",
           workers: int = 2, similarity: str = "max", gradcos_fraction: float = 0.05,
           projection_dim: int = 512, warmup_seed: int = 0) -> dict:
    """Pick the pool rows that help the target task, finetune on them and measure the lift."""
    logger = get_run_logger()
    check_options(model, method, selection, budget, engine, similarity)
    check_numbers(warmup_steps=warmup_steps, warmup_lr=warmup_lr, warmup_rank=warmup_rank, warmup_seed=warmup_seed,
                  seed=seed, finetune_epochs=finetune_epochs, max_reject_share=max_reject_share,
                  min_chars=min_chars, max_chars=max_chars, max_length=max_length, shard_rows=shard_rows,
                  workers=workers, gradcos_fraction=gradcos_fraction, projection_dim=projection_dim)
    gradcos_config = GradcosConfig(fraction=gradcos_fraction, dim=projection_dim)
    cache = cache or default_cache_dir()
    kind = kind_for_model(model)
    timings: dict[str, float] = {}
    limits = Limits(max_reject_share=max_reject_share, min_chars=min_chars, max_chars=max_chars)
    outputs = StagedOutputs(out)
    spill_dir = make_temp_dir("valid-rows")
    try:
        with timed(timings, "ingest"):
            source = ingest(pool)
            validation_rows = read_target(validation)
            test_rows = read_target(test) if test else None
        with timed(timings, "validate"):
            ref, validation_rows, test_rows = validate_target(validation_rows, test_rows, kind, limits)
            # Without --test, a quarter of the validation set is held out of the warmup for evaluation.
            warm_rows, eval_rows = (validation_rows, test_rows) if test_rows is not None \
                else holdout_split(validation_rows)
            # Leakage: a pool row identical to a validation or test row is never trained on.
            target_hashes = set(validation_rows[HASH_COLUMN])
            if test_rows is not None:
                target_hashes |= set(test_rows[HASH_COLUMN])
            checked = validate_pool(source, ref, spill_dir, limits, frozenset(target_hashes), shard_rows)
        outputs.parquet("quarantine.parquet", checked.quarantine)
        outputs.json("validation.json", {"pool": pool, "files": checked.files,
                                         "expectations": checked.expectations})
        publish_validation(checked.expectations)
        logger.info("pool %s: %d rows read, %d valid, %d quarantined %s", pool, checked.rows_read,
                    checked.valid_rows, checked.rows_read - checked.valid_rows, checked.reasons)

        label_shares = (validation_rows["label"].value_counts(normalize=True).to_dict()
                        if kind == "features" else None)
        num_classes = (max(ref.labels) + 1) if ref.labels else None
        adapter = adapter_for(model, ref.feature_dim, num_classes, max_length)

        warm_config = warmup_config(kind, warmup_seed, warmup_steps, warmup_lr, warmup_rank)
        identity = model_identity(adapter)
        key = warmup_key(dataset_hash(warm_rows[HASH_COLUMN]), identity, warm_config)
        row_key = row_score_key(key, identity)
        warm_status, warm_damaged = "not-used", 0
        if method.startswith("lossdrop"):  # the baselines `random` and `embedding` need no θT
            with timed(timings, "warmup"):
                outcome = warmup(adapter, warm_rows, warm_config, cache, key)
            warm_status, warm_damaged = outcome.status, outcome.damaged
            logger.info("warmup %s (key %s)", warm_status, key[:12])

        scores_path = os.path.join(spill_dir, "scores.parquet")
        with timed(timings, "score"):
            scored = score_pool(method, adapter, checked, warm_rows, scores_path, cache=cache, key=row_key, seed=seed,
                                similarity=similarity, warm_config=warm_config, gradcos=gradcos_config,
                                engine=engine, workers=workers,
                                shard_job=lambda part, index: ShardJob(model, ref.feature_dim, num_classes,
                                                                       max_length, cache, key, row_key, part, index))
        scores = scored.scores
        if method == "gradcos":  # its warmup (on a sample of the pool) ran inside the score stage
            warm_status = scored.warmup
            timings["warmup"] = round(scored.warmup_seconds, 3)
            timings["score"] = round(timings["score"] - timings["warmup"], 3)
        logger.info("scored %d rows, reused %d from the row-score cache", scored.rows_scored, scored.rows_reused)
        k = budget_rows(budget, checked.valid_rows)
        strategy = selection if selection != "auto" else ("stratified" if kind == "features" else "topk")
        if method == "random":
            strategy = "topk"  # random scores: top-k is a uniform random subset
        with timed(timings, "select"):
            labels = checked.column("label") if kind == "features" else None
            ids = pq.read_table(scores_path, columns=["id"]).column("id")  # Arrow strings: compact
            positions = select(scores, ids, labels, k, strategy, label_shares, seed)
            # One pass over the shards fetches the selection and, when finetuning, the random control.
            control = random_positions(checked.valid_rows, k, seed) if not skip_finetune else positions[:0]
            fetched = checked.take(np.concatenate([positions, control]))
            selected_rows, control_rows = fetched.iloc[:k], fetched.iloc[k:].reset_index(drop=True)
            chosen = selection_frame(selected_rows.drop(columns=list(INTERNAL_COLUMNS), errors="ignore"), scores,
                                     positions)

        outputs.file("scores.parquet", scores_path)
        outputs.parquet("selection.parquet", chosen)
        outputs.bytes(PLOT_NAME, score_distribution_png(scores, positions, method))

        evaluation = None
        if not skip_finetune:
            ft_config = FINETUNE_DEFAULTS[kind]
            if finetune_epochs is not None:
                ft_config = dataclasses.replace(ft_config, epochs=finetune_epochs)
            with timed(timings, "finetune"):
                selected_model = finetune(adapter, selected_rows, ft_config, seed, "selection")
                control_model = finetune(adapter, control_rows, ft_config, seed, "random")
            with timed(timings, "evaluate"):
                evaluation = evaluate(adapter, selected_model, control_model, eval_rows)
            evaluation["eval_set"] = "test" if test_rows is not None else "validation-holdout"
            evaluation["finetune"] = ft_config.as_dict()
            logger.info("lift over random on %s (%s): %+.4f", evaluation["metric"],
                        evaluation["eval_set"], evaluation["lift"])

        report = {
            "config": {"pool": pool, "validation": validation, "test": test, "model": model,
                       "budget": budget, "out": out, "method": method, "selection": strategy,
                       "seed": seed, "cache": cache, "warmup": warm_config.as_dict(),
                       "skip_finetune": skip_finetune, "finetune_epochs": finetune_epochs,
                       "max_reject_share": max_reject_share, "min_chars": min_chars,
                       "max_chars": max_chars, "max_length": max_length, "shard_rows": shard_rows,
                       "engine": engine, "workers": workers, "similarity": similarity,
                       "gradcos": gradcos_config.as_dict() if method == "gradcos" else None},
            "hashes": {"validation": dataset_hash(validation_rows[HASH_COLUMN]),
                       "pool": checked.pool_hash, "warmup_key": key, "row_score_key": row_key},
            "counts": {"rows_read": checked.rows_read, "valid": checked.valid_rows,
                       "quarantined": checked.rows_read - checked.valid_rows,
                       "quarantine_reasons": checked.reasons, "selected": int(k),
                       "validation_rows": int(len(validation_rows)),
                       "warmup_rows": int(len(warm_rows)), "eval_rows": int(len(eval_rows))},
            "selection_labels": ({str(l): int(c) for l, c in
                                  np.stack(np.unique(labels[positions], return_counts=True), 1)}
                                 if labels is not None else None),
            "timings": timings,
            "evaluation": evaluation,
            "cache": {"warmup": warm_status, "rows_scored": scored.rows_scored, "rows_reused": scored.rows_reused,
                      "dir": cache,
                      # Damaged entries found, set aside under <cache>/damaged/ and rebuilt.
                      "damaged": {"warmup": warm_damaged, "row_scores": scored.damaged}},
            "scoring": {"engine": engine, "shards": len(checked.valid_parts), "workers_used": scored.workers_used},
            # What the method cost: per-row model passes while scoring, warmup steps trained for
            # this run, and the bytes it keeps per pool (the row-score cache's losses, gradcos's
            # projected gradients; embeddings are not kept).
            "cost": {"method": method, "scoring_forward_passes": scored.forward_passes,
                     "scoring_backward_passes": scored.backward_passes,
                     "warmup_steps": scored.warmup_steps if method == "gradcos" else
                     (warm_config.steps if warm_status == "miss" else 0),
                     "bytes_stored": scored.bytes_stored, "score_seconds": timings.get("score", 0.0)},
            "flow_run": str(flow_run.id),
            "finished_at": datetime.now(timezone.utc).isoformat(),
        }
        with timed(timings, "publish"):
            outputs.publish(report)
            publish_dashboards(report, chosen)
    except BaseException:
        outputs.abandon()
        raise
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)
    return report


@dataclass
class Scored:
    """The score stage's scores (in pool order) and what producing them cost."""

    scores: np.ndarray
    rows_scored: int = 0
    rows_reused: int = 0
    workers_used: int = 1
    bytes_stored: int = 0
    forward_passes: int = 0
    backward_passes: int = 0
    damaged: int = 0             # damaged cache files set aside and recomputed
    warmup: str = "not-used"     # gradcos: its own warmup's cache hit or miss
    warmup_steps: int = 0
    warmup_seconds: float = 0.0


def score_pool(method: str, adapter, checked, warm_rows, path: str, *, cache: str, key: str, seed: int,
               similarity: str, warm_config: WarmupConfig, gradcos: GradcosConfig, engine: str, workers: int,
               shard_job) -> Scored:
    """Write scores.parquet for the valid pool rows by `method`; lossdrop's θT is loaded already."""
    if method == "random":
        return Scored(write_random_scores(checked.column("id"), seed, path))
    if method == "embedding":  # one θ0 pass per pool and validation row, nothing kept
        scores = write_embedding_scores(checked.valid_parts, adapter, warm_rows, similarity, path)
        return Scored(scores, forward_passes=checked.valid_rows + len(warm_rows))
    if method == "gradcos":  # a forward and a backward pass per row and checkpoint
        scores, cost = write_gradcos_scores(adapter, checked, warm_rows, warm_config, gradcos, cache,
                                            path, seed)
        return Scored(scores, cost["rows_scored"], cost["rows_reused"], bytes_stored=cost["bytes_stored"],
                      damaged=cost["damaged"],
                      forward_passes=cost["forward_passes"], backward_passes=cost["forward_passes"],
                      warmup=cost["trajectory"], warmup_steps=cost["warmup_steps"],
                      warmup_seconds=cost["warmup_seconds"])
    row_cache, workers_used = RowScoreCache(cache, key), 1
    if engine == "local":
        counts = score_shards(adapter, checked.valid_parts, row_cache, workers)
    else:
        jobs = [shard_job(part, index) for index, part in enumerate(checked.valid_parts)]
        counts = run_on_ray(jobs, engine if engine.startswith("ray://") else None, workers)
        workers_used = len({pid for *_, pid in counts})
    scores, stored = write_scores(checked.valid_parts, row_cache, method, path)
    rows_scored = sum(c[0] for c in counts)  # θ0 and θT per newly scored row
    return Scored(scores, rows_scored, sum(c[1] for c in counts), workers_used, stored, 2 * rows_scored,
                  damaged=sum(c[2] for c in counts))


def score_shards(adapter, parts: list[str], cache: RowScoreCache, in_flight: int) -> list[tuple[int, int, int]]:
    """Score the shards on the flow's task runner, at most `in_flight` at once (each holds its
    shard in memory); a progress artifact follows them as they finish."""
    from curation.progress import progress_artifact
    from prefect.futures import as_completed

    set_progress = progress_artifact("scoring-progress", "shards of the pool scored")
    # Shards on a GPU carry the `gpu` tag: `prefect concurrency-limit create gpu N` caps them at N.
    on_gpu = getattr(getattr(adapter, "device", None), "type", "cpu") == "cuda"
    shard_task = score_shard_task.with_options(tags=["score", "gpu"]) if on_gpu else score_shard_task
    counts: list[tuple[int, int]] = []
    for window in range(0, len(parts), max(1, in_flight)):
        futures = [shard_task.submit(adapter, part, cache, index)
                   for index, part in enumerate(parts[window:window + max(1, in_flight)], start=window)]
        for finished, _ in enumerate(as_completed(futures), start=len(counts) + 1):
            set_progress(100.0 * finished / len(parts))
        counts += [future.result() for future in futures]  # in shard order
    return counts


def publish_validation(expectations: list[dict]) -> None:
    """The expectation results as a Prefect table artifact: expectation, rows checked, rows failed."""
    from prefect.artifacts import create_table_artifact

    create_table_artifact(
        key="pool-validation",
        table=[{"expectation": e["expectation"], "reason": e["reason"], "rows checked": e["rows_checked"],
                "rows failed": e["rows_failed"]} for e in expectations],
        description="Great Expectations results over the pool, summed over its batches")
