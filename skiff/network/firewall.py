"""Isolation between networks: the one thing no CNI plugin does.

The bridge plugin masquerades, the portmap plugin publishes ports and the firewall plugin
accepts a container's traffic in the FORWARD chain; a host routes between any two bridges.
Docker keeps its networks apart with two chains of its own; skiff does the same, in the
chain the firewall plugin keeps for administrators (CNI-ADMIN, evaluated before its
accepts):

    SKIFF-ISOLATION-1   -i BRIDGE ! -o BRIDGE -j SKIFF-ISOLATION-2   (each network)
    SKIFF-ISOLATION-2   -o BRIDGE -j DROP                             (each network)

so traffic that leaves one network's bridge for another network's bridge is dropped, and
traffic to the outside passes. An ``--internal`` network's bridge drops all traffic in or
out instead. The rules of a network exist while it has containers (skiff.network.endpoints).
"""

from __future__ import annotations

import subprocess

from skiff.errors import EngineError

ADMIN_CHAIN = "CNI-ADMIN"
STAGE_1 = "SKIFF-ISOLATION-1"
STAGE_2 = "SKIFF-ISOLATION-2"


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", "-t", "filter", *args], capture_output=True, text=True)


def _ensure_chain(chain: str) -> None:
    if _iptables("-n", "-L", chain).returncode != 0:
        _iptables("-N", chain)


def _ensure_rule(chain: str, *rule: str) -> None:
    if _iptables("-C", chain, *rule).returncode != 0:
        done = _iptables("-A", chain, *rule)
        if done.returncode != 0:
            raise EngineError(f"iptables -A {chain} {' '.join(rule)}: {done.stderr.strip()}")


def _rules(bridge: str, internal: bool) -> list[tuple[str, ...]]:
    if internal:
        return [
            (STAGE_1, "-i", bridge, "!", "-o", bridge, "-j", "DROP"),
            (STAGE_1, "-o", bridge, "!", "-i", bridge, "-j", "DROP"),
        ]
    return [
        (STAGE_1, "-i", bridge, "!", "-o", bridge, "-j", STAGE_2),
        (STAGE_2, "-o", bridge, "-j", "DROP"),
    ]


def isolate(bridge: str, internal: bool) -> None:
    """Add the network's rules (each once: a crashed command may have added some)."""
    for chain in (ADMIN_CHAIN, STAGE_1, STAGE_2):
        _ensure_chain(chain)
    _ensure_rule(ADMIN_CHAIN, "-j", STAGE_1)
    for chain, *rule in _rules(bridge, internal):
        _ensure_rule(chain, *rule)


def release(bridge: str, internal: bool) -> None:
    """Remove the network's rules (those there are)."""
    for chain, *rule in _rules(bridge, internal):
        while _iptables("-D", chain, *rule).returncode == 0:
            pass
