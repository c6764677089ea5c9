"""The option models' base and the command line made from their fields: a value is checked by the
model whichever way it comes (a flag's string, a flow parameter), a bad one is an InputError naming its
flag, and a new option is one field that reaches the flags, the flow's form and report.json."""

from __future__ import annotations

import argparse
from typing import Annotated, Literal

import pytest
from pydantic import Field, ValidationError, model_validator

from curation.config import CurateConfig
from curation.config.options import Flag, Options, add_options, flag_of, options_from
from curation.errors import InputError

BASE = dict(pool="pool.parquet", out="out", validation="validation.parquet", model="linear", budget=10)


class Knobs(Options):
    """A test-only option model: one field of each kind the command line handles."""

    steps: int = Field(3, ge=1, description="How many steps")
    rate: float | None = Field(None, description="A rate")
    fast: bool = Field(False, description="Go fast")
    mode: Literal["a", "b"] = Field("a", description="The mode")
    pools: Annotated[list[str], Flag("--pool")] = Field(default_factory=list, description="A pool (repeat)")
    low: int = 0
    high: int = 10

    @model_validator(mode="after")
    def _in_order(self):
        if self.low > self.high:
            raise ValueError("--low is above --high")
        return self


def knobs_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_options(parser, Knobs)
    return parser


def test_an_option_added_to_the_definition_appears_in_the_cli_the_flow_form_and_the_report():
    """What a new option costs: one field. (A test-only subclass; the real config is left alone.)"""
    from prefect.utilities.callables import parameter_schema

    class WithTemperature(CurateConfig):
        temperature: float = Field(1.0, gt=0, description="A harmless new option")

    parser = argparse.ArgumentParser()
    add_options(parser, WithTemperature)
    assert "--temperature" in {flag for action in parser._actions for flag in action.option_strings}
    args = parser.parse_args(
        ["--pool", "p", "--out", "o", "--validation", "v", "--model", "linear", "--budget", "5", "--temperature", "0.5"]
    )
    assert WithTemperature.parse(**vars(args)).temperature == 0.5

    def flow_function(config):
        """Args:
        config: the run's options."""

    flow_function.__annotations__ = {"config": WithTemperature}  # a local class: no string annotation

    schema = parameter_schema(flow_function).model_dump_for_openapi()
    assert (
        schema["definitions"]["WithTemperature"]["properties"]["temperature"]["description"] == "A harmless new option"
    )
    assert "temperature" in WithTemperature(**BASE).model_dump(mode="json")
    with pytest.raises(InputError) as error:
        WithTemperature.parse(**BASE, temperature=0)
    assert error.value.field == "--temperature"


def test_each_field_is_a_flag_of_its_kind_and_only_given_flags_reach_the_model():
    parser = knobs_parser()
    args = parser.parse_args(["--steps", "5", "--fast", "--pool", "a.parquet", "--pool", "b.parquet", "--mode", "b"])
    knobs = options_from(Knobs, args)
    assert (knobs.steps, knobs.fast, knobs.pools, knobs.mode, knobs.rate) == (
        5,
        True,
        ["a.parquet", "b.parquet"],
        "b",
        None,
    )
    assert options_from(Knobs, parser.parse_args([])) == Knobs()  # the model's defaults, not argparse's
    assert options_from(Knobs, parser.parse_args(["--steps", "5"]), steps=7).steps == 7  # fixed values win
    help_text = parser.format_help()
    assert "How many steps (default 3)" in help_text and "{a,b}" in help_text and "(default False)" not in help_text


def test_a_fields_flag_is_its_name_with_dashes_or_its_own():
    assert flag_of(Knobs, "steps") == "--steps" and flag_of(Knobs, "pools") == "--pool"
    assert flag_of(CurateConfig, "warmup_steps") == "--warmup-steps"
    assert flag_of(Knobs, "not_a_field") == "--not-a-field"


@pytest.mark.parametrize(
    "values,field,says",
    [
        ({"steps": "0"}, "--steps", "greater than or equal to 1"),
        ({"steps": True}, "--steps", "True is not a number"),  # a bool is never a number
        ({"rate": False}, "--rate", "False is not a number"),
        ({"mode": "c"}, "--mode", "'a' or 'b'"),
        ({"speed": 1}, "--speed", "unknown option 'speed'"),
        ({"low": 5, "high": 1}, "--low", "--low is above --high"),  # a check across fields names its flag
    ],
)
def test_a_bad_value_is_an_input_error_naming_its_flag(values, field, says):
    with pytest.raises(InputError) as error:
        Knobs.parse(**values)
    assert error.value.field == field and says in str(error.value), str(error.value)


def test_a_required_option_missing_names_its_flag_and_options_are_frozen():
    with pytest.raises(InputError) as error:
        CurateConfig.parse(**{k: v for k, v in BASE.items() if k != "budget"})
    assert error.value.field == "--budget" and "a value is required" in str(error.value)
    with pytest.raises(ValidationError, match="frozen"):
        Knobs().steps = 4
