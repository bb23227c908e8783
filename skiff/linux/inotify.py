"""inotify(7): wait until files in some directories change, instead of polling them."""

from __future__ import annotations

import ctypes
import os
import select

from skiff.linux.libc import check, libc

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC

_init = libc.inotify_init1
_init.argtypes = [ctypes.c_int]
_add_watch = libc.inotify_add_watch
_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


class Watcher:
    """An inotify instance: ``watch`` directories, then ``wait`` for any change in them."""

    def __init__(self) -> None:
        self.fd = check(_init(_IN_NONBLOCK | _IN_CLOEXEC), "inotify_init1")
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN)

    def watch(self, path: str, mask: int) -> None:
        check(_add_watch(self.fd, os.fsencode(path), mask), "inotify_add_watch", path)

    def wait(self, timeout: float) -> bool:
        """Until something changed or ``timeout`` seconds passed; whether it changed."""
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return False
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        os.close(self.fd)
