"""The service flow: curate a list of pools against one validation set, each into its own folder.

Both deployments run it: `nightly` with the configured pools, `pool-landed` with the one pool
named by the event. Each pool is a `curate` subflow run (`curate-targets` for several targets), so
the UI shows one child run per pool (named after the pool and the date) with its own report; a pool
that fails does not stop the others, and the parent run fails at the end if any did. Each run of a
deployment adds to the pool's trends under `<out_root>/<pool slug>/trends/<deployment>/`. A pool
version is curated once, whatever started the run (flows/service/once.py): a later run of the same
version and settings completes as AlreadyCurated, one started for a version since replaced as
Superseded, each without work.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
from datetime import datetime, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from curation.config import CurateConfig, CurationSettings
from flows.curate import curate
from flows.service.once import left_alone, not_to_curate
from flows.targets import curate_targets

MAX_ATTEMPTS = 3  # runs of one flow run (resumed after a crash or a shutdown) before it is refused


def record_process() -> None:
    """Note this run's process on the flow run (`host:pid`): Prefect's runner does not, and a
    restarted `curate serve` must stop a run orphaned by `kill -9` before it runs it again."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.update_flow_run(flow_run.id, infrastructure_pid=f"{socket.gethostname()}:{os.getpid()}")


def pool_slug(pool: str) -> str:
    """A folder name for a pool URL: its last path part, and a short hash of the whole URL so two
    prefixes holding `data.parquet` never share a folder."""
    name = pool.rstrip("/").rsplit("/", 1)[-1].split("*", 1)[0]
    for suffix in (".parquet", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    digest = hashlib.sha256(pool.encode()).hexdigest()[:8]
    return f"{name or 'pool'}-{digest}"


def run_out_dir(out_root: str, pool: str, started: datetime) -> str:
    """Where one run's outputs go: `<out_root>/<pool slug>/<UTC time of the run>`."""
    return f"{out_root.rstrip('/')}/{pool_slug(pool)}/{started:%Y%m%dT%H%M%SZ}"


def trends_folder(settings: CurationSettings, out_root: str, pool: str) -> str | None:
    """Where this deployment's runs of a pool keep their trends: `<--trends or out_root>/<pool slug>/
    trends/<deployment>/`, so that each run is compared with the last run of the same deployment
    and pool. Outside a deployment only when --trends names a folder."""
    from prefect.runtime import deployment

    name = deployment.name
    if not name and not settings.trends:
        return None
    root = (settings.trends or out_root).rstrip("/")
    return f"{root}/{pool_slug(pool)}/trends/{re.sub(r'[^0-9A-Za-z_.-]', '-', name or 'runs')}"


def why(state) -> str:
    """A failed run's reason in a line: its exception's message, without Prefect's preamble."""
    message = str(state.message or state.name)
    return message.removeprefix("Flow run encountered an exception: ").splitlines()[0]


def pools_run_name(pools: list[str] | None = None, version: str | None = None) -> str:
    """`curate-pools-<pool>-<version>-<UTC time>` (the version's first 8 characters, when one is
    named): of the running flow's parameters, or of those given."""
    if pools is None:
        pools, version = flow_run.parameters.get("pools") or [], flow_run.parameters.get("version")
    what = pool_slug(pools[0]).rsplit("-", 1)[0] if len(pools) == 1 else f"{len(pools)}-pools"
    named = f"{what}-{re.sub(r'[^0-9A-Za-z]', '', version)[:8]}" if version else what
    return f"curate-pools-{named}-{datetime.now(timezone.utc):%Y-%m-%d-%H%M}"


@flow(name="curate-pools", flow_run_name=pools_run_name, log_prints=True)
def curate_pools(pools: list[str], out_root: str, settings: CurationSettings, version: str = "") -> dict[str, str]:
    """Curate each pool against the target into its own folder under `out_root`.

    Args:
        pools: The pool URLs to curate, one `curate` run each.
        out_root: Each run writes to <out_root>/<pool name>-<hash>/<UTC time>/, local or s3://.
        settings: What every run shares: the target, the model, the budget, the method and the rest
            of `curate run`'s options.
        version: The pool's content version (ETag, or size and mtime) when a landed event names one:
            it names the run, and a run whose file has changed since ends as superseded.
    """
    logger = get_run_logger()
    if not pools:
        raise ValueError("no pools to curate: give at least one pool URL")
    if flow_run.run_count > MAX_ATTEMPTS:  # resumed after each crash: one that always crashes stops here
        raise RuntimeError(f"attempt {flow_run.run_count}: interrupted {MAX_ATTEMPTS} times; not run again")
    record_process()
    started = datetime.now(timezone.utc)
    outcome: dict[str, str] = {}
    for pool in pools:
        left = not_to_curate(pool, settings, version)  # superseded, or another run curated it
        if left:
            outcome[pool] = left
            logger.info("%s: %s; nothing to do", pool, left)
            continue
        one = {**settings.model_dump(), "trends": trends_folder(settings, out_root, pool)}
        config = CurateConfig(**one, pool=pool, out=run_out_dir(out_root, pool, started))
        state = (curate_targets if config.several_targets else curate)(config, return_state=True)
        out = config.out
        outcome[pool] = out if state.is_completed() else f"failed: {why(state)}"
        logger.info("%s → %s", pool, outcome[pool])
    failed = [f"{pool} ({result})" for pool, result in outcome.items() if result.startswith("failed:")]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(pools)} pools failed: {'; '.join(failed)}")
    curated = [pool for pool, result in outcome.items() if left_alone(result) is None]
    return outcome if curated else nothing_done(outcome)


def nothing_done(outcome: dict[str, str]):
    """A run that curated no pool: Completed, named for why (Superseded or AlreadyCurated in the UI)."""
    from prefect.states import Completed

    name = left_alone(next(iter(outcome.values())))
    return Completed(name=name, message="; ".join(f"{pool}: {result}" for pool, result in outcome.items()))
