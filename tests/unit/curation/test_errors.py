"""The errors a user sees: one line naming file, row and field (exit 2), and environment faults
(exit 3) recognised anywhere in an exception's chain."""

from __future__ import annotations

import errno

import httpx

from curation.errors import (
    EXIT_BAD_INPUT,
    EXIT_ENVIRONMENT,
    EnvironmentFault,
    InputError,
    environment_fault,
    exception_chain,
)


def test_an_input_error_is_one_line_naming_file_row_field_and_hint():
    err = InputError("value is not a number", file="pool.jsonl", row=7, field="label", hint="labels are 0-3")
    assert str(err) == "file pool.jsonl, row 7, field 'label': value is not a number (labels are 0-3)"
    assert (err.file, err.row, err.field, err.detail) == ("pool.jsonl", 7, "label", "value is not a number")
    assert err.exit_code == EXIT_BAD_INPUT == 2
    assert str(InputError("a value is required", field="--pool")) == "field '--pool': a value is required"
    assert str(InputError("no rows")) == "no rows"
    assert str(InputError("bad", row=0)) == "row 0: bad"  # row 0 is a row, not an absent one


def test_a_full_disk_anywhere_in_the_chain_is_an_environment_fault():
    def raised_from(cause: BaseException) -> BaseException:
        try:
            try:
                raise cause
            except BaseException as inner:
                raise RuntimeError("writing the shard failed") from inner
        except RuntimeError as outer:
            return outer

    for code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        fault = environment_fault(raised_from(OSError(code, "No space left on device")))
        assert isinstance(fault, EnvironmentFault) and fault.exit_code == EXIT_ENVIRONMENT == 3
        assert "no space left" in str(fault) and "--out/--cache" in str(fault)
    assert environment_fault(raised_from(OSError(errno.EACCES, "Permission denied"))) is None
    assert environment_fault(ValueError("a bug")) is None
    given = EnvironmentFault("disk gone")
    assert environment_fault(raised_from(given)) is given


def test_an_unreachable_api_or_endpoint_is_an_environment_fault():
    fault = environment_fault(httpx.ConnectError("connection refused"))
    assert fault is not None and "cannot reach the Prefect API" in str(fault) and "ConnectError" in str(fault)
    assert environment_fault(httpx.ReadTimeout("slow")) is not None
    assert environment_fault(httpx.HTTPStatusError("500", request=None, response=None)) is None


def test_the_chain_visits_each_exception_once_even_in_a_cycle():
    first, second = ValueError("first"), KeyError("second")
    first.__cause__, second.__context__ = second, first
    assert list(exception_chain(first)) == [first, second]
    assert list(exception_chain(None)) == []
