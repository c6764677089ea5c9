"""The one error type a user is meant to see: bad input, reported with file, row and field."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: the command line exits with code 2 and prints this message, no traceback."""

    def __init__(self, message: str, *, file: str | None = None, row: int | None = None,
                 field: str | None = None, hint: str | None = None):
        self.file, self.row, self.field, self.hint = file, row, field, hint
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = (", ".join(where) + ": " if where else "") + self.detail
        if self.hint:
            text += f" ({self.hint})"
        return text
