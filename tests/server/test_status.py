"""Every Dolphin error has exactly one status code, and the client maps it back to the same class."""

from __future__ import annotations

import inspect

import grpc
import pytest

from dolphin import errors
from dolphin.client import to_dolphin_error
from dolphin.server.status import ERROR_CODES, status_code

ALL_ERRORS = [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
              if issubclass(cls, errors.DolphinError) and cls is not errors.DolphinError]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_has_a_proper_code(cls: type[errors.DolphinError]) -> None:
    code = status_code(cls.from_message("x"))
    assert code not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK)


def test_table_examples() -> None:
    assert status_code(errors.QuerySyntaxError(errors.Position(1, 2), "x", "")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(errors.UnknownDimensionError("citty", "city")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(errors.QueryLimitError("terms", 9, 5, "max_terms")) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status_code(errors.AudienceNotFoundError("x")) is grpc.StatusCode.NOT_FOUND
    assert status_code(errors.AudienceExistsError("x")) is grpc.StatusCode.ALREADY_EXISTS
    assert status_code(errors.NotReadyError()) is grpc.StatusCode.UNAVAILABLE
    assert status_code(errors.DeadlineError("count", 1.0)) is grpc.StatusCode.DEADLINE_EXCEEDED
    assert status_code(errors.StalePageTokenError(1, 2)) is grpc.StatusCode.FAILED_PRECONDITION
    assert len(ERROR_CODES) == len(set(ERROR_CODES))


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str, error_class: str | None) -> None:
        self._code, self._details = code, details
        self._trailing = (("dolphin-error", error_class),) if error_class else ()

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._trailing


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_client_rebuilds_the_same_class(cls: type[errors.DolphinError]) -> None:
    error = to_dolphin_error(FakeRpcError(status_code(cls.from_message("m")), "the message", cls.__name__))
    assert type(error) is cls and str(error) == "the message"


def test_client_without_metadata_falls_back_to_the_code() -> None:
    assert isinstance(to_dolphin_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, "m", None)), errors.NotFoundError)
    assert isinstance(to_dolphin_error(FakeRpcError(grpc.StatusCode.INTERNAL, "m", "os")), errors.DolphinError)


def test_status_messages_are_always_encodable() -> None:
    from dolphin.server.status import encodable

    assert encodable('unknown dimension "\ud800x"') == 'unknown dimension "\\ud800x"'
    assert encodable("杭州 é") == "杭州 é"
    encodable("\udfff" * 3).encode("utf-8")
