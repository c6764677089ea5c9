"""JSON rows: JSON lines, and .json files holding one JSON array streamed element by element (ijson),
each after a UTF-8 byte order mark if there is one; a text holding a lone surrogate kept escaped and
marked, for validation to quarantine."""

from __future__ import annotations

import json
from typing import Iterator

import pandas as pd

from curation.errors import InputError
from curation.io.sources import storage_errors
from curation.rows import CUT_COLUMN, UNICODE_COLUMN
from curation.storage import filesystem


def json_array_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A .json file holding one array of row objects, streamed element by element (ijson), after a
    UTF-8 byte order mark if there is one. ijson's pure-Python backend: its C backend writes a lone
    surrogate (`"\\ud800"`) as `?` in silence, where this one keeps it, to be quarantined as
    `invalid_unicode` exactly as in JSON lines (about 20 MB/s here: 6 s for ShareGPT V3's 125 MB).

    An array cut off inside an element (ShareGPT V3 ships so: 125.5 MB, cut mid-string) gives its
    whole elements as rows and the element it ends inside as a row marked in CUT_COLUMN, which
    validation quarantines as `cut_off` (in a validation set: an error naming it). JSON that is
    invalid before the end is an error, as in JSON lines."""
    import ijson
    from ijson.common import ObjectBuilder

    parse = ijson.get_backend("python")
    fs, path = filesystem(url)
    records: list[dict] = []
    read, last, element = 0, None, None  # element: the object being built (None between elements)
    with storage_errors(url), fs.open(path, "rb") as handle:
        if handle.read(3) != b"\xef\xbb\xbf":
            handle.seek(0)
        try:
            for prefix, event, value in parse.parse(handle, use_float=True):
                if not prefix:  # the array itself
                    continue
                if element is None:
                    if prefix != "item" or event != "start_map":
                        raise InputError(f"element {read} of the JSON array is not an object", file=url, row=read)
                    element = ObjectBuilder()
                element.event(event, value)
                if prefix == "item" and event == "end_map":
                    records.append(mark_lone_surrogates(element.value))
                    read, last, element = read + 1, element.value, None
                    if len(records) == batch_rows:
                        yield pd.DataFrame.from_records(records)
                        records = []
        except ijson.IncompleteJSONError as err:
            if last is None and element is not None:  # cut inside the first element: nothing whole to read
                raise InputError(
                    f"the JSON array is cut off or not valid JSON after {read} elements: {str(err).splitlines()[0]}",
                    file=url,
                    row=read,
                ) from None
            if element is not None:  # cut inside an element; cut between two: the whole ones are all there is
                records.append({**dict.fromkeys(last), CUT_COLUMN: f"the file ends inside element {read}"})
        except ijson.JSONError as err:
            raise InputError(
                f"the JSON array is not valid JSON after {read} elements: {str(err).splitlines()[0]}",
                file=url,
                row=read,
            ) from None
    if records:
        yield pd.DataFrame.from_records(records)


def starts_an_array(url: str) -> bool:
    """Whether a .json file holds one JSON array (its first non-blank byte is '[') rather than JSON lines."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"[")


def jsonl_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A JSON lines file's rows (one object a line, blank lines skipped), batch by batch."""
    fs, path = filesystem(url)
    records: list[dict] = []
    with storage_errors(url), fs.open(path, "rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8").strip()  # a BOM before line 1
            except UnicodeDecodeError:
                raise InputError(f"line {line_no} is not valid UTF-8 text", file=url, row=line_no - 1) from None
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"line {line_no} is not valid JSON: {err.msg}", file=url, row=line_no - 1) from None
            if not isinstance(record, dict):
                raise InputError(f"line {line_no} is not a JSON object", file=url, row=line_no - 1)
            if "\\ud" in line or "\\uD" in line:  # a JSON escape of a UTF-16 surrogate: maybe a lone one
                record = mark_lone_surrogates(record)
            records.append(record)
            if len(records) == batch_rows:
                yield pd.DataFrame.from_records(records)
                records = []
    if records:
        yield pd.DataFrame.from_records(records)


def _has_surrogate(value) -> bool:
    if isinstance(value, str):
        return not value.isascii() and any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _escaped(value):
    """The value with lone surrogates written as `\\udXXX` text, which UTF-8 can hold."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(k): _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def mark_lone_surrogates(record: dict) -> dict:
    """A record whose text holds a lone surrogate (valid JSON, invalid Unicode: no UTF-8 encoding
    exists) is kept with the text escaped and the field named in UNICODE_COLUMN, so validation
    quarantines it (or, in a validation set, names it) instead of a later write crashing."""
    bad = next((field for field, value in record.items() if _has_surrogate(field) or _has_surrogate(value)), None)
    if bad is None:
        return record
    marked = _escaped(record)
    marked[UNICODE_COLUMN] = _escaped(bad)
    return marked
