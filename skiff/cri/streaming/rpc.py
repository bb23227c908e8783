"""The CRI RuntimeService's streaming calls, each one line in the servicer: the
streaming server's URL for the request. Errors are skiff's, for the servicer's status
mapping (skiff.cri.status.answers): NotFound for an unknown container or pod, Conflict
for a container that is not running, InvalidArgument for a request that asks for no
stream or no command (the kubelet's streaming server refuses those too)."""

from __future__ import annotations

import skiff.cri.proto.api_pb2 as api_pb2
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cri.streaming.server import StreamingServer


def _check_streams(stdin: bool, stdout: bool, stderr: bool) -> None:
    if not (stdin or stdout or stderr):
        raise InvalidArgument("one of stdin, stdout, or stderr must be set")


def exec_response(server: StreamingServer, request: api_pb2.ExecRequest) -> api_pb2.ExecResponse:
    _check_streams(request.stdin, request.stdout, request.stderr)
    if not request.cmd:
        raise InvalidArgument("cmd must not be empty")
    return api_pb2.ExecResponse(url=server.exec_url(request))


def attach_response(
    server: StreamingServer, request: api_pb2.AttachRequest
) -> api_pb2.AttachResponse:
    _check_streams(request.stdin, request.stdout, request.stderr)
    return api_pb2.AttachResponse(url=server.attach_url(request))


def port_forward_response(
    server: StreamingServer, request: api_pb2.PortForwardRequest
) -> api_pb2.PortForwardResponse:
    return api_pb2.PortForwardResponse(url=server.port_forward_url(request))
