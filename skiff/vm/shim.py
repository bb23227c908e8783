"""The shim: the process a VM container is, to its monitor.

conmon (or any runc caller) waits for the process ``create`` leaves behind and records its
exit code. For skiff-vm that process is this shim: it starts QEMU and relays between the
monitor and the guest over four named virtio serial ports, each a socketpair whose far
end QEMU inherits:

- ``skiff.control``: the guest says ``ready`` once booted, ``started`` once the workload's
  ports are open and ``exit N`` when it ends; the shim sends the workload's settings on
  ``start`` and ``signal N`` on ``kill``;
- ``skiff.stdin``, ``skiff.stdout``, ``skiff.stderr``: the workload's streams, to and from
  the shim's own descriptors 0, 1 and 2 (the monitor's pipes).

``start`` and ``kill`` reach the shim through ``ctl.sock`` in the container's state
directory: one request line, one reply line. The shim exits with the workload's code once
QEMU has powered off and every byte of output has been written.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from contextlib import contextmanager

from skiff.vm.qemu import Guest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PORTS = ("skiff.control", "skiff.stdin", "skiff.stdout", "skiff.stderr")
CONTROL_SOCKET = "ctl.sock"
CONSOLE_LOG = "console.log"
QEMU_LOG = "qemu.log"
STARTED = "started"  # a file in the state directory once the workload runs


class BootFailed(Exception):
    pass


@contextmanager
def socket_path(directory: str) -> Iterator[str]:
    """The control socket's path through a descriptor of its directory: a state
    directory can be deeper than the 107 bytes a unix socket's path may have."""
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{CONTROL_SOCKET}"
    finally:
        os.close(fd)


def console_tail(directory: str, lines: int = 3) -> str:
    """The guest console's last lines, joined on one line for an error message."""
    shown: list[str] = []
    for name in (CONSOLE_LOG, QEMU_LOG):
        try:
            with open(os.path.join(directory, name), errors="replace") as f:
                text = f.read().replace("\r", "")
        except FileNotFoundError:
            continue
        shown += [line.strip() for line in text.splitlines() if line.strip().isprintable()]
    shown = [line for line in shown if line][-lines:]
    return " / ".join(shown) if shown else "nothing"


