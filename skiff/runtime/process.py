"""The container process's identity and limits: user, groups, capabilities, rlimits, fds.

Shared by the init of a new container and by ``exec`` into a running one.
"""

from __future__ import annotations

import errno
import os
import resource
import stat

from skiff.linux import capabilities as caps
from skiff.linux import prctl
from skiff.linux.execveat import AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW, execveat
from skiff.linux.openat2 import O_PATH, RESOLVE_NO_MAGICLINKS, openat2
from skiff.runtime.spec import RLIMITS
from skiff.runtime.sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from skiff.runtime.seccomp import CompiledFilter


def set_rlimits(rlimits: list[dict[str, Any]]) -> None:
    for rlimit in rlimits:
        kind = rlimit["type"]
        try:
            resource.setrlimit(RLIMITS[kind], (rlimit["soft"], rlimit["hard"]))
        except (OSError, ValueError) as e:
            _, hard = resource.getrlimit(RLIMITS[kind])
            raise OSError(
                getattr(e, "errno", None) or 1,
                f"setrlimit {kind} to soft {rlimit['soft']} hard {rlimit['hard']}: "
                f"{getattr(e, 'strerror', None) or e} (the hard limit here is {hard})",
            ) from None


def set_oom_score_adj(value: int) -> None:
    with open("/proc/self/oom_score_adj", "w") as f:
        f.write(str(value))


def _mask_of(names: list[str] | None) -> int:
    return caps.mask([caps.NUMBERS[n] for n in names or []])


def set_identity(process: dict[str, Any], in_user_ns_without_setgroups: bool = False) -> None:
    """Drop the bounding set, switch to the process's user and groups, set its capabilities.

    The order follows runc: the bounding set is dropped while still privileged; keepcaps
    carries the permitted set across setuid; then capset sets the final sets.
    """
    capabilities = process.get("capabilities")
    last = caps.last_cap()
    if capabilities is not None:
        caps.drop_bounding(_mask_of(capabilities.get("bounding")), last)
        prctl.set_keepcaps(True)
    user = process.get("user") or {}
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    if not in_user_ns_without_setgroups:
        os.setgroups(user.get("additionalGids") or [])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if capabilities is not None:
        prctl.set_keepcaps(False)
        permitted = _mask_of(capabilities.get("permitted"))
        inheritable = _mask_of(capabilities.get("inheritable"))
        caps.capset(_mask_of(capabilities.get("effective")), permitted, inheritable)
        # The kernel raises an ambient capability only if it is permitted and inheritable;
        # runc warns about the others and goes on, and so do we, silently.
        caps.raise_ambient(_mask_of(capabilities.get("ambient")) & permitted & inheritable, last)


def close_fds_except(keep: set[int], first: int) -> None:
    """Close every descriptor from ``first`` up but ``keep``: no host fd reaches the container."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def find_executable(name: str, env: list[str]) -> str:
    """Resolve ``args[0]`` with the container's PATH, as execvp would."""
    if "/" in name:
        if not os.path.exists(name):
            raise FileNotFoundError(2, f'exec: "{name}": no such file or directory')
        return name
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for entry in env:
        if entry.startswith("PATH="):
            path = entry[5:]
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise FileNotFoundError(2, f'exec: "{name}": executable file not found in $PATH')


def env_dict(env: list[str]) -> dict[str, str]:
    result = {}
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep:
            result[key] = value
    return result


def check_cwd_inside() -> None:
    """Refuse a working directory outside the container's root (a leaked host fd as cwd)."""
    try:
        cwd = os.getcwd()
    except FileNotFoundError:
        cwd = "(unreachable)"
    if not cwd.startswith("/"):
        raise PermissionError(1, "current working directory is outside of the container root")


def become(
    process: dict[str, Any],
    seccomp: CompiledFilter | None,
    channel: Channel,
    keep_fds: set[int],
    preserve_fds: int,
) -> tuple[str, list[str], dict[str, str]]:
    """Turn the calling process into the container's ``process``, short of the exec.

    Limits, no_new_privs, seccomp, descriptors, working directory, user and capabilities,
    in runc's order. Returns what to exec: the resolved path, args and environment.
    """
    set_rlimits(process.get("rlimits") or [])
    no_new_privs = bool(process.get("noNewPrivileges"))
    if no_new_privs:
        prctl.set_no_new_privs()
    elif seccomp:
        _install_seccomp(seccomp, channel)  # needs CAP_SYS_ADMIN without no_new_privs
    close_fds_except(keep_fds | {channel.read_fd, channel.write_fd}, 3 + preserve_fds)
    os.chdir(process["cwd"])
    check_cwd_inside()
    set_identity(process)
    if no_new_privs and seccomp:
        _install_seccomp(seccomp, channel)  # as late as possible: fewer syscalls to allow
    env = process.get("env") or []
    return find_executable(process["args"][0], env), process["args"], env_dict(env)


