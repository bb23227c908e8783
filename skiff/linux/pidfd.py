"""pidfd_getfd(2): copy another process's descriptor (``os.pidfd_open`` opens the pidfd)."""

from skiff.linux.libc import syscall


def getfd(pidfd: int, target_fd: int) -> int:
    """A duplicate of ``target_fd`` of the process behind ``pidfd`` (pidfd_getfd(2))."""
    return syscall("pidfd_getfd", pidfd, target_fd, 0)