class Shim:
    def __init__(
        self,
        directory: str,
        guest: Guest,
        qemu: str,
        netns: str | None,
        settings: str,
        boot_timeout: float,
    ) -> None:
        self.directory = directory
        self.guest = guest
        self.qemu = qemu
        self.netns = netns
        self.settings = settings
        self.boot_timeout = boot_timeout
        self.selector: selectors.BaseSelector = selectors.SelectSelector()  # serve() makes it
        self.ports: dict[str, socket.socket] = {}
        self.qemu_pid = 0
        self.qemu_fd = -1
        self.exit_code: int | None = None
        self.killed_with = 0
        self.control_buffer = b""
        self.pending_start: socket.socket | None = None
        self.started = False
        self.stdin_pending = b""

    # --- boot ----------------------------------------------------------------------------

    def boot(self) -> None:
        """Start QEMU and wait for the guest's ``ready``; BootFailed with the reason."""
        far_ends = {}
        for name in PORTS:
            near, far = socket.socketpair()
            self.ports[name] = near
            far_ends[name] = far
        self.guest.ports = {name: far.fileno() for name, far in far_ends.items()}
        self.guest.console_log = os.path.join(self.directory, CONSOLE_LOG)
        self.qemu_pid = self._spawn_qemu([far.fileno() for far in far_ends.values()])
        for far in far_ends.values():
            far.close()
        self.qemu_fd = os.pidfd_open(self.qemu_pid)
        deadline = time.monotonic() + self.boot_timeout
        control = self.ports["skiff.control"]
        while b"\n" not in self.control_buffer:
            ready = selectors.DefaultSelector()
            ready.register(control, selectors.EVENT_READ)
            ready.register(self.qemu_fd, selectors.EVENT_READ)
            events = ready.select(max(0.0, deadline - time.monotonic()))
            ready.close()
            if not events:
                self._kill_qemu()
                raise BootFailed(
                    f"the VM did not boot in {self.boot_timeout:g} s; its console's last "
                    f"lines: {console_tail(self.directory)}"
                )
            if any(key.fd == self.qemu_fd for key, _ in events):
                _, status = os.waitpid(self.qemu_pid, 0)
                raise BootFailed(
                    f"QEMU stopped while the VM booted (exit status {status:#x}): "
                    f"{console_tail(self.directory)}"
                )
            data = control.recv(4096)
            if not data:
                self._kill_qemu()
                raise BootFailed("the VM's control port closed while it booted")
            self.control_buffer += data
        line, _, self.control_buffer = self.control_buffer.partition(b"\n")
        if line != b"ready":
            self._kill_qemu()
            raise BootFailed(f"the guest init said {line!r} instead of ready")

    def _spawn_qemu(self, keep: list[int]) -> int:
        args = self.guest.command(self.qemu)
        log = os.open(
            os.path.join(self.directory, QEMU_LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        pid = os.fork()
        if pid:
            os.close(log)
            return pid
        try:
            if self.netns:
                from skiff.linux.namespaces import setns

                fd = os.open(self.netns, os.O_RDONLY)
                setns(fd, 0x40000000)  # CLONE_NEWNET: QEMU's user network in the container's
                os.close(fd)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            for fd in keep:
                os.set_inheritable(fd, True)
            os.execv(args[0], args)
        except BaseException as e:
            os.write(2, f"cannot start QEMU: {e}\n".encode())
        finally:
            os._exit(127)

    def _kill_qemu(self) -> None:
        if self.qemu_pid:
            try:
                os.kill(self.qemu_pid, signal.SIGKILL)
                os.waitpid(self.qemu_pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            self.qemu_pid = 0

    # --- serving -------------------------------------------------------------------------

    def serve(self) -> int:
        """Relay until QEMU ends; the workload's exit code."""
        self.selector = selectors.DefaultSelector()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with socket_path(self.directory) as path:
            listener.bind(path)
        listener.listen(8)
        register = self.selector.register
        register(listener, selectors.EVENT_READ, self._accept)
        register(self.ports["skiff.control"], selectors.EVENT_READ, self._from_control)
        register(self.ports["skiff.stdout"], selectors.EVENT_READ, self._output(1))
        register(self.ports["skiff.stderr"], selectors.EVENT_READ, self._output(2))
        register(self.qemu_fd, selectors.EVENT_READ, self._qemu_ended)
        while self.qemu_pid:
            for key, _ in self.selector.select():
                key.data(key.fileobj)
        self._drain()
        if self.exit_code is not None:
            return self.exit_code
        return 128 + self.killed_with if self.killed_with else 255

    def _accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        client.settimeout(5)
        try:
            request = client.recv(256).decode(errors="replace").strip()
        except OSError:
            client.close()
            return
        verb, _, argument = request.partition(" ")
        if verb == "start" and not self.started and self.pending_start is None:
            self.pending_start = client
            self.ports["skiff.control"].sendall(self.settings.encode())
            return
        if verb == "signal" and argument.isdigit():
            self._signal(int(argument))
            self._reply(client, "ok")
            return
        self._reply(client, f"error: cannot {request or 'do nothing'} now")

    @staticmethod
    def _reply(client: socket.socket, text: str) -> None:
        try:
            client.sendall(text.encode() + b"\n")
        except OSError:
            pass
        client.close()

    def _signal(self, number: int) -> None:
        if number == signal.SIGKILL or not self.started:
            self.killed_with = number
            if self.qemu_pid:
                os.kill(self.qemu_pid, signal.SIGKILL)
            return
        try:
            self.ports["skiff.control"].sendall(f"signal {number}\n".encode())
        except OSError:
            pass

    def _from_control(self, control: socket.socket) -> None:
        data = control.recv(4096)
        if not data:
            self.selector.unregister(control)
            return
        self.control_buffer += data
        while b"\n" in self.control_buffer:
            line, _, self.control_buffer = self.control_buffer.partition(b"\n")
            verb, _, argument = line.decode(errors="replace").partition(" ")
            if verb == "started":
                self.started = True
                with open(os.path.join(self.directory, STARTED), "w"):
                    pass
                self._open_stdin()
                if self.pending_start is not None:
                    self._reply(self.pending_start, "ok")
                    self.pending_start = None
            elif verb == "exit" and argument.isdigit():
                self.exit_code = int(argument)

    def _open_stdin(self) -> None:
        """Relay fd 0 to the guest: a pipe through the selector, one chunk at a time (the
        next is read only once the guest has taken the last, so a workload that does not
        read its input never blocks its output); a file or /dev/null, which epoll refuses,
        at once."""
        self.ports["skiff.stdin"].setblocking(False)
        self.stdin_pending = b""
        try:
            self.selector.register(0, selectors.EVENT_READ, self._from_stdin)
        except PermissionError:
            self.ports["skiff.stdin"].setblocking(True)
            while self._read_stdin():
                self.ports["skiff.stdin"].sendall(self.stdin_pending)

    def _read_stdin(self) -> bool:
        """Read a chunk of fd 0 into stdin_pending; at its end close the guest's stdin
        (the workload reads end-of-file) and say False."""
        try:
            self.stdin_pending = os.read(0, 65536)
        except OSError:
            self.stdin_pending = b""
        if not self.stdin_pending:
            # Half-close: QEMU reads what is left before it sees the end (a close would
            # hang up at once, and the guest would lose the input not yet taken).
            try:
                self.ports["skiff.stdin"].shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return bool(self.stdin_pending)

    def _from_stdin(self, fd: int) -> None:
        self.selector.unregister(0)
        if self._read_stdin():
            self.selector.register(self.ports["skiff.stdin"], selectors.EVENT_WRITE, self._to_guest)

    def _to_guest(self, port: socket.socket) -> None:
        try:
            sent = port.send(self.stdin_pending)
        except BlockingIOError:
            return
        except OSError:  # the guest has gone: drop the rest
            sent = len(self.stdin_pending)
        self.stdin_pending = self.stdin_pending[sent:]
        if not self.stdin_pending:
            self.selector.unregister(port)
            self.selector.register(0, selectors.EVENT_READ, self._from_stdin)

    def _output(self, target: int) -> Callable[[socket.socket], None]:
        def relay(port: socket.socket) -> None:
            data = port.recv(65536)
            if not data:
                self.selector.unregister(port)
                return
            _write_all(target, data)

        return relay

    def _qemu_ended(self, fd: int) -> None:
        os.waitpid(self.qemu_pid, 0)
        self.qemu_pid = 0
        self.selector.unregister(fd)
        if self.pending_start is not None:
            self._reply(self.pending_start, "error: the VM stopped before its workload started")
            self.pending_start = None

    def _drain(self) -> None:
        """QEMU has closed its ends: what is left in the output sockets is the last output."""
        for name, target in (("skiff.stdout", 1), ("skiff.stderr", 2)):
            port = self.ports[name]
            port.setblocking(False)
            while True:
                try:
                    data = port.recv(65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                _write_all(target, data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError:
            return  # the monitor has gone: the output has nowhere to go
