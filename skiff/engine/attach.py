"""Attaching to a container's stdio through its monitor (conmon), and the terminal
plumbing shared with ``exec -t``: raw mode, window size, detach keys, signal proxying.

conmon's attach socket is ``BUNDLE/attach``, a ``SOCK_SEQPACKET`` unix socket (its path
may exceed ``sun_path``'s 108 bytes, so it is reached through ``/proc/self/fd/N/attach``
of the bundle directory, as conmon binds it). Each packet conmon sends is one byte naming
the stream (2 stdout, 3 stderr; with a terminal everything is stdout) and the data; what
a client sends goes to the container's stdin. When the container exits, conmon closes
the connection. A client that shuts down its writing side closes the container's stdin,
unless conmon was started with ``--leave-stdin-open``. Window sizes go through the
``BUNDLE/ctl`` fifo as ``1 HEIGHT WIDTH\\n`` lines (at most 1000 each).

A session connects before the runtime starts the container, so the first bytes are seen:
``AttachSession.connect(bundle)`` then ``session.pump(...)``. ``pump`` is one ``select``
loop over the connection, our stdin and a signal pipe (``signal.set_wakeup_fd``): no
threads, no polling.

Docker's rules kept here: detach keys (``ctrl-p,ctrl-q`` by default, ``--detach-keys``
syntax ``ctrl-a,x``) only apply with a terminal, and a key that breaks the sequence sends
the held keys on; with a terminal our stdin is in raw mode (restored on every way out) and
the container's window follows ours (SIGWINCH); without one, ``--sig-proxy`` forwards the
signals this process receives to the container.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod

from skiff.errors import InvalidArgument
from skiff.linux import signals

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket
    from collections.abc import Callable
    from typing import Any, Literal

    from skiff.engine.monitor import MonitorPaths

    Ending = Literal["exited", "detached"]

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q
STDOUT_TAG = 2
STDERR_TAG = 3
# conmon reads at most 32 KiB - 1 of a packet and drops the rest: send less.
MAX_PACKET = 8192
WINDOW_RESIZE = 1
REOPEN_LOG = 2  # conmon closes its log file and opens it again at the same path
MAX_WINDOW = 1000

# What a proxied signal never is: the child/pipe/window plumbing of this process, and
# the terminal job-control stops (Docker's ForwardAllSignals skips SIGCHLD and SIGPIPE).
_NOT_FORWARDED = {
    signals.SIGCHLD,
    signals.SIGPIPE,
    signals.SIGWINCH,
    signals.SIGURG,
    signals.SIGTTIN,
    signals.SIGTTOU,
}


class Interrupted(Exception):
    """A signal ended the session (SIGTERM or SIGHUP while the terminal was raw and not
    proxied): the terminal is restored; the caller ends as the signal would have."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum


# --- detach keys -----------------------------------------------------------------------


