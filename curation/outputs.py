"""Run outputs, staged and published atomically: nothing half-written ever looks complete.

Files are written into a hidden staging folder under the output directory and moved into place
only when the run succeeds, `report.json` last: its presence marks a complete run. A failed run
removes its staging folder and leaves an earlier run's outputs as they were.
"""

from __future__ import annotations

import uuid
from typing import Any

import pandas as pd

from curation.storage import (filesystem, join, remove, write_bytes_atomic, write_json_atomic,
                              write_parquet_atomic)

REPORT = "report.json"


class StagedOutputs:
    def __init__(self, out: str):
        self.out = out.rstrip("/")
        self.staging = join(self.out, f".staging-{uuid.uuid4().hex[:12]}")
        self.names: list[str] = []

    def parquet(self, name: str, frame: pd.DataFrame) -> None:
        write_parquet_atomic(join(self.staging, name), frame)
        self.names.append(name)

    def file(self, name: str, local_path: str) -> None:
        """Stage a file already written locally (large outputs streamed to disk)."""
        fs, staging = filesystem(self.staging)
        fs.makedirs(staging, exist_ok=True)
        fs.put_file(local_path, f"{staging}/{name}")
        self.names.append(name)

    def bytes(self, name: str, data: bytes) -> None:
        write_bytes_atomic(join(self.staging, name), data)
        self.names.append(name)

    def json(self, name: str, obj: Any) -> None:
        write_json_atomic(join(self.staging, name), obj)
        self.names.append(name)

    def publish(self, report: dict[str, Any]) -> None:
        """Move the staged files into place, then write report.json, the completion marker."""
        fs, out = filesystem(self.out)
        remove(join(self.out, REPORT))  # an older report must not vouch for a mix of files
        for name in self.names:
            fs.mv(f"{filesystem(self.staging)[1]}/{name}", f"{out}/{name}")
        self.abandon()
        write_json_atomic(join(self.out, REPORT), report)

    def abandon(self) -> None:
        remove(self.staging, recursive=True)
