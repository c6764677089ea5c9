"""`curate serve`'s options: every curation setting as a flag plus the service's own, further settings
as JSON checked like flags (flags win), and local paths made absolute for runs that start elsewhere."""

from __future__ import annotations

import argparse
import os

import pytest

from curation.config import CurationSettings, ServiceConfig
from curation.config.options import flag_of
from curation.config.service import NIGHTLY_CRON, absolute
from curation.errors import InputError


def test_serve_takes_every_curation_setting_as_a_flag_and_keeps_its_own_flags():
    from flows.cli import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {flag for action in commands.choices["serve"]._actions for flag in action.option_strings}
    assert {flag_of(CurationSettings, name) for name in CurationSettings.model_fields} <= flags
    assert {"--target", "--targets-file", "--trends", "--drift-ks"} <= flags
    assert {
        "--out-root",
        "--pool",
        "--cron",
        "--timezone",
        "--watch",
        "--watch-state",
        "--watch-every",
        "--runs-at-once",
        "--options",
    } <= flags


def test_serve_options_json_is_checked_like_flags_and_flags_win(tmp_path):
    config = ServiceConfig.parse(
        validation="v.parquet",
        model="linear",
        budget=5,
        out_root=str(tmp_path),
        options='{"seed": 3, "method": "random"}',
        seed=4,
    )
    assert (config.settings().seed, config.settings().method) == (4, "random")
    assert config.settings().validation == os.path.abspath("v.parquet")  # runs start in other folders
    for options, field in [
        ('{"sed": 3}', "--options"),
        ('{"method": "best"}', "--method"),
        ("[1]", "--options"),
        ("{nope", "--options"),
    ]:
        with pytest.raises(InputError) as error:
            ServiceConfig.parse(validation="v", model="linear", budget=5, out_root="r", options=options)
        assert error.value.field == field, (options, str(error.value))


def test_local_paths_are_made_absolute_and_urls_and_classifier_names_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert absolute("runs") == str(tmp_path / "runs") and absolute("s3://bucket/runs") == "s3://bucket/runs"
    assert absolute(None) is None
    config = ServiceConfig.parse(
        validation="v.parquet", model="linear", budget=5, out_root="runs", pools=["p.parquet", "s3://b/p.parquet"],
        watch_prefix="landing/", cache="cache",
    )  # fmt: skip
    assert (config.out_root, config.validation, config.cache) == tuple(
        str(tmp_path / name) for name in ("runs", "v.parquet", "cache")
    )
    assert config.pools == [str(tmp_path / "p.parquet"), "s3://b/p.parquet"] and config.model == "linear"
    assert config.watch_prefix == str(tmp_path / "landing")
    (tmp_path / "model").mkdir()
    assert ServiceConfig.parse(validation="v", model="model", budget=5, out_root="r").model == str(tmp_path / "model")


def test_served_targets_keep_their_names_and_weights_with_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = ServiceConfig.parse(
        targets=["code=val/code.parquet:3", "math=s3://b/math.parquet", "de=de.parquet:0.123456789"],
        model="linear", budget=5, out_root="runs", trends="trends",
    )  # fmt: skip
    assert config.targets == [
        f"code={tmp_path}/val/code.parquet:3.0",
        "math=s3://b/math.parquet:1.0",
        f"de={tmp_path}/de.parquet:0.123456789",
    ]
    assert [t.weight for t in config.target_options] == [3.0, 1.0, 0.123456789] and config.trends == str(
        tmp_path / "trends"
    )
    from_file = ServiceConfig.parse(targets_file="t.yaml", model="linear", budget=5, out_root="runs")
    assert from_file.targets_file == str(tmp_path / "t.yaml") and from_file.settings().several_targets


def test_the_service_defaults_and_the_settings_every_served_run_shares(tmp_path):
    config = ServiceConfig.parse(validation="v", model="linear", budget=5, out_root=str(tmp_path), seed=2)
    assert (config.cron, config.timezone, config.runs_at_once, config.watch_every_s) == (NIGHTLY_CRON, "UTC", 1, 300)
    settings = config.settings()
    assert type(settings) is CurationSettings and settings.seed == 2 and settings.budget == 5
    assert "out_root" not in settings.model_dump() and "options" not in config.model_dump()
    with pytest.raises(InputError) as error:
        ServiceConfig.parse(validation="v", model="linear", budget=5, out_root="r", watch_every_s=0)
    assert error.value.field == "--watch-every"
