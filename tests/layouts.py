"""Dataset folders as `datasets` writes them, for the readers' tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa


def saved_to_disk(root: Path, names: tuple[str, ...] = ("d1", "d2")) -> pa.Table:
    """A save_to_disk-style folder per name under `root` (one Arrow stream shard and state.json each);
    the rows each holds."""
    table = pa.table({"id": ["a", "b"], "text": ["one", "two"]})
    for name in names:
        (root / name).mkdir(parents=True)
        with pa.ipc.new_stream(root / name / "data-00000-of-00001.arrow", table.schema) as writer:
            writer.write_table(table)
        (root / name / "state.json").write_text("{}")
    return table
