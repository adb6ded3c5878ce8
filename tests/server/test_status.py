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
    assert status_code(errors.StorageFullError("x")) is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert set(ERROR_CODES) == set(errors.STATUS_NAMES)


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


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_client_fallback_is_derived_from_the_server_table(cls: type[errors.DolphinError]) -> None:
    """Without the class name, every error comes back as the general class of its code: one that the server's
    own class for that code is, or that stands for it (FAILED_PRECONDITION is a PreconditionError, never a stale
    page token unless the server says so)."""
    from dolphin.client import CODE_ERRORS

    code = status_code(cls.from_message("m"))
    general = [c for c, name in errors.STATUS_NAMES.items() if grpc.StatusCode[name] is code][0]
    error = to_dolphin_error(FakeRpcError(code, "m", None))
    if code is grpc.StatusCode.UNAVAILABLE:  # transport failures share it: kept as ServerError with the code
        assert CODE_ERRORS[code] is errors.NotReadyError and getattr(error, "code", None) is code
    else:
        assert type(error) is general and CODE_ERRORS[code] is general


def test_status_messages_are_always_encodable() -> None:
    from dolphin.server.status import encodable

    assert encodable('unknown dimension "\ud800x"') == 'unknown dimension "\\ud800x"'
    assert encodable("杭州 é") == "杭州 é"
    encodable("\udfff" * 3).encode("utf-8")
