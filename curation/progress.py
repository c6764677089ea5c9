"""Terminal progress bars for long stages (warmup, scoring, finetune)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

from tqdm.auto import tqdm

from curation.models.base import Progress


@contextmanager
def progress_bar(total: int, desc: str, unit: str = "row") -> Iterator[Progress]:
    """A tqdm bar on stderr; yields the callable adapters report progress through."""
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
              mininterval=0.5, leave=True) as bar:
        yield bar.update
