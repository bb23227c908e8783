"""The gRPC server of ``skiff cri``: RuntimeService and ImageService on one unix socket
(the kubelet's containerRuntimeEndpoint, and its imageServiceEndpoint by default).

grpcio's synchronous server with a thread pool: each call runs on a worker thread, and a
pull (which fetches layers on threads of its own) blocks only its worker. The socket is
mode 0660, group ``skiff`` when there is one (as skiff serve's); a socket file no server
answers on is removed first; SIGTERM or SIGINT stops the server, lets calls in flight
finish for a few seconds, and removes the socket. Beside it runs the streaming server
(skiff.cri.streaming, HTTP on 127.0.0.1) that Exec, Attach and PortForward's URLs name."""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading

from skiff.errors import Conflict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.paths import Paths

DEFAULT_SOCKET = "/run/skiff/cri.sock"
WORKERS = 16
GRACE = 5.0  # seconds calls in flight may take after SIGTERM


def clear_stale_socket(path: str) -> None:
    """Remove ``path`` if it is a socket nobody listens on; refuse if a server answers
    there, or if it is not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise Conflict(f"{path} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # refused: a server that is gone left it
        return
    finally:
        probe.close()
    raise Conflict(f"another server is listening on {path}")


def _restrict(path: str) -> None:
    import grp

    os.chmod(path, 0o660)
    try:
        os.chown(path, 0, grp.getgrnam("skiff").gr_gid)
    except (KeyError, PermissionError):
        pass


def serve(paths: Paths, listen: str, ready: Callable[[], None], cni_conf_dir: str) -> None:
    """Serve the CRI on the unix socket ``listen`` until SIGTERM or SIGINT; pod networks
    come from the CNI configuration in ``cni_conf_dir``."""
    from concurrent import futures

    import grpc

    import skiff.cri.proto.api_pb2_grpc as api_pb2_grpc
    from skiff.cri.image_service import ImageService
    from skiff.cri.runtime_service import RuntimeService
    from skiff.cri.streaming import StreamingServer

    listen = os.path.abspath(listen)
    os.makedirs(os.path.dirname(listen), exist_ok=True)
    clear_stale_socket(listen)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="cri"),
        options=[  # the kubelet's limits (16 MiB)
            ("grpc.max_receive_message_length", 16 << 20),
            ("grpc.max_send_message_length", 16 << 20),
        ],
    )
    runtime = RuntimeService(paths, cni_conf_dir)
    runtime.streaming = streaming = StreamingServer(paths, runtime.netns_of)
    api_pb2_grpc.add_RuntimeServiceServicer_to_server(runtime, server)
    api_pb2_grpc.add_ImageServiceServicer_to_server(ImageService(paths), server)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGTERM, signal.SIGINT)}
    streaming.start()  # exec, attach and port-forward URLs point there
    try:
        umask = os.umask(0o117)  # the socket is never wider than 0660, not even for a moment
        try:
            server.add_insecure_port(f"unix:{listen}")
            server.start()
        finally:
            os.umask(umask)
        _restrict(listen)
        ready()
        while not stop.wait(3600):
            pass
    finally:
        server.stop(GRACE).wait()
        streaming.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        try:
            os.unlink(listen)
        except FileNotFoundError:
            pass
