"""`curate serve`'s options: `ServiceConfig`, the settings every served run shares plus what the
service needs (where runs write, the nightly pools and schedule, the watcher). Local paths are made
absolute when it is built, since the runs start in other processes and folders."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

from pydantic import Field, model_validator

from curation.config.options import Flag
from curation.config.settings import CurationSettings
from curation.rows import CLASSIFIER_MODELS
from curation.targets import TargetOption

NIGHTLY_CRON = "0 2 * * *"


def absolute(path: str | None) -> str | None:
    """A local path made absolute; URLs (s3://...) and None as they are."""
    return path if path is None or "://" in path else os.path.abspath(path)


class ServiceConfig(CurationSettings):
    """`curate serve`: the nightly and pool-landed deployments, with the settings every run shares."""

    out_root: str = Field(description="Each run writes to <out-root>/<pool name>-<hash>/<UTC time>/, local or s3://")
    pools: Annotated[list[str], Flag("--pool")] = Field(
        default_factory=list, description="A pool to curate every night (repeat the flag for several)"
    )
    cron: str = Field(NIGHTLY_CRON, description="Nightly schedule (cron syntax)")
    timezone: str = Field("UTC", description="Time zone of --cron")
    watch_prefix: Annotated[str | None, Flag("--watch")] = Field(
        None, description="Also run the watcher on this prefix (and trigger only for pools under it)"
    )
    watch_state: str | None = Field(
        None, description="The watcher's state file (default: <out-root>/watch-state/<hash of the prefix>.json)"
    )
    watch_every_s: Annotated[int, Flag("--watch-every")] = Field(300, ge=1, description="Seconds between listings")
    runs_at_once: int = Field(1, ge=1, le=1024, description="Flow runs this process runs at once; later ones wait")
    options: dict[str, Any] = Field(
        default_factory=dict,
        exclude=True,
        description="Further `curate run` settings as JSON, e.g. '{\"seed\": 1}'; flags given as well win",
    )

    @model_validator(mode="before")
    @classmethod
    def _merge_options(cls, data: Any) -> Any:
        """`options` (JSON text or an object) are settings like any other flag: checked the same way."""
        if not isinstance(data, dict) or not data.get("options"):
            return data
        options = data["options"]
        if isinstance(options, str):
            try:
                options = json.loads(options)
            except json.JSONDecodeError as err:
                raise ValueError(f"--options is not JSON: {err}") from None
        if not isinstance(options, dict):
            raise ValueError("--options: give a JSON object of curate settings")
        unknown = sorted(set(options) - set(CurationSettings.model_fields))
        if unknown:
            raise ValueError(f"--options names no curate setting: {', '.join(unknown)}")
        return {**options, **data, "options": {}}

    @model_validator(mode="after")
    def _absolute_paths(self):
        """Runs start in other processes and folders: local paths are fixed to absolute ones now."""
        paths = ("validation", "test", "targets_file", "cache", "trends", "out_root", "watch_prefix", "watch_state")
        updates = {name: absolute(getattr(self, name)) for name in paths}
        targets = [TargetOption.parse(text) for text in self.targets]
        updates["targets"] = [f"{t.name}={absolute(t.validation)}:{t.weight!r}" for t in targets]
        updates["pools"] = [absolute(pool) for pool in self.pools]
        if self.model not in CLASSIFIER_MODELS:
            updates["model"] = absolute(self.model)
        for name, value in updates.items():
            object.__setattr__(self, name, value)  # frozen model: set once, while it is built
        return self

    def settings(self) -> CurationSettings:
        """The settings every served run shares."""
        return CurationSettings(**self.model_dump(include=set(CurationSettings.model_fields)))
