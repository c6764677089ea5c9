"""Cache integrity: every cached file carries its size and SHA-256, and every read checks them.

Two forms, one rule:
- an *entry* (a directory of files, e.g. a warmup's θT) has a `manifest.json`, written last,
  listing each file's size and SHA-256;
- a *sealed file* (one Parquet or safetensors file, e.g. a row-score shard) carries its own digest
  in its metadata, computed over its data.

A read that finds a file missing, cut short, altered or unparseable raises `Damaged`; the caller
moves the entry aside with `set_aside` (kept under `<cache>/damaged/` for inspection, logged as
a warning) and computes it again. A cache never hands back a value it cannot vouch for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import time
from typing import Any

from curation.storage import filesystem, join

MANIFEST = "manifest.json"
DIGEST_KEY = "curate.sha256"  # metadata key of a sealed file's digest


def warn(message: str, *args: Any) -> None:
    """A warning in the Prefect run's log (the UI shows it) when inside a run, else on stderr."""
    try:
        from prefect import get_run_logger

        get_run_logger().warning(message, *args)
    except Exception:  # outside a flow or task run (a Ray worker, a test calling the function)
        logging.getLogger("curate.cache").warning(message, *args)


class Damaged(Exception):
    """A cache entry or file that fails its integrity check; the message says what failed."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_facts(local_dir: str) -> dict[str, dict[str, Any]]:
    """{relative path: {"size", "sha256"}} of every file under a local directory."""
    facts = {}
    for parent, _, names in os.walk(local_dir):
        for name in names:
            path = os.path.join(parent, name)
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            facts[os.path.relpath(path, local_dir).replace(os.sep, "/")] = {
                "size": os.path.getsize(path),
                "sha256": digest.hexdigest(),
            }
    return facts


def parse_manifest(data: bytes, url: str) -> dict[str, Any]:
    """A manifest's JSON, or Damaged if it is cut short or not a manifest of files."""
    try:
        manifest = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise Damaged(f"{url}: manifest is not valid JSON ({err})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise Damaged(f"{url}: manifest lists no files")
    return manifest


def check_local_copy(local_dir: str, manifest: dict[str, Any], url: str) -> None:
    """Damaged unless every file the manifest lists is in local_dir with its size and SHA-256."""
    found = file_facts(local_dir)
    for name, expected in manifest["files"].items():
        actual = found.get(name)
        if actual is None:
            raise Damaged(f"{url}: {name} is missing")
        if actual["size"] != expected.get("size"):
            raise Damaged(f"{url}: {name} has {actual['size']} bytes, the manifest says {expected.get('size')}")
        if actual["sha256"] != expected.get("sha256"):
            raise Damaged(f"{url}: {name} does not match its SHA-256 in the manifest")


# --- sealed safetensors: a digest of the tensors' names, shapes, dtypes, offsets and data sits --
# --- in the header's metadata ---------------------------------------------------------------------
def _tensors_digest(header: dict, data: bytes) -> str:
    entries = {name: value for name, value in header.items() if name != "__metadata__"}
    return sha256(json.dumps(entries, sort_keys=True).encode() + data)


def _split(data: bytes) -> tuple[dict, bytes]:
    header_len = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + header_len]), data[8 + header_len :]


def seal_safetensors(tensors: dict) -> bytes:
    """safetensors bytes whose metadata holds the SHA-256 of the tensor table and data."""
    from safetensors.torch import save

    header, data = _split(save(tensors))
    return save(tensors, metadata={DIGEST_KEY: _tensors_digest(header, data)})


def open_safetensors(data: bytes, url: str) -> dict:
    """The tensors of a sealed safetensors file, or Damaged."""
    from safetensors.torch import load

    try:
        header, tensor_data = _split(data)
        expected = (header.get("__metadata__") or {}).get(DIGEST_KEY)
    except (struct.error, json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise Damaged(f"{url}: not a readable safetensors file ({err})") from None
    if expected is None:
        raise Damaged(f"{url}: carries no digest")
    if _tensors_digest(header, tensor_data) != expected:
        raise Damaged(f"{url}: tensors do not match their digest")
    try:
        return load(data)
    except Exception as err:  # safetensors raises its own error type on a malformed header
        raise Damaged(f"{url}: {err}") from None


# --- moving a damaged entry aside -------------------------------------------------------------
def set_aside(cache: str, url: str, reason: str) -> str | None:
    """Move a damaged file or directory to `<cache>/damaged/<time>-<pid>/...`; returns where.

    Kept, not deleted: someone may want to see what broke. If the move itself fails (another
    run moved it first), the entry is removed instead so that it is rebuilt either way.
    """
    fs, path = filesystem(url)
    _, root = filesystem(cache)
    relative = path[len(root.rstrip("/")) + 1 :] if path.startswith(root.rstrip("/") + "/") else os.path.basename(path)
    target = join(cache, "damaged", f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}", relative)
    _, target_path = filesystem(target)
    warn("damaged cache entry set aside and rebuilt: %s (moved to %s)", reason, target)
    try:
        fs.makedirs(target_path.rsplit("/", 1)[0], exist_ok=True)
        fs.mv(path, target_path, recursive=fs.isdir(path))
        return target
    except FileNotFoundError:
        return None
    except OSError:
        if fs.exists(path):
            fs.rm(path, recursive=True)
        return None
