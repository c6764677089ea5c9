"""A run's settings, defined once: the command line, the flow's parameters and report.json's config are
one set of options, a bad value is refused before anything starts (exit 2, naming its flag), and the
settings say what a run writes and where its cache is."""

from __future__ import annotations

import argparse
import json

import pytest

from curation.config import CurateConfig, default_cache_dir
from curation.config.options import flag_of
from curation.errors import InputError
from curation.scorers import METHODS, SCORERS, scorer_for
from curation.scorers.base import Scorer

BASE = dict(pool="pool.parquet", out="out", validation="validation.parquet", model="linear", budget=10)


def flags_of(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for action in parser._actions for flag in action.option_strings if flag not in ("-h", "--help")}


def subcommand(name: str) -> argparse.ArgumentParser:
    from flows.cli import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices[name]


def field_names(flags: set[str]) -> set[str]:
    """The fields the flags set (a field may name its flag: `targets` is `--target`)."""
    by_flag = {flag_of(CurateConfig, name): name for name in CurateConfig.model_fields}
    return {by_flag.get(flag, flag.removeprefix("--").replace("-", "_")) for flag in flags}


def schema_properties(schema: dict, model: str) -> dict:
    return schema["definitions"][model]["properties"]


def test_the_cli_flags_the_flow_parameters_and_the_report_config_are_one_set():
    from flows.curate import curate

    flags = field_names(flags_of(subcommand("run")))
    parameters = set(schema_properties(curate.parameters.model_dump_for_openapi(), "CurateConfig"))
    report_config = set(CurateConfig(**BASE).model_dump(mode="json"))  # what build_report writes as `config`
    assert flags == parameters == report_config
    assert {
        "pool",
        "validation",
        "budget",
        "method",
        "warmup_steps",
        "skip_finetune",
        "finetune_epochs",
        "engine",
        "workers",
    } <= flags


@pytest.mark.parametrize("flow_path", ["flows.curate:curate", "flows.compare:compare", "flows.pools:curate_pools"])
def test_every_flow_parameter_has_a_description(flow_path):
    import importlib

    module, name = flow_path.split(":")
    schema = getattr(importlib.import_module(module), name).parameters.model_dump_for_openapi()
    described = [schema["properties"], *(d.get("properties", {}) for d in schema.get("definitions", {}).values())]
    for properties in described:
        for key, prop in properties.items():
            assert prop.get("description", "").strip(), f"{flow_path}: {key} has no description"


def cli_options(tmp_path) -> list[str]:
    """Good options for `curate run` or `compare` (the pool is never read: bad options stop the command first)."""
    return [
        "--pool",
        str(tmp_path / "missing.parquet"),
        "--validation",
        "v.parquet",
        "--model",
        "linear",
        "--budget",
        "10",
        "--out",
        str(tmp_path / "out"),
    ]


BAD_OPTIONS = [
    ("--budget", "2.5"),
    ("--budget", "nan"),
    ("--method", "best"),
    ("--engine", "spark"),
    ("--similarity", "min"),
    ("--selection", "all"),
    ("--seed", "-1"),
    ("--warmup-steps", "0"),
    ("--warmup-lr", "inf"),
    ("--warmup-rank", "1.5"),
    ("--finetune-epochs", "0"),
    ("--max-reject-share", "2"),
    ("--min-chars", "-1"),
    ("--max-chars", "0"),
    ("--max-length", "1"),
    ("--shard-rows", "0"),
    ("--workers", "2000"),
    ("--gradcos-fraction", "0"),
    ("--projection-dim", "x"),
    ("--model", "resnet50"),
    ("--min-chars", "50"),
    ("--device-slot", "."),  # no limit name the server takes
    ("--device-slot", ".."),
    ("--device-slot", "gpu slot"),
    ("--device-slot", "x" * 101),
]


@pytest.mark.parametrize(("flag", "value"), BAD_OPTIONS)
def test_a_bad_option_value_exits_2_naming_its_flag_before_anything_starts(flag, value, capsys, tmp_path):
    """In the command's own process: refused before any data is read or any server starts."""
    from flows.cli import main

    extra = ["--max-chars", "10"] if (flag, value) == ("--min-chars", "50") else []
    assert main(["run", *cli_options(tmp_path), *extra, flag, value]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("curate: error:") and f"'{flag}'" in lines[-1], lines
    assert not (tmp_path / "out").exists()


def test_the_method_choices_are_auto_and_the_scorer_registry():
    from typing import get_args

    assert get_args(CurateConfig.model_fields["method"].annotation) == ("auto", *METHODS)
    assert METHODS == tuple(SCORERS) and CurateConfig(**BASE).method == "auto"
    for method in METHODS:
        assert isinstance(scorer_for(method), Scorer)
    assert [m for m in METHODS if scorer_for(m).needs_warmup] == ["lossdrop", "lossdrop-raw", "blend"]
    assert [m for m in METHODS if scorer_for(m).random_ranking] == ["random"]


def test_the_report_config_is_plain_json_with_every_option():
    dumped = json.loads(json.dumps(CurateConfig(**BASE, warmup_steps=5).model_dump(mode="json")))
    assert dumped["warmup_steps"] == 5 and dumped["skip_finetune"] is False and dumped["finetune_epochs"] is None


def test_the_min_chars_may_not_exceed_the_max_chars():
    with pytest.raises(InputError) as error:
        CurateConfig.parse(**BASE, min_chars=20, max_chars=10)
    assert error.value.field == "--min-chars" and "above --max-chars" in str(error.value)
    assert CurateConfig.parse(**BASE, min_chars=10, max_chars=10).min_chars == 10


def test_the_settings_name_the_selection_files_the_ray_address_and_the_cache():
    config = CurateConfig(**BASE)
    assert config.selection_files == ("selection.parquet", "selection.jsonl")
    assert config.model_copy(update={"export_format": "jsonl"}).selection_files == ("selection.jsonl",)
    assert config.engine_address is None and CurateConfig(**BASE, engine="ray").engine_address is None
    assert CurateConfig(**BASE, engine="ray://10.0.0.1:10001").engine_address == "ray://10.0.0.1:10001"
    assert CurateConfig(**BASE, cache="mine").with_cache_dir().cache == "mine"


def test_the_cache_defaults_to_curate_cache_else_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CURATE_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == str(tmp_path / "c") == CurateConfig(**BASE).with_cache_dir().cache
    monkeypatch.delenv("CURATE_CACHE")
    assert default_cache_dir().rstrip("/").endswith("curate")
