"""Start the `pool-landed` run from an S3 bucket notification (instead of, or beside, the watcher).

Deploy as an AWS Lambda function (runtime Python 3.11+, handler `s3_notification_lambda.handler`,
no dependencies: standard library only) subscribed to the bucket's `s3:ObjectCreated:*`
notifications for the landing prefix, with suffix filters `.parquet` and `.jsonl`. Set
`PREFECT_API_URL` (e.g. http://prefect.internal:4200/api) in its environment; the function must
reach the server. Any S3-compatible store that sends the same notification records (MinIO's
webhook target, for one) can POST them to a small service calling `handler` alike.

Each created object is a pool version (its URL and the record's `eTag`), and its run is created
with the idempotency key `curate watch` derives (flows/watch.py: `run_key`): the server keeps one
run per key, so a pool version reported by both, or by a notification delivered twice, runs once,
and new bytes at the same key run again.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request

EVENT = "curation.pool.landed"
DEPLOYMENT = "curate-pools/pool-landed"
POOL_SUFFIXES = (".parquet", ".jsonl")  # matched whatever their case, as the watcher does


def landed_pools(notification: dict) -> list[dict]:
    """The pool versions an S3 notification reports created: URL, version (ETag) and size."""
    pools = []
    for record in notification.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded
        if not key.lower().endswith(POOL_SUFFIXES) or any(p.startswith((".", "_")) for p in key.split("/")):
            continue
        found = record["s3"]["object"]
        version = str(found.get("eTag") or found.get("sequencer") or "").strip('"')
        pools.append({"url": f"s3://{bucket}/{key}", "version": version, "size": found.get("size", 0)})
    return pools


def run_key(pool_url: str, version: str) -> str:
    """As flows/watch.py's `run_key`: one run per pool version."""
    return f"{EVENT}:{pool_url}@{version}"


def call(api: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        api.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        if answer.status >= 300:
            raise RuntimeError(f"Prefect answered {answer.status} to {path}")
        return json.loads(answer.read() or b"{}")


def handler(notification: dict, context: object = None) -> dict:
    """Lambda entry point: create (or find) the `pool-landed` run of each pool version."""
    pools, api, runs = landed_pools(notification), os.environ.get("PREFECT_API_URL", ""), []
    if pools:
        deployment = call(api, f"/deployments/name/{DEPLOYMENT}")
        for pool in pools:
            body = {
                "parameters": {"pools": [pool["url"]], "version": pool["version"]},
                "idempotency_key": run_key(pool["url"], pool["version"]),
            }
            runs.append(call(api, f"/deployments/{deployment['id']}/create_flow_run", body)["id"])
    return {"pools": [pool["url"] for pool in pools], "runs": runs}
