"""Every option of a curation run, defined once, as pydantic models.

`CurationSettings` holds what a run needs besides the pool and where it writes; `CurateConfig`
adds those two and is the one parameter of the `curate` flow (`settings.py`); `ServiceConfig` adds
what `curate serve` needs (`service.py`). From these models come, with nothing copied by hand:

- the command line: `options.py` builds each flag from a field (name, type, default, description)
  and turns the flags' strings into a validated model;
- the flow's parameters: Prefect turns the model into the UI's run form, a description per field;
- report.json's `config`: a dump of the run's `CurateConfig`.

A bad value is an `InputError` naming the flag (exit 2), raised before any data is read.
Only pydantic is imported here, so `curate --help` stays fast.
"""

from curation.config.service import NIGHTLY_CRON, ServiceConfig, absolute
from curation.config.settings import (
    SEED_MAX,
    Budget,
    CurateConfig,
    CurationSettings,
    Method,
    PoolAndOutput,
    Scope,
    Selection,
    Start,
    default_cache_dir,
)

__all__ = [
    "NIGHTLY_CRON",
    "SEED_MAX",
    "Budget",
    "CurateConfig",
    "CurationSettings",
    "Method",
    "PoolAndOutput",
    "Scope",
    "Selection",
    "ServiceConfig",
    "Start",
    "absolute",
    "default_cache_dir",
]
