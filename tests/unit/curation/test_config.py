"""One definition of every option: the command line, the flow's parameters and report.json's config
all come from curation/config/, and bad values are refused there, naming the flag."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
from pydantic import Field

from curation.config import CurateConfig, CurationSettings, ServiceConfig
from curation.config.options import add_options, flag_of
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
    return {flag.removeprefix("--").replace("-", "_") for flag in flags}


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


def test_an_option_added_to_the_definition_appears_in_the_cli_the_flow_form_and_the_report():
    """What a new option costs: one field. (A test-only subclass; the real config is left alone.)"""
    from prefect.utilities.callables import parameter_schema

    class WithTemperature(CurateConfig):
        temperature: float = Field(1.0, gt=0, description="A harmless new option")

    parser = argparse.ArgumentParser()
    add_options(parser, WithTemperature)
    assert "--temperature" in flags_of(parser)
    args = parser.parse_args(
        ["--pool", "p", "--out", "o", "--validation", "v", "--model", "linear", "--budget", "5", "--temperature", "0.5"]
    )
    assert WithTemperature.parse(**vars(args)).temperature == 0.5

    def flow_function(config):
        """Args:
        config: the run's options."""

    flow_function.__annotations__ = {"config": WithTemperature}  # a local class: no string annotation

    schema = parameter_schema(flow_function).model_dump_for_openapi()
    assert schema_properties(schema, "WithTemperature")["temperature"]["description"] == "A harmless new option"
    assert "temperature" in WithTemperature(**BASE).model_dump(mode="json")
    with pytest.raises(InputError) as error:
        WithTemperature.parse(**BASE, temperature=0)
    assert error.value.field == "--temperature"


@pytest.mark.parametrize("flow_path", ["flows.curate:curate", "flows.compare:compare", "flows.pools:curate_pools"])
def test_every_flow_parameter_has_a_description(flow_path):
    import importlib

    module, name = flow_path.split(":")
    schema = getattr(importlib.import_module(module), name).parameters.model_dump_for_openapi()
    described = [schema["properties"], *(d.get("properties", {}) for d in schema.get("definitions", {}).values())]
    for properties in described:
        for key, prop in properties.items():
            assert prop.get("description", "").strip(), f"{flow_path}: {key} has no description"


def test_serve_takes_every_curation_setting_as_a_flag_and_keeps_its_own_flags():
    flags = flags_of(subcommand("serve"))
    assert {flag_of(CurationSettings, name) for name in CurationSettings.model_fields} <= flags
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


def test_compare_methods_are_checked_before_anything_starts(capsys, tmp_path):
    from flows.cli import main

    assert main(["compare", *cli_options(tmp_path), "--methods", "lossdrop,lossdrop"]) == 2
    assert "'--methods'" in capsys.readouterr().err.strip().splitlines()[-1]


def test_help_starts_without_torch_prefect_or_great_expectations():
    code = (
        "import sys\nfrom flows.cli import main\n"
        "for command in ('run', 'compare', 'serve'):\n"
        "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'prefect', 'great_expectations', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--warmup-steps" in done.stdout and "--runs-at-once" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"


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