def reopen_log(bundle: str) -> None:
    """Have conmon reopen the container's log (a ``2 0 0`` line on its ctl fifo)."""
    from skiff.errors import Conflict

    try:
        ctl = os.open(os.path.join(bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise Conflict(f"the container's monitor is gone: {e.strerror}") from None
    try:
        os.write(ctl, f"{REOPEN_LOG} 0 0\n".encode())
    finally:
        os.close(ctl)


def parse_detach_keys(text: str | None) -> bytes:
    """Docker's ``--detach-keys`` (moby/term ``ToBytes``): comma-separated keys, each a
    single character, ``ctrl-@``, ``ctrl-a`` .. ``ctrl-z``, ``ctrl-[``, ``ctrl-\\``,
    ``ctrl-]``, ``ctrl-^``, ``ctrl-_`` or ``DEL``; empty or None: ctrl-p,ctrl-q."""
    if not text:
        return DEFAULT_DETACH_KEYS
    controls = {f"ctrl-{c}": i for i, c in enumerate("@abcdefghijklmnopqrstuvwxyz[\\]^_")}
    codes = bytearray()
    for key in text.split(","):
        if len(key) == 1 and key.isascii():
            codes.append(ord(key))
        elif key in controls:
            codes.append(controls[key])
        elif key == "DEL":
            codes.append(127)
        else:
            raise InvalidArgument(f"Invalid escape keys ({text}) provided")
    return bytes(codes)


class DetachKeys:
    """Watches typed input for the detach sequence (moby/term's escape proxy): keys that
    match it are held back; a key that does not sends the held ones on with itself."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.matched = 0

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to send on, and whether the whole sequence was typed (what follows
        it is dropped)."""
        out = bytearray()
        for byte in data:
            if byte == self.keys[self.matched]:
                self.matched += 1
                if self.matched == len(self.keys):
                    self.matched = 0
                    return bytes(out), True
                continue
            if self.matched:
                out += self.keys[: self.matched]
                self.matched = 0
            out.append(byte)
        return bytes(out), False


# --- terminals --------------------------------------------------------------------------


def terminal_size(fd: int) -> tuple[int, int] | None:
    """(rows, columns) of the terminal on ``fd``; None if it is not a terminal."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    return size.lines, size.columns


class _RawMode:
    """Our terminal in raw mode for the session, as it was afterwards (every way out)."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> _RawMode:
        if self.fd is not None and os.isatty(self.fd):
            import termios
            import tty

            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None and self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


class _SignalPipe:
    """Signals as bytes on a pipe, read in the select loop (``signal.set_wakeup_fd``).
    The handlers do nothing else; the previous ones come back at the end."""

    def __init__(self, caught: set[int]) -> None:
        self.signals = caught
        self.read_fd = -1
        self.write_fd = -1
        self.previous: dict[int, object] = {}
        self.previous_wakeup = -1

    def __enter__(self) -> _SignalPipe:
        self.read_fd, self.write_fd = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.previous_wakeup = signals.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        for signum in self.signals:
            self.previous[signum] = signals.signal(signum, _ignore)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signals.signal(signum, handler)  # type: ignore[arg-type]
        signals.set_wakeup_fd(self.previous_wakeup)
        os.close(self.read_fd)
        os.close(self.write_fd)

    def received(self) -> list[int]:
        """The signals received since the last call, in order (others are dropped)."""
        try:
            data = os.read(self.read_fd, 512)
        except BlockingIOError:
            return []
        return [signum for signum in data if signum in self.signals]


def _ignore(signum: int, frame: object) -> None:
    pass


def proxied_signals() -> set[int]:
    """The signals ``--sig-proxy`` forwards: every catchable one but the plumbing's."""
    return {
        s
        for s in signals.valid_signals()
        if s not in (signals.SIGKILL, signals.SIGSTOP)
        and s not in _NOT_FORWARDED
        and s < signals.SIGRTMIN
    }


# --- the far end: conmon's socket, or a pty master ---------------------------------------


class Endpoint(ABC):
    """What a session talks to: ``fd`` to select on, packets in, bytes out."""

    fd: int

    @abstractmethod
    def receive(self) -> tuple[int, bytes] | None:
        """(stream tag, data) of one read; None at the end."""

    @abstractmethod
    def send(self, data: bytes) -> int:
        """Write what the far end takes now (it is non-blocking); how much."""

    @abstractmethod
    def close_input(self) -> None:
        """Our stdin ended."""

    @abstractmethod
    def resize(self, rows: int, columns: int) -> None:
        """The terminal's new size."""


class AttachSession(Endpoint):
    """A connection to a container's conmon."""

    def __init__(self, sock: _socket.socket, bundle: str) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.bundle = bundle
        self.ctl: int | None = None

    @classmethod
    def connect(cls, bundle: str) -> AttachSession:
        """Connect to the conmon of the container whose OCI bundle is ``bundle``.

        A ``_socket.socket``: the ``socket`` module only adds enums and helpers on top, and
        costs a few ms of ``skiff run``'s start-up to import."""
        import _socket

        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        directory = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{directory}/attach")
        except OSError as e:
            sock.close()
            raise OSError(e.errno, e.strerror, os.path.join(bundle, "attach")) from None
        finally:
            os.close(directory)
        sock.setblocking(False)
        return cls(sock, bundle)

    def close(self) -> None:
        self.sock.close()
        if self.ctl is not None:
            os.close(self.ctl)
            self.ctl = None

    def receive(self) -> tuple[int, bytes] | None:
        try:
            packet = self.sock.recv(65536)
        except BlockingIOError:
            return STDOUT_TAG, b""
        except ConnectionResetError:
            return None
        if not packet:
            return None
        return packet[0], packet[1:]

    def send(self, data: bytes) -> int:
        try:
            return self.sock.send(data[:MAX_PACKET])
        except BlockingIOError:
            return 0

    def close_input(self) -> None:
        import _socket

        try:
            self.sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    def resize(self, rows: int, columns: int) -> None:
        """Through conmon's ctl fifo (conmon holds it open: O_NONBLOCK never waits)."""
        rows, columns = min(rows, MAX_WINDOW), min(columns, MAX_WINDOW)
        try:
            if self.ctl is None:
                self.ctl = os.open(
                    os.path.join(self.bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC
                )
            os.write(self.ctl, f"{WINDOW_RESIZE} {rows} {columns}\n".encode())
        except OSError:
            pass  # conmon is gone: the container exited

    def pump(
        self,
        stdin: int | None = None,
        stdout: int | None = 1,
        stderr: int | None = 2,
        tty: bool = False,
        detach_keys: bytes = DEFAULT_DETACH_KEYS,
        forward_signal: Callable[[int], None] | None = None,
    ) -> Ending:
        """Copy the container's output to ``stdout``/``stderr`` (None: dropped) and
        ``stdin`` (None: not attached) to it until it exits or the user detaches."""
        return pump(self, stdin, stdout, stderr, tty, detach_keys, forward_signal)


class PtyEndpoint(Endpoint):
    """A pty master held by this process (``exec -t``)."""

    def __init__(self, master: int) -> None:
        self.fd = master
        os.set_blocking(master, False)

    def receive(self) -> tuple[int, bytes] | None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return STDOUT_TAG, b""
        except OSError:  # EIO: every holder of the slave closed it
            return None
        return (STDOUT_TAG, data) if data else None

    def send(self, data: bytes) -> int:
        try:
            return os.write(self.fd, data)
        except BlockingIOError:
            return 0

    def close_input(self) -> None:
        """Nothing to do: a terminal has no end of input to pass on (the user types
        ctrl-d, which the pty's line discipline turns into the program's EOF)."""

    def resize(self, rows: int, columns: int) -> None:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


# --- the loop ---------------------------------------------------------------------------


def write_all(fd: int | None, data: bytes) -> None:
    """All of ``data`` to ``fd`` (None: dropped)."""
    while data and fd is not None:
        try:
            data = data[os.write(fd, data) :]
        except BlockingIOError:
            import select

            select.select([], [fd], [])


def pump(
    endpoint: Endpoint,
    stdin: int | None,
    stdout: int | None,
    stderr: int | None,
    tty: bool,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
    forward_signal: Callable[[int], None] | None = None,
    done_fd: int | None = None,
) -> Ending:
    """Copy between ``endpoint`` and our fds until it ends, ``done_fd`` becomes readable
    (a pidfd: the process exited; what it left is still copied) or the user types the
    detach keys (with ``tty`` and ``stdin``)."""
    import select

    terminal = next((fd for fd in (stdin, stdout) if fd is not None and os.isatty(fd)), None)
    raw = tty and stdin is not None and os.isatty(stdin)
    caught: set[int] = set()
    if tty and terminal is not None:
        caught.add(signals.SIGWINCH)
    if forward_signal is not None:
        caught |= proxied_signals()
    elif raw:
        caught |= {signals.SIGTERM, signals.SIGHUP}
    keys = DetachKeys(detach_keys) if tty and stdin is not None and detach_keys else None
    outputs = {STDOUT_TAG: stdout, STDERR_TAG: stderr}
    pending = b""
    reading = stdin is not None
    with _SignalPipe(caught) as signal_pipe, _RawMode(stdin if raw else None):
        if tty and terminal is not None:
            _copy_size(terminal, endpoint)
        while True:
            readable = [endpoint.fd, signal_pipe.read_fd]
            if reading and not pending:
                readable.append(stdin)  # type: ignore[arg-type]
            if done_fd is not None:
                readable.append(done_fd)
            ready, writable, _ = select.select(readable, [endpoint.fd] if pending else [], [])
            if signal_pipe.read_fd in ready:
                for signum in signal_pipe.received():
                    if signum == signals.SIGWINCH and tty and terminal is not None:
                        _copy_size(terminal, endpoint)
                    elif forward_signal is not None:
                        forward_signal(signum)
                    else:
                        raise Interrupted(signum)
            if endpoint.fd in ready:
                received = endpoint.receive()
                if received is None:
                    return "exited"
                tag, data = received
                write_all(outputs.get(tag, stdout), data)
            if stdin is not None and stdin in ready:
                try:
                    data = os.read(stdin, 32768)
                except OSError:
                    data = b""
                if not data:
                    reading = False
                    if not tty:
                        endpoint.close_input()
                elif keys is not None:
                    data, detached = keys.feed(data)
                    pending += data
                    if detached:
                        _flush(endpoint, pending)
                        return "detached"
                else:
                    pending += data
            if pending and (endpoint.fd in writable or not writable):
                pending = pending[endpoint.send(pending) :]
            if done_fd is not None and done_fd in ready:
                _drain(endpoint, outputs, stdout)
                return "exited"


def _flush(endpoint: Endpoint, data: bytes) -> None:
    """What was typed before the detach keys, sent as far as the far end takes it now."""
    while data:
        sent = endpoint.send(data)
        if not sent:
            return
        data = data[sent:]


def _drain(endpoint: Endpoint, outputs: dict[int, int | None], stdout: int | None) -> None:
    """What the far end still holds, without waiting for more."""
    while True:
        received = endpoint.receive()
        if received is None or not received[1]:
            return
        write_all(outputs.get(received[0], stdout), received[1])


def _copy_size(terminal: int, endpoint: Endpoint) -> None:
    size = terminal_size(terminal)
    if size is not None:
        endpoint.resize(*size)


def wait_exit_code(paths: MonitorPaths, timeout: float = 10.0) -> int | None:
    """The exit code conmon records once the container has exited: it may close an
    attach connection just before it writes the exit file. None if the file did not come
    within ``timeout`` seconds (or went with the container, ``--rm``)."""
    import time

    from skiff.engine.monitor import read_exit_code

    # Polled, not watched with inotify: the file comes within milliseconds, and closing an
    # inotify fd waits for an RCU grace period (~20 ms here) on every run.
    deadline = time.monotonic() + timeout
    pause = 0.0005
    while (code := read_exit_code(paths)) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.02)
    return code
