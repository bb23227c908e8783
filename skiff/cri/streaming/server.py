"""The streaming server of ``skiff cri``: the URLs that Exec, Attach and PortForward
answer with, served by aiohttp on a thread of its own (its own event loop) in the CRI
process, as the kubelet's streaming server runs inside containerd and CRI-O.

``/exec/TOKEN``, ``/attach/TOKEN`` and ``/portforward/TOKEN``: the token names the
request the RPC stored (tokens.RequestCache); an unknown, used or expired one is a 404.
"""

from __future__ import annotations

import asyncio
import socket
import threading

from aiohttp import web

from skiff.cri.streaming.tokens import RequestCache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    import skiff.cri.proto.api_pb2 as api_pb2
    from skiff.paths import Paths


GRACE = 2.0  # seconds connections in flight get at stop() before they are cut


class StreamingServer:
    def __init__(
        self,
        paths: Paths,
        netns_of: Callable[[str], str],
        address: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.paths = paths
        self.netns_of = netns_of
        self.address = address
        self.port = port
        self.requests = RequestCache()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread: threading.Thread | None = None
        self.stopping: asyncio.Event | None = None
        self.runner: web.AppRunner | None = None

    # --- URLs, from the RPC's threads ----------------------------------------------------

    def _url(self, kind: str, request: object) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"http://{host}:{self.port}/{kind}/{self.requests.insert(kind, request)}"

    def exec_url(self, request: api_pb2.ExecRequest) -> str:
        """NotFound for an unknown container, Conflict for one that is not running."""
        self._check_running(request.container_id)
        return self._url("exec", request)

    def attach_url(self, request: api_pb2.AttachRequest) -> str:
        self._check_running(request.container_id)
        return self._url("attach", request)

    def port_forward_url(self, request: api_pb2.PortForwardRequest) -> str:
        """NotFound for an unknown pod (``netns_of`` says)."""
        self.netns_of(request.pod_sandbox_id)
        return self._url("portforward", request)

    def _check_running(self, container_id: str) -> None:
        from skiff.engine.engine import Engine
        from skiff.engine.exec import running_container
        from skiff.errors import NotFound

        if not container_id:
            raise NotFound("container id is empty")
        engine = Engine(self.paths)
        try:
            running_container(engine, container_id)
        finally:
            engine.close()  # unclosed, its connections' fds wait for a garbage collection

    # --- serving -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen, on a thread of our own; returns once listening (``port`` is then the
        real one)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(self._serve(started))
            except BaseException as e:
                failure.append(e)
            finally:
                started.set()

        self.thread = threading.Thread(target=main, name="cri-streaming", daemon=True)
        self.thread.start()
        started.wait()
        if failure:
            self.thread.join()
            raise failure[0]

    def stop(self) -> None:
        """Stop listening and end the sessions in flight (after GRACE seconds); their
        commands are killed as when their clients go away."""
        if self.loop is None or self.thread is None or self.stopping is None:
            return
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join()
        self.loop = self.thread = self.stopping = None

    async def _serve(self, started: threading.Event) -> None:
        """Until ``stop``; then asyncio.run cancels what is left and waits for it."""
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        await self._listen()
        started.set()
        try:
            await self.stopping.wait()
        finally:
            if self.runner is not None:
                await self.runner.cleanup()

    async def _listen(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/exec/{token}", self._exec)
        app.router.add_route("*", "/attach/{token}", self._attach)
        app.router.add_route("*", "/portforward/{token}", self._port_forward)
        self.runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=GRACE
        )
        await self.runner.setup()
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        listener = socket.create_server((self.address, self.port), family=family)
        self.port = listener.getsockname()[1]
        await web.SockSite(self.runner, listener).start()

    def _take(self, kind: str, request: web.Request) -> Any:
        stored = self.requests.consume(kind, request.match_info["token"])
        if stored is None:
            raise web.HTTPNotFound(text="unknown or expired token\n")
        return stored

    # --- handlers ----------------------------------------------------------------------

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        from skiff.cri.streaming import exec as execs
        from skiff.cri.streaming import remotecommand
        from skiff.cri.streaming.remote import Options

        stored: api_pb2.ExecRequest = self._take("exec", request)
        options = Options.of(stored.stdin, stored.stdout, stored.stderr, stored.tty)
        command = list(stored.cmd)
        return await remotecommand.serve(
            request,
            options,
            lambda remote: execs.run(self.paths, stored.container_id, command, remote),
        )

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        from skiff.cri.streaming import attach, remotecommand
        from skiff.cri.streaming.remote import Options

        stored: api_pb2.AttachRequest = self._take("attach", request)
        options = Options.of(stored.stdin, stored.stdout, stored.stderr, stored.tty)
        return await remotecommand.serve(
            request, options, lambda remote: attach.run(self.paths, stored.container_id, remote)
        )

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        from skiff.cri.streaming import portforward

        stored: api_pb2.PortForwardRequest = self._take("portforward", request)
        pod = stored.pod_sandbox_id
        return await portforward.serve(request, pod, list(stored.port), lambda: self.netns_of(pod))
