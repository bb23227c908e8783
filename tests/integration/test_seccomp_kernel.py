"""Seccomp profiles loaded into real processes.

Each test forks a child that installs a profile and reports, through a pipe, what the kernel
then did to its syscalls; a child the filter kills reports nothing and dies of SIGSYS.
"""

import ctypes
import errno
import fcntl
import json
import os
import re
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import pytest

from skiff.linux import libseccomp
from skiff.runtime import seccomp

pytestmark = [pytest.mark.root]

LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
LIBC.personality.argtypes = [ctypes.c_ulong]
LIBC.unshare.argtypes = [ctypes.c_int]
LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

PR_SET_NO_NEW_PRIVS = 38
CLONE_NEWUTS = 0x04000000
PER_LINUX32 = 0x0008
PER_QUERY = 0xFFFFFFFF
TIMEOUT = 10.0


# --- a child process, and what it reports ---------------------------------------------------


@dataclass
class Outcome:
    reply: dict[str, Any] | None  # None: the child died before it could answer
    status: int

    @property
    def value(self) -> Any:
        assert self.reply is not None, f"the child died: wait status {self.status:#x}"
        assert "error" not in self.reply, self.reply["error"]
        return self.reply["value"]

    @property
    def signal(self) -> int | None:
        return os.WTERMSIG(self.status) if os.WIFSIGNALED(self.status) else None


class Child:
    """A forked process running ``body``; its JSON-able return value comes back in a pipe.

    Leaving the ``with`` block kills and reaps it if ``finish`` has not.
    """

    def __init__(self, body: Callable[[], Any]) -> None:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child_main(body, write_fd)
        os.close(write_fd)
        self.pid = pid
        self._read_fd = read_fd
        self._reaped = False

    def finish(self) -> Outcome:
        data = b""
        deadline = time.monotonic() + TIMEOUT
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._read_fd], [], [], max(left, 0))
            assert ready, f"child {self.pid} did not finish in {TIMEOUT}s"
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        _, status = os.waitpid(self.pid, 0)
        self._reaped = True
        return Outcome(json.loads(data) if data else None, status)

    def __enter__(self) -> "Child":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self._reaped:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._read_fd)


def _child_main(body: Callable[[], Any], write_fd: int) -> NoReturn:
    code = 1
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGSYS dumps core otherwise
        try:
            reply = {"value": body()}
            code = 0
        except BaseException:
            reply = {"error": traceback.format_exc()}
        data = json.dumps(reply).encode()
        while data:
            data = data[os.write(write_fd, data) :]
    finally:
        os._exit(code)


def in_child(body: Callable[[], Any]) -> Outcome:
    with Child(body) as child:
        return child.finish()


def confine(profile: dict[str, Any], no_new_privs: bool = True) -> int | None:
    """What the runtime does in the container's init: validate, no_new_privs, install."""
    seccomp.validate(profile)
    if no_new_privs and LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    compiled = seccomp.compile_filter(profile)
    return None if compiled is None else compiled.load()


def errno_of(call: Callable[..., Any], *args: Any) -> int:
    """0 if the call succeeds, else its errno."""
    try:
        call(*args)
    except OSError as e:
        return e.errno or 0
    return 0


def libc_errno(result: int) -> int:
    return ctypes.get_errno() if result == -1 else 0


def raw_syscall(name: str, *args: int) -> int:
    """The errno of a syscall made by number (0 on success)."""
    number = libseccomp.syscall_resolve_name(name)
    assert number is not None and number >= 0, name
    return libc_errno(LIBC.syscall(ctypes.c_long(number), *(ctypes.c_long(a) for a in args)))


def status_field(name: str, path: str = "/proc/self/status") -> str:
    with open(path) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    raise KeyError(name)


def deny(names: list[str], action: str = "SCMP_ACT_ERRNO", **fields: Any) -> dict[str, Any]:
    """An allow-by-default profile with one rule."""
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": names, "action": action, **fields}],
    }


# --- no_new_privs and flags --------------------------------------------------------------------


AUDIT_SECCOMP = re.compile(r"type=1326 .*? pid=(\d+) ")
AUDIT_PRINT_WINDOW = 5.0  # s: the kernel prints at most 10 audit records per window


