"""A TCP connection to 127.0.0.1:PORT inside a pod's network namespace.

A socket belongs to the namespace it was created in, whichever namespace its user is in
later: a thread of our own enters the pod's namespace (setns applies to the calling
thread only), creates the sockets there and goes back, then connects them. One new thread per
connection, so a thread that could not go back dies with its error instead of serving
the next connection from the wrong namespace."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

from skiff.linux.namespaces import CLONE_NEWNET, setns

CONNECT_TIMEOUT = 10.0


def _sockets_in(netns: str) -> list[tuple[socket.socket, str]]:
    """TCP sockets of the namespace, with the loopback address each connects to: IPv4,
    and IPv6 unless the namespace has none."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            setns(target, CLONE_NEWNET)
        finally:
            os.close(target)
        made = []
        try:
            for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                try:
                    made.append((socket.socket(family, socket.SOCK_STREAM), address))
                except OSError:
                    continue
        finally:
            setns(own, CLONE_NEWNET)  # raises if it cannot: this thread then ends
    finally:
        os.close(own)
    return made


def _connect_in(netns: str, port: int) -> socket.socket:
    """Connected to localhost:PORT as containerd connects: 127.0.0.1, then ::1 if
    nothing listens there; the first failure if neither answers."""
    sockets = _sockets_in(netns)
    failure: OSError | None = None
    connected = None
    for sock, address in sockets:
        if connected is None:
            try:
                sock.settimeout(CONNECT_TIMEOUT)
                sock.connect((address, port))
                sock.setblocking(False)
                connected = sock
                continue
            except OSError as e:
                failure = failure or e
        sock.close()
    if connected is None:
        raise failure or OSError(f"no socket could be made in {netns}")
    return connected


def _fail(done: asyncio.Future[socket.socket], error: OSError) -> None:
    if not done.done():
        done.set_exception(error)


def _deliver(done: asyncio.Future[socket.socket], sock: socket.socket) -> None:
    if done.done():  # nobody waits for it any more
        sock.close()
    else:
        done.set_result(sock)


async def connect(netns: str, port: int) -> socket.socket:
    """A connected, non-blocking socket; OSError when the namespace or the port is not
    there."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        try:
            sock = _connect_in(netns, port)
        except OSError as e:
            loop.call_soon_threadsafe(_fail, done, e)
            return
        loop.call_soon_threadsafe(_deliver, done, sock)

    threading.Thread(target=work, name=f"netns-connect-{port}", daemon=True).start()
    return await done
