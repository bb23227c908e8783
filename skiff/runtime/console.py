"""Terminals: the console-socket protocol, and a pty proxy for ``run`` in the foreground.

With ``process.terminal``, the container's init opens a pseudo-terminal in the container's
devpts, makes the slave its controlling terminal and stdio, and sends the master over the
``--console-socket`` AF_UNIX socket with SCM_RIGHTS, as runc does.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import termios

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def set_size(fd: int, size: dict[str, int] | None) -> None:
    if size:
        fcntl.ioctl(
            fd,
            termios.TIOCSWINSZ,
            struct.pack("HHHH", size.get("height", 0), size.get("width", 0), 0, 0),
        )


def setup_console(socket_fd: int, size: dict[str, Any] | None) -> None:
    """In the container: create the pty, make it our terminal, send the master away."""
    master, slave = os.openpty()
    set_size(master, size)
    name = os.ttyname(slave)
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    sock = socket.socket(fileno=socket_fd)
    try:
        socket.send_fds(sock, [name.encode()], [master])
    finally:
        sock.detach()
    os.close(master)


def connect_console_socket(path: str) -> int:
    """Connect to a ``--console-socket``; returns the connected descriptor."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise OSError(e.errno, f"console socket {path}: {e.strerror}") from None
    return sock.detach()


def receive_master(sock_fd: int) -> int:
    """Receive the pty master sent over a console socket."""
    sock = socket.socket(fileno=sock_fd)
    try:
        _, fds, _, _ = socket.recv_fds(sock, 4096, 1)
    finally:
        sock.detach()
    if not fds:
        raise OSError(5, "console socket: no terminal received")
    return fds[0]


def proxy(master: int, pid: int) -> int:
    """Copy our stdin to the pty and the pty to our stdout until ``pid`` exits; its status."""
    import select
    import signal
    import tty

    stdin_is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_is_tty else None
    if stdin_is_tty:
        tty.setraw(0)
        _copy_size(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: _copy_size(0, master))
    try:
        inputs = [master, 0]
        status = None
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [], 0.1)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    inputs.remove(master)
                else:
                    os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    inputs.remove(0)
            if status is None:
                done, status_code = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = status_code
            if status is not None and master not in inputs:
                return status
            if status is not None and not ready:
                return status
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _copy_size(src: int, dst: int) -> None:
    try:
        fcntl.ioctl(dst, termios.TIOCSWINSZ, fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass
