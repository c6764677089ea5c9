"""Run outputs, staged and published atomically: nothing half-written ever looks complete.

Files are written into a hidden staging folder under the output directory and moved into place
only when the run succeeds, `report.json` last: its presence marks a complete run. A failed run
removes its staging folder and leaves an earlier run's outputs as they were, but for a pool refused
as a whole: its quarantine and expectations are published with `rejected.json` (and no report).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from typing import Any

import pandas as pd

from curation.storage import (
    exists,
    filesystem,
    join,
    naming_a_full_disk,
    remove,
    write_bytes_atomic,
    write_json_atomic,
    write_parquet_atomic,
)
from curation.tempfiles import process_alive

REPORT = "report.json"
REJECTED = "rejected.json"  # the marker of a pool refused as a whole: its quarantine, no selection


STAGING = re.compile(r"^\.staging-([0-9a-f]{8})-(\d+)-")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


class StagedOutputs:
    def __init__(self, out: str):
        self.out = out.rstrip("/")
        # Named by host and process, so a later run can tell the staging folders of dead runs.
        self.staging = join(self.out, f".staging-{_host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:12]}")
        self.names: list[str] = []
        self.out_existed = exists(self.out)
        self.sweep_stale()

    def sweep_stale(self) -> None:
        """Remove staging folders that runs killed on this host (kill -9, a power cut) left behind."""
        if not self.out_existed:
            return
        fs, out = filesystem(self.out)
        try:
            entries = fs.ls(out, detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            match = STAGING.match(entry.rstrip("/").rsplit("/", 1)[-1])
            if match and match.group(1) == _host_tag() and not process_alive(int(match.group(2))):
                remove(fs.unstrip_protocol(entry), recursive=True)

    def parquet(self, name: str, frame: pd.DataFrame) -> None:
        write_parquet_atomic(join(self.staging, name), frame)
        self.names.append(name)

    def file(self, name: str, local_path: str) -> None:
        """Stage a file already written locally (large outputs streamed to disk)."""
        fs, staging = filesystem(self.staging)
        with naming_a_full_disk(join(self.out, name)):
            fs.makedirs(staging, exist_ok=True)
            fs.put_file(local_path, f"{staging}/{name}")
        self.names.append(name)

    def bytes(self, name: str, data: bytes) -> None:
        write_bytes_atomic(join(self.staging, name), data)
        self.names.append(name)

    def json(self, name: str, obj: Any) -> None:
        write_json_atomic(join(self.staging, name), obj)
        self.names.append(name)

    def publish(self, report: dict[str, Any], name: str = REPORT) -> None:
        """Move the staged files into place, then write `name` (report.json), the completion marker."""
        self._move_staged()
        self.abandon()
        remove(join(self.out, REJECTED))  # an earlier refusal in this folder no longer holds
        write_json_atomic(join(self.out, name), report)

    def _move_staged(self) -> None:
        """The staged files into place, after removing an older report (it must not vouch for a mix of files)."""
        fs, out = filesystem(self.out)
        remove(join(self.out, REPORT))
        for name in self.names:
            fs.mv(f"{filesystem(self.staging)[1]}/{name}", f"{out}/{name}")

    def publish_rejected(self, rejection: dict[str, Any]) -> None:
        """Move the staged files (the quarantine, the expectations) into place, then rejected.json:
        the folder says why the pool was refused, and holds no report.json (it is no complete run)."""
        self._move_staged()
        remove(self.staging, recursive=True)
        write_json_atomic(join(self.out, REJECTED), rejection)

    def abandon(self) -> None:
        """Remove the staging folder, and the output folder too if this run made it and it is empty."""
        remove(self.staging, recursive=True)
        if not self.out_existed:
            fs, out = filesystem(self.out)
            try:
                if fs.exists(out) and not fs.ls(out, detail=False):
                    fs.rmdir(out)
            except OSError:
                pass
