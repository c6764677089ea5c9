"""Emit `curation.pool.landed` from an S3 bucket notification (instead of, or beside, the watcher).

Deploy as an AWS Lambda function (runtime Python 3.11+, handler `s3_notification_lambda.handler`,
no dependencies: standard library only) subscribed to the bucket's `s3:ObjectCreated:*`
notifications for the landing prefix, with suffix filters `.parquet` and `.jsonl`. Set
`PREFECT_API_URL` (e.g. http://prefect.internal:4200/api) in its environment; the function must
reach the server. Any S3-compatible store that sends the same notification records (MinIO's
webhook target, for one) can POST them to a small service calling `handler` alike.

The event id is derived from the pool URL and its version (the object's ETag) exactly as `curate
watch` derives it (flows/watch.py: `event_id`), so a pool version reported by both still triggers
one run, and new bytes at the same key trigger another.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone

EVENT = "curation.pool.landed"
POOL_SUFFIXES = (".parquet", ".jsonl")  # matched whatever their case, as the watcher does


def landed_events(notification: dict) -> list[dict]:
    """One Prefect event per created pool object in an S3 notification."""
    events = []
    for record in notification.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])  # keys arrive URL-encoded
        if not key.lower().endswith(POOL_SUFFIXES) or any(p.startswith((".", "_")) for p in key.split("/")):
            continue
        url, found = f"s3://{bucket}/{key}", record["s3"]["object"]
        version = str(found.get("eTag") or found.get("sequencer") or "").strip('"')
        events.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{EVENT}:{url}@{version}")),
                "event": EVENT,
                "occurred": record.get("eventTime") or datetime.now(timezone.utc).isoformat(),
                "resource": {"prefect.resource.id": url, "prefect.resource.name": key.rsplit("/", 1)[-1]},
                "payload": {"size": found.get("size", 0), "version": version, "source": "s3-notification"},
            }
        )
    return events


def handler(notification: dict, context: object = None) -> dict:
    """Lambda entry point: POST the events to the Prefect server's events API."""
    events = landed_events(notification)
    if events:
        request = urllib.request.Request(
            os.environ["PREFECT_API_URL"].rstrip("/") + "/events",
            data=json.dumps(events).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            if answer.status >= 300:
                raise RuntimeError(f"Prefect answered {answer.status}")
    return {"emitted": [e["resource"]["prefect.resource.id"] for e in events]}
