"""What a test's containers may leave behind: monitor processes, runtime state, rows."""

from __future__ import annotations

import os
import time

from skiff.engine.engine import Engine
from skiff.runtime.state import SECCOMP_CACHE
from tests.support.cli import Skiff


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (conmon and its exit
    command name the run root)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline.strip()}")
    return found


def remove_all_containers(cli: Skiff) -> list[str]:
    """Force-remove the containers a test left and its networks (their bridges and rules
    stay until ``network rm``), then report what outlived them."""
    from skiff.engine.networking import remove_network

    if not cli.root.exists():
        return []
    engine = Engine(cli.paths)
    for container in engine.containers.all():
        engine.remove(container.id, force=True)
    if (cli.root / "skiff.db").exists():
        for network in engine.networks.all():
            if not network.predefined:
                remove_network(engine, network.id)
    problems: list[str] = []
    deadline = time.monotonic() + 10
    while True:
        left = processes_mentioning(str(cli.runroot) + " ")
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    problems += [f"process left behind: {p}" for p in left]
    runtime_state = cli.runroot / "runtime"
    if runtime_state.is_dir():
        problems += [
            f"runtime state left behind: {n}"
            for n in os.listdir(runtime_state)
            if n != SECCOMP_CACHE  # compiled filters, kept on purpose
        ]
    problems += [f"state row left behind: {c.id}" for c in engine.containers.all()]
    containers = cli.root / "containers"
    if containers.is_dir():
        problems += [f"container directory left behind: {n}" for n in os.listdir(containers)]
    return problems + network_leftovers(cli)


def network_leftovers(cli: Skiff) -> list[str]:
    """What a store's networks may keep after its containers are gone: endpoint rows,
    IP address leases (host-local's files: one per address), pinned namespaces."""
    problems = []
    if (cli.root / "skiff.db").exists():
        engine = Engine(cli.paths)
        rows = engine.containers.db.execute("SELECT container, network FROM endpoints")
        problems += [f"endpoint left behind: {tuple(row)}" for row in rows]
    ipam = cli.root / "network" / "ipam"
    if ipam.is_dir():
        for network in ipam.iterdir():
            problems += [
                f"IP lease left behind: {network.name}/{lease.name}"
                for lease in network.iterdir()
                if lease.name != "lock" and not lease.name.startswith("last_reserved_ip")
            ]
    pins = cli.runroot / "netns"
    if pins.is_dir():
        problems += [f"network namespace left behind: {n}" for n in os.listdir(pins)]
    return problems