class KernelLog:
    """The kernel log from now on. Seccomp logs through audit, and audit, when no daemon
    takes its records, prints them there (kauditd does, a moment later)."""

    def __init__(self) -> None:
        self._fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self._fd, 0, os.SEEK_END)
        self._text = ""

    def close(self) -> None:
        os.close(self._fd)

    def seccomp_pids(self, until: int, timeout: float = 2.0) -> set[int]:
        """The pids in seccomp's audit records, read until ``until``'s comes or time is up."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._text += os.read(self._fd, 8192).decode(errors="replace")
                continue
            except BrokenPipeError:
                continue  # records were overwritten before we read them; on to the next
            except BlockingIOError:
                pass
            pids = {int(pid) for pid in AUDIT_SECCOMP.findall(self._text)}
            if until in pids or time.monotonic() > deadline:
                return pids
            time.sleep(0.02)


def running(name: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path("/proc", pid, "comm").read_text().strip() == name:
                return True
        except OSError:
            continue
    return False


@pytest.fixture
def kernel_log() -> Iterator[KernelLog]:
    assert not running("auditd"), "auditd takes the seccomp log: stop it for this test"
    log = KernelLog()
    try:
        yield log
    finally:
        log.close()


def test_log_flag_and_log_action_write_to_the_kernel_log(kernel_log: KernelLog) -> None:
    def child(profile: dict[str, Any], getcwd_errno: int) -> int:
        def body() -> int:
            confine(profile)
            return errno_of(os.getcwd)

        with Child(body) as started:
            assert started.finish().value == getcwd_errno
            return started.pid

    for attempt in ("first", "last"):
        flagged = child({**deny(["getcwd"]), "flags": ["SECCOMP_FILTER_FLAG_LOG"]}, errno.EPERM)
        unflagged = child({**deny(["getcwd"]), "flags": []}, errno.EPERM)
        log_action = child(deny(["getcwd"], "SCMP_ACT_LOG"), 0)
        logged = kernel_log.seccomp_pids(until=log_action)
        if log_action in logged or attempt == "last":
            break
        time.sleep(AUDIT_PRINT_WINDOW)  # records were dropped to keep the rate: wait it out
    assert flagged in logged
    assert unflagged not in logged
    assert log_action in logged


def test_install_leaves_no_new_privs_alone() -> None:
    def body() -> dict[str, str]:
        confine(deny(["getcwd"]), no_new_privs=False)
        return {"nnp": status_field("NoNewPrivs"), "mode": status_field("Seccomp")}

    assert in_child(body).value == {"nnp": "0", "mode": "2"}


def test_without_no_new_privs_or_cap_sys_admin_loading_fails_with_eacces() -> None:
    def body() -> int:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        return errno_of(confine, deny(["getcwd"]), False)

    assert in_child(body).value == errno.EACCES


def thread_modes(flags: list[str] | None) -> dict[str, Any]:
    """The seccomp mode of both threads of a child that installs with ``flags``."""
    profile = deny(["getcwd"])
    if flags is not None:
        profile["flags"] = flags

    def body() -> dict[str, Any]:
        stop = threading.Event()
        other = threading.Thread(target=stop.wait)
        other.start()
        try:
            confine(profile)
            modes = [
                status_field("Seccomp", f"/proc/self/task/{tid}/status")
                for tid in os.listdir("/proc/self/task")
            ]
            return {"modes": sorted(modes), "getcwd": errno_of(os.getcwd)}
        finally:
            stop.set()
            other.join()

    return in_child(body).value


@pytest.mark.parametrize(
    ("flags", "modes"),
    [
        (None, ["0", "2"]),
        ([], ["0", "2"]),
        (["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"], ["0", "2"]),
        (["SECCOMP_FILTER_FLAG_TSYNC"], ["2", "2"]),
        (list(seccomp.FLAGS), ["2", "2"]),
    ],
)
def test_tsync_confines_every_thread(flags: list[str] | None, modes: list[str]) -> None:
    assert thread_modes(flags) == {"modes": modes, "getcwd": errno.EPERM}


# --- actions ----------------------------------------------------------------------------------


def test_errno_actions_return_their_errno() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
            {"names": ["uname"], "action": "SCMP_ACT_ERRNO"},
        ],
    }

    def body() -> dict[str, Any]:
        before = [errno_of(os.getcwd), errno_of(os.uname)]
        confine(profile)
        return {
            "before": before,
            "after": [errno_of(os.getcwd), errno_of(os.uname)],
            "mode": status_field("Seccomp"),
        }

    assert in_child(body).value == {
        "before": [0, 0],
        "after": [errno.ENOSYS, errno.EPERM],
        "mode": "2",
    }


@pytest.mark.parametrize(
    "action", ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"]
)
def test_kill_and_trap_end_the_process_with_sigsys(action: str) -> None:
    def body() -> int:
        confine(deny(["getppid"], action))
        return os.getppid()

    outcome = in_child(body)
    assert outcome.reply is None
    assert outcome.signal == signal.SIGSYS


def test_trace_without_a_tracer_fails_with_enosys() -> None:
    def body() -> int:
        confine(deny(["getcwd"], "SCMP_ACT_TRACE", errnoRet=7))
        return errno_of(os.getcwd)

    assert in_child(body).value == errno.ENOSYS


def test_unknown_names_and_architectures_are_skipped() -> None:
    """Profiles name syscalls and architectures this libseccomp and kernel may not have."""
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": list(seccomp.ARCHITECTURES),
        "syscalls": [
            {"names": ["no_such_syscall", "getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["uname"], "action": "SCMP_ACT_ALLOW"},
        ],
    }

    def body() -> list[int]:
        confine(profile)
        return [errno_of(os.getcwd), errno_of(os.uname)]

    assert in_child(body).value == [errno.EPERM, 0]


# --- conditions on arguments -------------------------------------------------------------------


SOCKETS = {
    "unix": (socket.AF_UNIX, socket.SOCK_STREAM),
    "tcp": (socket.AF_INET, socket.SOCK_STREAM),
    "udp": (socket.AF_INET, socket.SOCK_DGRAM),
    "tcp6": (socket.AF_INET6, socket.SOCK_STREAM),
}


def socket_errnos() -> dict[str, int]:
    def attempt(family: int, kind: int) -> None:
        socket.socket(family, kind).close()

    return {name: errno_of(attempt, *args) for name, args in SOCKETS.items()}


def eq(index: int, value: int) -> dict[str, Any]:
    return {"index": index, "value": value, "op": "SCMP_CMP_EQ"}


def sockets_under(args: list[dict[str, Any]]) -> dict[str, int]:
    """The errno of each kind of socket in a child whose filter denies socket() when ``args``
    match (here, without a filter, unix, tcp and udp sockets open)."""
    unfiltered = socket_errnos()
    assert unfiltered["unix"] == unfiltered["tcp"] == unfiltered["udp"] == 0

    def body() -> dict[str, int]:
        confine(deny(["socket"], errnoRet=errno.EACCES, args=args))
        return socket_errnos()

    return in_child(body).value


def test_conditions_on_distinct_arguments_must_all_hold() -> None:
    udp_only = [
        eq(0, socket.AF_INET),
        {"index": 1, "value": 0xF, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"},
    ]
    assert socket.SOCK_DGRAM == 2  # the type, below SOCK_CLOEXEC and SOCK_NONBLOCK in the mask
    assert sockets_under(udp_only) == {**socket_errnos(), "udp": errno.EACCES}


def test_conditions_on_one_argument_match_if_any_holds() -> None:
    """One rule could never hold for AF_INET and AF_INET6 at once: runc splits it."""
    inet_either = [eq(0, socket.AF_INET), eq(0, socket.AF_INET6)]
    denied = {"tcp": errno.EACCES, "udp": errno.EACCES, "tcp6": errno.EACCES}
    assert sockets_under(inet_either) == {**socket_errnos(), **denied}


def test_not_equal_lets_only_the_query_through() -> None:
    profile = deny(["personality"], args=[{"index": 0, "value": PER_QUERY, "op": "SCMP_CMP_NE"}])

    def personas() -> dict[str, int]:
        return {
            "query": libc_errno(LIBC.personality(PER_QUERY)),
            "linux32": libc_errno(LIBC.personality(PER_LINUX32)),
        }

    def body() -> dict[str, int]:
        confine(profile)
        return personas()

    assert in_child(personas).value == {"query": 0, "linux32": 0}
    assert in_child(body).value == {"query": 0, "linux32": errno.EPERM}


# --- Docker's default profile ------------------------------------------------------------------

DOCKER_PROFILE = Path(seccomp.__file__).parent.parent / "data" / "seccomp-default.json"
# moby oci/caps: what a container gets unless told otherwise.
DOCKER_CAPABILITIES = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
}
# uname machine -> (seccomp architecture, Go's name, which Docker's includes/excludes use)
DOCKER_ARCHES = {"x86_64": ("SCMP_ARCH_X86_64", "amd64"), "aarch64": ("SCMP_ARCH_AARCH64", "arm64")}


def docker_to_oci(docker: dict[str, Any], capabilities: set[str]) -> dict[str, Any]:
    """Docker's profile format as dockerd turns it into linux.seccomp for this host: the
    architectures of the native entry of archMap, and the syscall entries whose includes
    and excludes (architecture, capabilities, kernel version) fit."""
    arch, go_arch = DOCKER_ARCHES[os.uname().machine]
    kernel = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])

    def version(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split("."))

    def fits(entry: dict[str, Any]) -> bool:
        includes, excludes = entry.get("includes") or {}, entry.get("excludes") or {}
        if go_arch in (excludes.get("arches") or []):
            return False
        if set(excludes.get("caps") or []) & capabilities:
            return False
        if excludes.get("minKernel") and kernel >= version(excludes["minKernel"]):
            return False
        if includes.get("arches") and go_arch not in includes["arches"]:
            return False
        if not set(includes.get("caps") or []) <= capabilities:
            return False
        return not (includes.get("minKernel") and kernel < version(includes["minKernel"]))

    native = next(entry for entry in docker["archMap"] if entry["architecture"] == arch)
    keys = ("names", "action", "errnoRet", "args")
    return {
        "defaultAction": docker["defaultAction"],
        "defaultErrnoRet": docker.get("defaultErrnoRet"),
        "architectures": [arch, *native["subArchitectures"]],
        "syscalls": [
            {key: entry[key] for key in keys if entry.get(key) is not None}
            for entry in docker["syscalls"]
            if fits(entry)
        ],
    }


def test_docker_default_profile_runs_python_and_stops_unshare_and_keyctl() -> None:
    assert os.uname().machine in DOCKER_ARCHES, "written for x86_64 and aarch64"
    profile = docker_to_oci(json.loads(DOCKER_PROFILE.read_text()), DOCKER_CAPABILITIES)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"

    def probe() -> dict[str, Any]:
        worker = threading.Thread(target=lambda: None)  # clone3, then clone
        worker.start()
        worker.join()
        return {
            "subprocess": subprocess.run(["/bin/true"], check=False).returncode,
            "files": len(os.listdir("/proc/self/fd")) > 0,
            "unshare": libc_errno(LIBC.unshare(CLONE_NEWUTS)),
            "keyctl": raw_syscall("keyctl", 0, -3, 0),  # KEYCTL_GET_KEYRING_ID, session
            "clone3": raw_syscall("clone3", 0, 0),
        }

    def body() -> dict[str, Any]:
        confine(profile)
        return {**probe(), "mode": status_field("Seccomp")}

    assert in_child(probe).value == {
        "subprocess": 0,
        "files": True,
        "unshare": 0,
        "keyctl": 0,
        "clone3": errno.EINVAL,
    }
    assert in_child(body).value == {
        "subprocess": 0,
        "files": True,
        "unshare": errno.EPERM,
        "keyctl": errno.EPERM,
        "clone3": errno.ENOSYS,  # the profile's errnoRet: glibc falls back to clone
        "mode": "2",
    }


INSTALL_COST = """\
import sys

