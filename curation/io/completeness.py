"""Whether a pool file still being written looks so: read from its ends, never parsed whole.

A local file is written in place, and a writer that pauses longer than the watcher's settle time
(two listings a few seconds apart) leaves a file that lists unchanged twice and is still half
there. Two kinds of file say so themselves: a Parquet file ends with its footer and the magic
`PAR1` (a writer puts the footer last, so a half file has none; the footer is read, so a cut that happens
to end in `PAR1` is caught too), and a JSON lines file whose last line is not whole JSON was cut
inside a row (an empty file has nothing written yet). Such a file is left for a later listing whatever the
settle time (flows/watch.py).
"""

from __future__ import annotations

import json

import pyarrow
import pyarrow.parquet

MAGIC = b"PAR1"
TAIL_BYTES = 1 << 20  # a JSON lines file's last line is read backwards a MiB at a time...
LAST_LINE_MAX = 64 << 20  # ...up to this long (a longer row is left to the ingest to judge)


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
    handle.seek(size - 8 - footer)
    try:  # the footer itself (the schema and the row groups' places): a cut file's last bytes are no footer
        pyarrow.parquet.read_metadata(pyarrow.BufferReader(handle.read(footer) + tail))
    except (pyarrow.ArrowException, OSError, ValueError) as err:
        return f"its last bytes are no Parquet footer ({type(err).__name__})"
    return None


def _json_lines_reason(handle, size: int) -> str | None:
    if size == 0:
        return "0 bytes: nothing written yet"
    last = _last_line(handle, size)
    if last is None:
        return None  # the file ends with a newline, or its last line is longer than we read: the ingest judges it
    if not last.strip():
        return None  # trailing blanks: the readers skip blank lines
    try:
        json.loads(last)
    except ValueError:
        return "its last line is not whole JSON (cut inside a row)"
    return None


def _last_line(handle, size: int) -> bytes | None:
    """The bytes after the file's last newline, read backwards a MiB at a time up to LAST_LINE_MAX;
    None when the file ends with a newline or the line is longer than that."""
    handle.seek(size - 1)
    if handle.read(1) == b"\n":
        return None
    tail, start = b"", size
    while start > 0 and len(tail) < LAST_LINE_MAX:
        end, start = start, max(0, start - TAIL_BYTES)
        handle.seek(start)
        tail = handle.read(end - start) + tail
        if b"\n" in tail:
            return tail.rsplit(b"\n", 1)[-1]
    return tail if start == 0 else None
