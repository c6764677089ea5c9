"""Row formats: the registry, and detection of a file's format from its columns.

The built-in formats register here in the order detection tries them: prompt/response before
plain text (a file with both `response` and `text` holds prompt/response rows), then the chat
forms (`messages`, ShareGPT `conversations`). `register` adds
a format (a plugin's, or a test's) after them; detection looks only among the formats of the
model's kind (`text`: a causal LM; `features`: a classifier).
"""

from __future__ import annotations

from curation.errors import InputError
from curation.formats.base import Check, Column, Limits, ModelKind, Reading, RowFormat, Tokens
from curation.formats.chat import Messages, ShareGPT
from curation.formats.features import Features
from curation.formats.text import PromptResponse, Text

__all__ = [
    "Check", "Column", "ModelKind", "Limits", "Reading", "RowFormat", "Tokens", "detect", "format_named",
    "interchangeable", "reader_of", "register",
]  # fmt: skip

FORMATS: dict[str, RowFormat] = {}


def register(cls: type[RowFormat]) -> type[RowFormat]:
    """Add a row format (usable as a class decorator); a name already taken is replaced."""
    FORMATS[cls.name] = cls()
    return cls


for _builtin in (Features, PromptResponse, Text, Messages, ShareGPT):
    register(_builtin)


def format_named(name: str) -> RowFormat:
    return FORMATS[name]


def kind_of(model: str) -> ModelKind:
    """`linear`/`mlp` read feature rows; anything else is a local Hugging Face directory of a causal LM."""
    from curation.rows import CLASSIFIER_MODELS

    return "features" if model in CLASSIFIER_MODELS else "text"


def reader_of(config) -> ModelKind | Reading:
    """What reads a run's rows (`CurationSettings`): a classifier's kind, or how its causal LM reads them."""
    kind = kind_of(config.model)
    if kind == "features":
        return kind
    return Reading(config.model, config.max_length, config.loss_on, config.score_on, config.truncation)


def interchangeable(row_format: RowFormat, names) -> RowFormat:
    """The format of a file with columns `names` where `row_format` is expected: `row_format` itself, or
    one that normalizes to the same form (a ShareGPT file where `messages` rows are); `row_format`
    when none fits (its missing column is then the error)."""
    if row_format.matches(names):
        return row_format
    same = [f for f in FORMATS.values() if f.normalizes_to() == row_format.normalizes_to() and f.matches(names)]
    return same[0] if same else row_format


def detect(names, kind: ModelKind, file: str, name: str) -> RowFormat:
    """The format of a file with columns `names` (the first of the kind's formats they fit);
    an InputError naming the file and the missing column if none fits."""
    candidates = [f for f in FORMATS.values() if f.kind == kind]
    for found in candidates:
        if found.matches(names):
            return found
    raise missing_columns(candidates, names, file, name)


def missing_columns(candidates: list[RowFormat], names, file: str, name: str, why: str = "") -> InputError:
    """The error for a file none of `candidates` fits: it names the first one's first missing column."""
    needs = ", or ".join(f.needs for f in candidates)
    rows = {"features": "feature rows"}.get(candidates[0].kind, f"{candidates[0].kind} rows")
    return InputError(
        f"required column missing from the {name} (expectation expect_column_to_exist failed; "
        f"{rows} need {needs}{why})",
        file=file,
        field=candidates[0].missing(names),
    )