from skiff.runtime import seccomp

profile = {PROFILE}
seccomp.validate(profile)
compiled = seccomp.compile_filter(profile)
assert compiled is not None and compiled.load() is None  # loaded; no notify fd
print(sorted(set(sys.modules) & {COSTLY}))
"""


def test_docker_default_profile_loads_no_costly_module() -> None:
    """Start-up cost: validate(), compile_filter() and load() of Docker's profile, in a fresh
    interpreter (-S), leave typing, dataclasses, enum, re, json, signal, subprocess and socket
    unloaded."""
    profile = docker_to_oci(json.loads(DOCKER_PROFILE.read_text()), DOCKER_CAPABILITIES)
    costly = {"dataclasses", "enum", "inspect", "json", "re", "signal", "socket", "subprocess"}
    script = INSTALL_COST.replace("{PROFILE}", repr(profile))
    script = script.replace("{COSTLY}", repr(costly | {"typing"}))
    root = str(Path(__file__).resolve().parents[2])
    result = subprocess.run(
        [sys.executable, "-S", "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": root},
        cwd=root,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- SCMP_ACT_NOTIFY and the seccomp agent -----------------------------------------------------


class SeccompData(ctypes.Structure):
    _fields_ = [
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    ]


class Notification(ctypes.Structure):
    """struct seccomp_notif"""

    _fields_ = [
        ("id", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("data", SeccompData),
    ]


class Response(ctypes.Structure):
    """struct seccomp_notif_resp"""

    _fields_ = [
        ("id", ctypes.c_uint64),
        ("val", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


def _iowr(number: int, size: int) -> int:
    """_IOWR('!', number, size): the seccomp ioctls."""
    return (3 << 30) | (size << 16) | (ord("!") << 8) | number


SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, ctypes.sizeof(Notification))
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, ctypes.sizeof(Response))


def answer_one(notify_fd: int, value: int) -> Notification:
    """Wait for one notification and make its syscall return ``value``."""
    ready = select.poll()
    ready.register(notify_fd, select.POLLIN)
    assert ready.poll(TIMEOUT * 1000), "no notification came"
    notification = Notification()
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_RECV, notification)
    fcntl.ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_SEND, Response(id=notification.id, val=value))
    return notification


def receive_state(server: socket.socket) -> tuple[dict[str, Any], list[int]]:
    conn, _ = server.accept()
    with conn:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
        while chunk := conn.recv(1 << 16):
            data += chunk
    return json.loads(data), fds


def test_notify_hands_the_syscall_to_the_agent(tmp_path: Path) -> None:
    path = str(tmp_path / "agent.sock")
    state = {"ociVersion": "1.2.0", "id": "c1", "status": "created", "bundle": str(tmp_path)}
    profile = {
        **deny(["getppid"], "SCMP_ACT_NOTIFY"),
        "listenerPath": path,
        "listenerMetadata": "answer=4242",
    }
    getppid = libseccomp.syscall_resolve_name("getppid")

    def body() -> dict[str, Any]:
        notify_fd = confine(profile)
        assert notify_fd is not None
        seccomp.send_notify_fd(
            path, notify_fd, os.getpid(), profile["listenerMetadata"], {**state, "pid": os.getpid()}
        )
        os.close(notify_fd)
        return {"getppid": os.getppid(), "getpid": os.getpid()}

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(TIMEOUT)
        with Child(body) as child:
            message, fds = receive_state(server)
            assert len(fds) == 1
            try:
                notification = answer_one(fds[0], 4242)
            finally:
                os.close(fds[0])
            outcome = child.finish()
    assert outcome.value == {"getppid": 4242, "getpid": child.pid}
    assert (notification.pid, notification.data.nr) == (child.pid, getppid)
    assert message == {
        "ociVersion": "1.2.0",
        "fds": ["seccompFd"],
        "pid": child.pid,
        "metadata": "answer=4242",
        "state": {**state, "pid": child.pid},
    }


def test_without_notify_rules_there_is_no_notify_fd() -> None:
    def body() -> Any:
        return confine(deny(["getcwd"]))

    assert in_child(body).value is None


# --- the cache of compiled filters ----------------------------------------------------------


def test_a_cached_filter_is_read_back_and_confines(tmp_path: Path) -> None:
    profile = deny(["getcwd"])
    seccomp.validate(profile)
    built = seccomp.compile_filter(profile, str(tmp_path))
    [cache_file] = tmp_path.iterdir()
    cache_file.chmod(0o400)  # read back, not written again
    cached = seccomp.compile_filter(profile, str(tmp_path))
    assert built is not None and cached is not None
    assert (cached.program, cached.flags) == (built.program, built.flags)
    assert cached.flags == 4  # SECCOMP_FILTER_FLAG_SPEC_ALLOW, the default when flags is absent

    def body() -> int:
        LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        assert cached.load() is None
        return errno_of(os.getcwd)

    assert in_child(body).value == errno.EPERM


def test_a_cache_file_of_another_key_or_broken_is_rebuilt(tmp_path: Path) -> None:
    first, second = deny(["getcwd"]), deny(["getppid"])
    built = seccomp.compile_filter(first, str(tmp_path))
    assert built is not None
    [cache_file] = tmp_path.iterdir()
    data = cache_file.read_bytes()
    # the same name holding another profile's key (a crc32 clash): not used, rebuilt
    cache_file.write_bytes(data.replace(b"getcwd", b"getpid"))
    again = seccomp.compile_filter(first, str(tmp_path))
    assert again is not None and again.program == built.program
    assert cache_file.read_bytes() == data
    cache_file.write_bytes(data[:10])  # cut short, as by a crash: rebuilt
    assert seccomp.compile_filter(first, str(tmp_path)).program == built.program  # type: ignore[union-attr]
    assert cache_file.read_bytes() == data
    other = seccomp.compile_filter(second, str(tmp_path))
    assert other is not None and other.program != built.program
    assert len(list(tmp_path.iterdir())) == 2


def test_a_notifying_filter_loads_with_a_listener_and_tsync(tmp_path: Path) -> None:
    profile = {
        **deny(["getppid"], "SCMP_ACT_NOTIFY"),
        "listenerPath": str(tmp_path / "agent.sock"),
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC"],
    }
    seccomp.validate(profile)
    compiled = seccomp.compile_filter(profile, str(tmp_path / "cache"))
    assert compiled is not None
    assert compiled.flags == 1 | 8 | 16  # TSYNC, NEW_LISTENER, TSYNC_ESRCH

    def body() -> bool:
        LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        fd = compiled.load()
        assert fd is not None
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:seccomp notify"

    assert in_child(body).value is True
