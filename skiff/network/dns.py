"""Name resolution on user-defined networks: aardvark-dns (Debian's package, Podman's DNS
server), one process for every network of a run root.

Each network with containers has a file in ``RUNROOT/aardvark`` (the file's name is the
network's): its first line the address to answer on (the bridge's gateway), then one line
per container: ID, IPv4 address, an empty IPv6 column, and its names (container name,
short ID, aliases). aardvark-dns answers a container only with the names of the networks
it shares with the asker, forwards other questions to the host's resolvers, and re-reads
the files on SIGHUP; when the last file is gone it exits. docs/architecture.md says why
this and not Docker's 127.0.0.11.
"""

from __future__ import annotations

import os
import signal

from skiff.errors import EngineError
from skiff.locks import exclusive

TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager

AARDVARK = "/usr/lib/podman/aardvark-dns"
PORT = 53


def config_dir(runroot: str) -> str:
    return os.path.join(runroot, "aardvark")


def update(
    runroot: str, network: str, gateway: str, entries: list[tuple[str, str, list[str]]]
) -> None:
    """Write the network's file (``entries``: ID, IPv4 address, names) and have aardvark-dns
    read it: started if it does not run, else signalled."""
    directory = config_dir(runroot)
    lines = [gateway] + [f"{cid} {ip}  {','.join(names)}" for cid, ip, names in entries]
    # aardvark-dns reads every file of the directory (but its pid file): the new file is
    # written beside it, then renamed in.
    staged = os.path.join(runroot, f".aardvark-{network}")
    with _locked(runroot):
        os.makedirs(directory, exist_ok=True)
        with open(staged, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(staged, os.path.join(directory, network))
        if not _signal(directory):
            _start(directory)


def remove(runroot: str, network: str) -> None:
    """Drop the network's file; aardvark-dns stops answering there (and exits after the
    last)."""
    directory = config_dir(runroot)
    with _locked(runroot):
        try:
            os.unlink(os.path.join(directory, network))
        except FileNotFoundError:
            return
        _signal(directory)


def _locked(runroot: str) -> AbstractContextManager[None]:
    """One command at a time starts or signals the server."""
    return exclusive(os.path.join(runroot, "aardvark.lock"))


def _pid(directory: str) -> int | None:
    try:
        with open(os.path.join(directory, "aardvark.pid")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"aardvark-dns" not in f.read():
                return None
        return pid
    except (OSError, ValueError):
        return None


def _signal(directory: str) -> bool:
    pid = _pid(directory)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def _start(directory: str) -> None:
    """``aardvark-dns run`` forks the server and returns once it answers."""
    import subprocess

    if not os.access(AARDVARK, os.X_OK):
        raise EngineError(f"{AARDVARK} not found (Debian's aardvark-dns package)")
    ran = subprocess.run(
        [AARDVARK, "--config", directory, "--port", str(PORT), "run"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    if ran.returncode != 0:
        problem = ran.stderr.decode(errors="replace").replace(
            "failed to connect to syslog: Initialization", ""
        )
        raise EngineError(f"start aardvark-dns: {problem.strip()}")
