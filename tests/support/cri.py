"""``skiff cri`` as a test drives it: a real server process on a unix socket, and a CRI v1
client generated from the same proto (skiff/data/cri-api-v1.proto)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri.proto import api_pb2 as cri
from skiff.cri.proto import api_pb2_grpc as cri_grpc
from tests.support.cli import Skiff
from tests.support.server_process import ServerProcess

TIMEOUT = 120  # seconds a call may take (a pull)


class CriServer(ServerProcess):
    """``skiff cri --listen SOCKET ARGS`` over the store of ``skiff``, with its two clients."""

    def __init__(self, skiff: Skiff, base: Path, *args: str) -> None:
        self.socket = base / "cri.sock"
        super().__init__(
            skiff,
            ["cri", "--listen", str(self.socket), *args],
            "CRI v1 listening",
            base / "cri.log",
        )
        self.channel: grpc.Channel | None = None

    def start(self) -> None:
        super().start()
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.runtime = cri_grpc.RuntimeServiceStub(self.channel)
        self.images = cri_grpc.ImageServiceStub(self.channel)

    def stop(self) -> int | None:
        if self.channel is not None:
            self.channel.close()
        return super().stop()

    # --- calls ---------------------------------------------------------------------------

    def pull(self, image: str, auth: Any = None) -> str:
        request = cri.PullImageRequest(image=cri.ImageSpec(image=image), auth=auth)
        return str(self.images.PullImage(request, timeout=TIMEOUT).image_ref)

    def status(self, image: str, verbose: bool = False) -> Any:
        request = cri.ImageStatusRequest(image=cri.ImageSpec(image=image), verbose=verbose)
        return self.images.ImageStatus(request, timeout=TIMEOUT)

    def list(self, image: str = "") -> list[Any]:
        request = cri.ListImagesRequest()
        if image:
            request.filter.image.image = image
        return list(self.images.ListImages(request, timeout=TIMEOUT).images)

    def remove(self, image: str) -> None:
        request = cri.RemoveImageRequest(image=cri.ImageSpec(image=image))
        self.images.RemoveImage(request, timeout=TIMEOUT)

    def error(self, call: Any, request: Any) -> grpc.RpcError:
        """The error ``call(request)`` fails with (it must fail)."""
        with pytest.raises(grpc.RpcError) as failed:
            call(request, timeout=TIMEOUT)
        return failed.value


@contextmanager
def running_cri(store: Skiff, *args: str) -> Iterator[CriServer]:
    """``skiff cri`` on a socket under /tmp (a unix socket's path is short); stopped with
    SIGTERM at the end, which must remove its socket. Its log is printed at the end, which
    pytest shows when the test failed."""
    base = Path(tempfile.mkdtemp(prefix="skiff-cri-"))
    running = CriServer(store, base, *args)
    try:
        running.start()
        yield running
    finally:
        code = running.stop()
        print(f"--- skiff cri (exit {code}) ---\n{running.log()}--- end of skiff cri's log ---")
        socket_left = running.socket.exists()
        shutil.rmtree(base, ignore_errors=True)
    assert code == 0, f"skiff cri exited {code} on SIGTERM"
    assert not socket_left, "skiff cri left its socket behind"
