"""The base of every option model, and the command line generated from a model's fields.

`Options` makes a model frozen, refuse unknown names and take no bools for numbers; `parse`
turns values (the flags' strings, a flow's parameters) into the validated model or an
`InputError` naming the flag of the first bad value (exit 2). `add_options` builds one flag per
field (name, type, default, description) and `options_from` reads them back, so a field is the
only place an option is written. Only pydantic is imported here, so `curate --help` stays fast.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from curation.errors import InputError


class Flag:
    """A field's command-line flag where it is not `--<name-with-dashes>` (pydantic keeps this marker)."""

    def __init__(self, name: str):
        self.name = name


class Options(BaseModel):
    """Options are frozen, refuse unknown names and take no bools for numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_a_number(cls, value: Any, info) -> Any:
        annotation = cls.model_fields[info.field_name].annotation
        if isinstance(value, bool) and annotation in (int, float, int | None, float | None):
            raise ValueError(f"{value!r} is not a number")
        return value

    @classmethod
    def parse(cls, **values: Any):
        """The validated options, or an InputError naming the flag of the first bad value."""
        try:
            return cls(**values)
        except ValidationError as err:
            raise input_error(cls, err) from None


def flag_of(model: type[BaseModel], name: str) -> str:
    """The command-line flag of a field."""
    field = model.model_fields.get(name)
    marker = next((m for m in field.metadata if isinstance(m, Flag)), None) if field else None
    return marker.name if marker else "--" + name.replace("_", "-")


def input_error(model: type[BaseModel], err: ValidationError) -> InputError:
    """The first error pydantic found, as an InputError naming its flag."""
    first = err.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return InputError(f"unknown option {name!r}", field=flag_of(model, name))
    if first["type"] == "missing":
        return InputError("a value is required", field=flag_of(model, name))
    if not name:  # a check across fields, which names the flag it is about first ("--min-chars is above ...")
        flag = re.match(r"--[a-z][a-z-]*", message)
        return InputError(message, field=flag.group(0) if flag else None)
    shown = first.get("input")
    got = "" if isinstance(shown, (dict, BaseModel)) or str(shown) in message else f" (got {shown!r})"
    return InputError(f"{message}{got}", field=flag_of(model, name))


def add_options(parser, model: type[BaseModel], exclude: frozenset[str] = frozenset()) -> None:
    """One flag per field of `model`: its name (or `Flag`), description and default. Values stay
    strings here: the model converts and checks them (`options_from`), so a bad value is an
    InputError naming the flag, like every other bad input."""
    import argparse

    for name, field in model.model_fields.items():
        if name in exclude:
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS}
        if field.annotation is bool:
            kwargs["action"] = "store_true"
        elif getattr(field.annotation, "__origin__", None) is list:
            kwargs.update(action="append", metavar=name.upper().removesuffix("S"))
        else:
            choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
            kwargs["metavar"] = "{" + ",".join(choices) + "}" if choices else name.upper()
        default = field.get_default(call_default_factory=True)
        unset = field.is_required() or default is None or default is False or default in ([], {})
        shown = "" if unset else f" (default {default})"
        parser.add_argument(
            flag_of(model, name), required=field.is_required(), help=(field.description or "") + shown, **kwargs
        )


def options_from(model: type[Options], namespace, **fixed: Any):
    """The validated `model` from parsed flags (only those given: the model's defaults fill the rest)."""
    given = {name: value for name, value in vars(namespace).items() if name in model.model_fields}
    return model.parse(**{**given, **fixed})
