"""The errors a user is meant to see, each ending a command with one line and its exit code.

- `InputError` (exit 2): bad input or option, with the file, row and field (or the flag).
- `EnvironmentFault` (exit 3): the machine or a service failed, not the input: a full disk, the
  Prefect API or S3 unreachable after retries. `environment_fault` recognises such exceptions
  from the libraries underneath (OSError errnos, httpx and botocore connection errors).
"""

from __future__ import annotations

import errno

EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3


class InputError(Exception):
    """Bad input: the command line exits with code 2 and prints this message, no traceback."""

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ):
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


class EnvironmentFault(Exception):
    """The environment failed (disk, network, a service): exit code 3, one line."""

    exit_code = EXIT_ENVIRONMENT


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # errnos of a write that found no room


def exception_chain(err: BaseException | None):
    """err, then its cause or context, and so on (each once)."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def environment_fault(err: BaseException) -> EnvironmentFault | None:
    """The EnvironmentFault an exception (or one in its cause chain) amounts to, or None."""
    for link in exception_chain(err):
        if isinstance(link, EnvironmentFault):
            return link
        if isinstance(link, OSError) and link.errno in DISK_FULL:  # writes through storage name their file
            return EnvironmentFault(
                f"no space left on a device ({link.strerror}); free some space (also in the "
                "temporary folder, $TMPDIR) or point --out/--cache elsewhere, then run again"
            )
        name = type(link).__name__
        module = type(link).__module__ or ""
        if module.startswith(("httpx", "httpcore")) and ("Connect" in name or "Timeout" in name or "Network" in name):
            return EnvironmentFault(f"cannot reach the Prefect API ({name}: {link}); is the server up?")
        if "prefect" in module and "Failed to reach API" in str(link):
            return EnvironmentFault(f"cannot reach the Prefect API: {link}")
        if module.startswith(("botocore", "aiobotocore")) and ("Endpoint" in name or "Connect" in name):
            return EnvironmentFault(f"cannot reach the S3 endpoint ({name}: {link}); check AWS_ENDPOINT_URL")
    return None
