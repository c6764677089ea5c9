"""The README matches the code: every `curate` flag it names exists, every value it lists for an
option is accepted, and every module it points at is there."""

from __future__ import annotations

import argparse
import re

import pytest
from conftest import REPO

from flows.cli import checked_options, parser

README = (REPO / "README.md").read_text()
OTHER_TOOLS = (
    "docker ",
    "ruff ",
    "rclone ",
    "pip ",
    "pytest ",
    "prefect ",
    "python -m pytest",
    "setpriv ",
    "initdb ",
    "/postgres ",
    "createdb ",
)
FLAG = r"(?<![\w-])(--[a-z][a-z0-9-]*)"
RUN = ["run", "--pool", "p", "--validation", "v", "--model", "linear", "--budget", "5", "--out", "o"]


def curate_lines() -> list[str]:
    """README lines that may name curate's flags: all but those running another tool."""
    return [line for line in README.splitlines() if not any(tool in line for tool in OTHER_TOOLS)]


def curate_flags(command: argparse.ArgumentParser | None = None) -> set[str]:
    """Every flag of `curate` and of its commands (`curate model fetch` included)."""
    found = set()
    for action in (command or parser())._actions:
        found |= set(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found |= curate_flags(sub)
    return found


def listed_values() -> list[tuple[str, str]]:
    """(flag, value) for every `--flag a|b|c` the README writes; placeholders in capitals made concrete."""
    pairs = []
    for line in curate_lines():
        for flag, values in re.findall(FLAG + r" ([\w:/.]+(?:\|[\w:/.]+)+)", line):
            pairs += [(flag, value.replace("ADDRESS", "127.0.0.1:10001")) for value in values.split("|")]
    return sorted(set(pairs))


def test_every_flag_the_readme_names_exists():
    named = {flag for line in curate_lines() for flag in re.findall(FLAG, line)}
    assert len(named) > 30  # the README documents the options, so this reads them
    assert named - curate_flags() == set()


@pytest.mark.parametrize("flag,value", listed_values())
def test_every_value_the_readme_lists_is_accepted(flag, value):
    args = parser().parse_args([*RUN, flag, value])
    config = checked_options(args)
    assert str(getattr(config, flag[2:].replace("-", "_"))) == value


def test_the_listed_values_include_the_calibration_criteria():
    assert {("--calibration-criterion", c) for c in ("auc", "drop", "gradient")} <= set(listed_values())


def test_the_files_the_docs_name_exist():
    text = README + "".join(p.read_text() for pkg in ("curation", "flows", "tasks") for p in (REPO / pkg).rglob("*.py"))
    path = r"((?:curation|tasks|flows|tests|benchmarks|infra)/[\w/.-]+\.(?:py|sh|yaml|yml|md))"
    named = (
        set(re.findall(rf"`{path}`", text)) | set(re.findall(rf"\({path}\)", text)) | set(re.findall(rf" {path}", text))
    )
    assert len(named) > 20 and {p for p in named if not (REPO / p).exists()} == set()
