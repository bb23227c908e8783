"""Signal numbers, names and handlers, from ``_signal``.

The ``signal`` module only wraps ``_signal`` in enums, and importing ``enum`` costs more
than a tenth of runc's whole ``run`` time here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal

SIGHUP = int(_signal.SIGHUP)
SIGINT = int(_signal.SIGINT)
SIGQUIT = int(_signal.SIGQUIT)
SIGKILL = int(_signal.SIGKILL)
SIGSTOP = int(_signal.SIGSTOP)
SIGCHLD = int(_signal.SIGCHLD)
SIGPIPE = int(_signal.SIGPIPE)
SIGURG = int(_signal.SIGURG)
SIGTTIN = int(_signal.SIGTTIN)
SIGTTOU = int(_signal.SIGTTOU)
SIGUSR1 = int(_signal.SIGUSR1)
SIGUSR2 = int(_signal.SIGUSR2)
SIGTERM = int(_signal.SIGTERM)
SIGWINCH = int(_signal.SIGWINCH)
SIGRTMIN = int(_signal.SIGRTMIN)
SIGRTMAX = int(_signal.SIGRTMAX)

signal = _signal.signal
set_wakeup_fd = _signal.set_wakeup_fd
SIG_DFL = _signal.SIG_DFL


def restore_defaults() -> None:
    """Every signal's disposition back to the default, right before a container's process
    is exec'd. An ignored signal stays ignored across execve, and Python ignores SIGPIPE
    and SIGXFSZ (so ``yes | head`` in a container would never end), as whatever started
    the runtime may ignore others; a process of runc's starts with none ignored. The
    signals the C library keeps for itself (32 and 33, which its ``sigaction`` refuses)
    are reset with the system call."""
    import ctypes

    from skiff.linux.libc import syscall

    for number in _signal.valid_signals():
        if number not in (_signal.SIGKILL, _signal.SIGSTOP):
            try:
                _signal.signal(number, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    default = ctypes.create_string_buffer(32)  # handler SIG_DFL, no flags, empty mask
    for reserved in range(32, _signal.SIGRTMIN):
        try:
            syscall("rt_sigaction", reserved, default, None, 8)
        except OSError:
            pass


def valid_signals() -> set[int]:
    """The signal numbers this platform has."""
    return {int(s) for s in _signal.valid_signals()}


def by_name() -> dict[str, int]:
    """``TERM`` -> 15, and ``RTMIN+1`` ... as runc names them."""
    names = {
        name[3:]: int(getattr(_signal, name))
        for name in dir(_signal)
        if name.startswith("SIG") and not name.startswith("SIG_") and name[3:].isalnum()
    }
    names.update({f"RTMIN+{i}": SIGRTMIN + i for i in range(1, SIGRTMAX - SIGRTMIN)})
    return names
