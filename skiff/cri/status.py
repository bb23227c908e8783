"""skiff's errors as gRPC status codes, as containerd's CRI plugin maps its own
(errdefs.ToGRPC): NotFound -> NOT_FOUND, InvalidArgument -> INVALID_ARGUMENT, Conflict ->
FAILED_PRECONDITION, any other skiff or OS error -> UNKNOWN, a bug -> INTERNAL. The
message is one line, as the CLI prints it."""

from __future__ import annotations

import functools

from skiff.errors import Conflict, InvalidArgument, NotFound, SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NoReturn, TypeVar

    import grpc

    F = TypeVar("F", bound=Callable[..., Any])


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The gRPC code and the one-line message of an error."""
    import grpc

    from skiff.cri.exec_sync import DeadlineExceeded

    if isinstance(error, NotFound):
        code = grpc.StatusCode.NOT_FOUND
    elif isinstance(error, DeadlineExceeded):
        code = grpc.StatusCode.DEADLINE_EXCEEDED
    elif isinstance(error, InvalidArgument):
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(error, Conflict):
        code = grpc.StatusCode.FAILED_PRECONDITION
    elif isinstance(error, SkiffError | OSError):
        code = grpc.StatusCode.UNKNOWN
    else:
        code = grpc.StatusCode.INTERNAL
    if isinstance(error, SkiffError):
        message = str(error)
    elif isinstance(error, OSError):  # as Go words it: ``open x: no such file or directory``
        reason = (error.strerror or str(error)).lower()
        message = f"{error.filename}: {reason}" if error.filename is not None else reason
    else:
        message = f"{type(error).__name__}: {error}"
    return code, " ".join(message.split()) or type(error).__name__


def answers(method: F) -> F:
    """An RPC handler whose errors become the gRPC status ``status_of`` gives (an abort
    the handler made itself passes through)."""

    @functools.wraps(method)
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as error:
            if _is_abort(error):
                raise
            code, message = status_of(error)
            abort(context, code, message)

    return handler  # type: ignore[return-value]


def abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("unreachable: context.abort raises")  # pragma: no cover


def _is_abort(error: BaseException) -> bool:
    """grpc's abort raises a bare Exception after setting the status on the context."""
    return type(error) is Exception and not error.args
