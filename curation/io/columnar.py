"""Parquet and Arrow IPC files: a Parquet footer's column types checked before any row is read, then
either kind streamed as record batches."""

from __future__ import annotations

from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import InputError
from curation.formats import FORMATS, Column
from curation.io.sources import storage_errors
from curation.storage import filesystem


def _declared_columns() -> dict[str, Column]:
    """Every column a registered row format declares, by name (the first declaration of a name)."""
    declared: dict[str, Column] = {}
    for row_format in FORMATS.values():
        for column in row_format.columns:
            declared.setdefault(column.name, column)
    return declared


def check_footer(url: str) -> None:
    """Read a Parquet footer and check the declared columns' types."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            parquet = pq.ParquetFile(handle)
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"not a readable Parquet file (truncated, or another format): {err}", file=url) from None
        schema = parquet.schema_arrow
        for column in _declared_columns().values():
            if column.name in schema.names and not column.accepts(schema.field(column.name).type):
                found = schema.field(column.name).type
                hint = "text must be UTF-8 strings" if pa.types.is_binary(found) else None
                raise InputError(
                    f"column has type {found}, expected {column.type} "
                    f"(expectation expect_column_values_to_be_of_type failed)",
                    file=url,
                    field=column.name,
                    hint=hint,
                )


def parquet_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """A Parquet file's rows, batch by batch."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_rows):
                yield batch.to_pandas()
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"Parquet file is corrupt or not valid UTF-8 text: {err}", file=url) from None


def arrow_batches(url: str, batch_rows: int) -> Iterator[pd.DataFrame]:
    """An Arrow IPC stream (or file), as `datasets`' save_to_disk writes its shards, batch by batch."""
    fs, path = filesystem(url)
    with storage_errors(url), fs.open(path, "rb") as handle:
        try:
            reader = pa.ipc.open_stream(handle)
        except (pa.ArrowException, OSError, ValueError):
            handle.seek(0)
            try:  # the Arrow file format (random access) rather than a stream
                opened = pa.ipc.open_file(handle)
            except (pa.ArrowException, OSError, ValueError) as err:
                raise InputError(f"not a readable Arrow stream or file: {err}", file=url) from None
            reader = (opened.get_batch(i) for i in range(opened.num_record_batches))
        try:
            for batch in reader:
                table = pa.Table.from_batches([batch])
                for start in range(0, table.num_rows, batch_rows):
                    yield table.slice(start, batch_rows).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as err:
            raise InputError(f"Arrow file is corrupt or truncated: {err}", file=url) from None
