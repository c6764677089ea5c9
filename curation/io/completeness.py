"""Whether a pool file still being written looks so: read from its ends, never parsed whole.

A local file is written in place, and a writer that pauses longer than the watcher's settle time
(two listings a few seconds apart) leaves a file that lists unchanged twice and is still half
there. Two kinds of file say so themselves: a Parquet file ends with its footer and the magic
`PAR1` (a writer puts the footer last, so a half file has none), and a JSON lines file whose last
line is not whole JSON was cut inside a row. Such a file is left for a later listing whatever the
settle time (flows/watch.py).
"""

from __future__ import annotations

import json

MAGIC = b"PAR1"
TAIL_BYTES = 1 << 20  # a JSON lines file's last row is looked for in its last MiB


def incomplete_reason(fs, path: str, size: int) -> str | None:
    """Why the file at `path` looks half-written (a short reason), or None when it looks whole."""
    with fs.open(path, "rb") as handle:
        if path.lower().endswith(".parquet"):
            return _parquet_reason(handle, size)
        if path.lower().endswith(".jsonl"):
            return _json_lines_reason(handle, size)
    return None


def _parquet_reason(handle, size: int) -> str | None:
    if size < 12:
        return f"{size} bytes: shorter than a Parquet file's header and footer"
    head = handle.read(4)
    handle.seek(size - 8)
    tail = handle.read(8)
    footer = int.from_bytes(tail[:4], "little")
    if head != MAGIC or tail[4:] != MAGIC:
        return "no Parquet footer yet: it does not end with PAR1"
    if footer > size - 12:
        return f"its footer claims {footer} bytes of a {size}-byte file"
    return None


def _json_lines_reason(handle, size: int) -> str | None:
    if size == 0:
        return None  # an empty file is whole (and holds no rows)
    start = max(0, size - TAIL_BYTES)
    handle.seek(start)
    tail = handle.read()
    if tail.endswith(b"\n"):
        return None
    last = tail.rsplit(b"\n", 1)[-1]
    if start and b"\n" not in tail:
        return None  # one line longer than the tail: read whole by the ingest, which judges it
    try:
        json.loads(last)
    except ValueError:
        return "its last line is not whole JSON (cut inside a row)"
    return None