def _install_seccomp(seccomp: CompiledFilter, channel: Channel) -> None:
    notify_fd = seccomp.load()
    if notify_fd is not None:
        # The listener's socket is a host path, out of reach after pivot_root: the parent
        # takes the descriptor with pidfd_getfd and sends it on.
        channel.send("seccomp", str(notify_fd))
        channel.expect("ok")
        os.close(notify_fd)


# The kernel's limits: a "#!" line (BINPRM_BUF_SIZE), nested interpreters, symlinks.
_SHEBANG_MAX = 256
_MAX_INTERPRETERS = 4
_MAX_SYMLINKS = 40
_AT_FDCWD = -100


def execute(path: str, args: list[str], env: dict[str, str]) -> NoReturn:
    """``execve`` of the container's process, never through a magic link (CVE-2019-5736).

    The caller is the host's Python. Left to ``execve``, a path that is a magic link
    (``/proc/self/exe``, or an image's symlink to it) or a script whose ``#!`` names one
    would run that host interpreter in the container, whose process could then keep its
    ``/proc/self/exe``, the host's file, and reopen it for writing once no Python runs on
    the host: the next ``skiff`` command would run the container's code as root. A check
    before ``execve`` would race with the container's processes (``exec``), so nothing
    is left for the kernel to resolve: symlinks are followed here (a magic one refused,
    ELOOP), the file is run from its directory's descriptor without following its name
    (``execveat``), and a script's interpreters are found the same way, the kernel's
    ``#!`` rules applied here. A file swapped meanwhile for a symlink fails (ELOOP); for a
    script, the kernel refuses it (its name, under a close-on-exec descriptor, is out of
    the interpreter's reach: ENOENT). What the container's own file runs next is the
    container's business. The process's name (``comm``) is its file's name: ``busybox``
    for busybox's applet links, where ``execve`` would name the link. Errors name
    ``path``, as ``execve``'s do."""
    for _ in range(_MAX_INTERPRETERS + 1):
        try:
            dirfd, name = _resolve(path)
            try:
                interpreter = _shebang(dirfd, name, path)
                if interpreter is None:
                    flags = AT_SYMLINK_NOFOLLOW if name else AT_EMPTY_PATH
                    execveat(dirfd, name, args, env, flags)
            finally:
                os.close(dirfd)
        except OSError as e:
            raise OSError(e.errno, os.strerror(e.errno or 0), path) from None
        assert interpreter is not None
        args = [*interpreter, path, *args[1:]]
        path = interpreter[0]
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)  # the kernel's nesting limit


def _resolve(path: str) -> tuple[int, str]:
    """(a descriptor of the directory, the name in it) of the file ``path`` leads to,
    every symlink followed here, none magic; the name is "" for a directory itself."""
    for _ in range(_MAX_SYMLINKS):
        parent, name = os.path.split(path)
        dirfd = openat2(_AT_FDCWD, parent or ".", O_PATH | os.O_DIRECTORY, 0, _RESOLVE)
        try:
            target = _link_target(dirfd, name)
        except BaseException:
            os.close(dirfd)
            raise
        if target is None:
            return dirfd, "" if name in ("", ".", "..") else name
        os.close(dirfd)
        path = target if target.startswith("/") else os.path.join(parent, target)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)


def _link_target(dirfd: int, name: str) -> str | None:
    """What the symlink ``name`` of ``dirfd`` points to; None if it is not one (or is
    missing: ``execveat`` says so). A magic link raises ELOOP."""
    if name in ("", ".", ".."):
        return None
    try:
        if not stat.S_ISLNK(os.stat(name, dir_fd=dirfd, follow_symlinks=False).st_mode):
            return None
    except FileNotFoundError:
        return None
    os.close(openat2(dirfd, name, O_PATH, 0, _RESOLVE))
    return os.readlink(name, dir_fd=dirfd)


_RESOLVE = RESOLVE_NO_MAGICLINKS


def _shebang(dirfd: int, name: str, path: str) -> list[str] | None:
    """The interpreter (and its argument) of the ``#!`` script ``name`` of ``dirfd``, by
    binfmt_script's rules; None for anything else, or a file we may not read."""
    if not name:
        return None
    try:
        fd = openat2(dirfd, name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, 0, _RESOLVE)
    except (FileNotFoundError, PermissionError):
        return None  # execveat tells
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.read(fd, _SHEBANG_MAX)
    finally:
        os.close(fd)
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].split(b"\0", 1)[0].replace(b"\t", b" ").strip(b" ")
    interpreter, _, argument = line.partition(b" ")
    if not interpreter:
        raise OSError(errno.ENOEXEC, os.strerror(errno.ENOEXEC), path)
    argument = argument.strip(b" ")
    return [os.fsdecode(interpreter)] + ([os.fsdecode(argument)] if argument else [])
