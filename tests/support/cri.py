"""``skiff cri`` as a test drives it: a real server process on a unix socket, and a CRI v1
client generated from the same proto (skiff/data/cri-api-v1.proto)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest

from skiff.cri.proto import api_pb2 as cri
from skiff.cri.proto import api_pb2_grpc as cri_grpc
from tests.support.cli import Skiff

TIMEOUT = 120  # seconds a call may take (a pull)


class CriServer:
    """``skiff cri --listen SOCKET`` over the store of ``skiff``, with its two clients."""

    def __init__(self, skiff: Skiff, base: Path, *args: str) -> None:
        self.skiff = skiff
        self.args = args
        self.socket = base / "cri.sock"
        self.log_path = base / "cri.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.channel: grpc.Channel | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = self.skiff.popen(
                "cri", "--listen", str(self.socket), *self.args,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while "CRI v1 listening" not in self.log():
            assert self.process.poll() is None, f"skiff cri died:\n{self.log()}"
            assert time.monotonic() < deadline, f"skiff cri did not start:\n{self.log()}"
            time.sleep(0.05)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.runtime = cri_grpc.RuntimeServiceStub(self.channel)
        self.images = cri_grpc.ImageServiceStub(self.channel)

    def stop(self) -> int | None:
        """SIGTERM, as systemd stops it: the exit status, None if it was still there 20
        seconds later (then killed)."""
        if self.channel is not None:
            self.channel.close()
        if self.process is None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return None

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
