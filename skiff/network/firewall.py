"""A network's packet filter and NAT rules: per bridge, as Docker writes them.

The CNI plugins would do this per container: the bridge plugin's ``ipMasq`` makes a chain
and rules for each container's address, and the firewall plugin accepts each address in
FORWARD. Each of those rules is an iptables run when a container starts and more when it
stops; measured here, about 60 ms of a ``run --rm`` on the bridge (more than Docker's
whole bridge set-up). Docker writes its rules per bridge, once; skiff does the same, when
a network is first used after boot (skiff.network.endpoints), and removes them with the
network (``network rm``). The default bridge keeps them, as Docker's docker0 does.

    filter  FORWARD            -j SKIFF-FORWARD                        (first)
            SKIFF-FORWARD      -j SKIFF-ISOLATION-1
                               -o BRIDGE -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
                               -o BRIDGE -m conntrack --ctstate DNAT -j ACCEPT  (published)
                               -i BRIDGE -j ACCEPT
            SKIFF-ISOLATION-1  -i BRIDGE ! -o BRIDGE -j SKIFF-ISOLATION-2
            SKIFF-ISOLATION-2  -o BRIDGE -j DROP
    nat     POSTROUTING        -j SKIFF-POSTROUTING
            SKIFF-POSTROUTING  -s SUBNET ! -o BRIDGE -j MASQUERADE

so containers reach the outside and each other on one network, published ports (the
portmap plugin's DNAT) are accepted even where the FORWARD policy is DROP (as dockerd
sets it), and traffic from one network's bridge to another's is dropped. An ``--internal``
network drops everything in or out of its bridge and is not masqueraded.

All of it is one ``iptables-save`` and one ``iptables-restore --noflush``: rules already
there (a command killed halfway) are not added twice.
"""

from __future__ import annotations

import subprocess

from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.network.networks import Network

FORWARD = "SKIFF-FORWARD"
POSTROUTING = "SKIFF-POSTROUTING"
STAGE_1 = "SKIFF-ISOLATION-1"
STAGE_2 = "SKIFF-ISOLATION-2"

# Chains and rules shared by every network (kept, as the CNI plugins keep theirs).
CHAINS = {"filter": (FORWARD, STAGE_1, STAGE_2), "nat": (POSTROUTING,)}
SHARED = {
    "filter": (f"-A FORWARD -j {FORWARD}", f"-A {FORWARD} -j {STAGE_1}"),
    "nat": (f"-A POSTROUTING -j {POSTROUTING}",),
}


def rules(network: Network) -> dict[str, list[str]]:
    """The network's own rules by table, as iptables-save prints them."""
    bridge = network.bridge
    filter_rules = [
        f"-A {FORWARD} -o {bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"-A {FORWARD} -o {bridge} -m conntrack --ctstate DNAT -j ACCEPT",
        f"-A {FORWARD} -i {bridge} -j ACCEPT",
    ]
    if network.internal:
        filter_rules += [
            f"-A {STAGE_1} -i {bridge} ! -o {bridge} -j DROP",
            f"-A {STAGE_1} ! -i {bridge} -o {bridge} -j DROP",
        ]
        return {"filter": filter_rules, "nat": []}
    filter_rules += [
        f"-A {STAGE_1} -i {bridge} ! -o {bridge} -j {STAGE_2}",
        f"-A {STAGE_2} -o {bridge} -j DROP",
    ]
    return {
        "filter": filter_rules,
        "nat": [f"-A {POSTROUTING} -s {network.subnet} ! -o {bridge} -j MASQUERADE"],
    }


def set_up(network: Network) -> None:
    """Add the shared chains and the network's rules, those not there yet."""
    chains, present = _saved()
    script = []
    for table in ("filter", "nat"):
        lines = [f":{c} - [0:0]" for c in CHAINS[table] if c not in chains[table]]
        for rule in (*SHARED[table], *rules(network)[table]):
            if rule not in present[table]:
                # the jump from FORWARD goes first: before dockerd's DROP policy rules
                first = rule == f"-A FORWARD -j {FORWARD}"
                lines.append(rule.replace("-A FORWARD", "-I FORWARD 1") if first else rule)
        if lines:
            script += [f"*{table}", *lines, "COMMIT"]
    _restore(script)


def tear_down(network: Network) -> None:
    """Remove the network's rules (those there are); the shared chains stay."""
    _, present = _saved()
    script = []
    for table, table_rules in rules(network).items():
        lines = ["-D" + rule[2:] for rule in table_rules if rule in present[table]]
        if lines:
            script += [f"*{table}", *lines, "COMMIT"]
    _restore(script)


def _saved() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The chains and the rules of the filter and nat tables."""
    out = _run(["iptables-save"], "").stdout
    chains: dict[str, set[str]] = {"filter": set(), "nat": set()}
    present: dict[str, set[str]] = {"filter": set(), "nat": set()}
    table = ""
    for line in out.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif table in chains and line.startswith(":"):
            chains[table].add(line[1:].split()[0])
        elif table in chains and line.startswith("-A "):
            present[table].add(line)
    return chains, present


def _restore(script: list[str]) -> None:
    if script:
        _run(["iptables-restore", "--noflush", "--wait"], "\n".join(script) + "\n")


def _run(command: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True)
    except FileNotFoundError:
        raise EngineError(f"{command[0]} not found (Debian's iptables package)") from None
    if done.returncode != 0:
        raise EngineError(f"{command[0]}: {done.stderr.strip() or 'failed'}")
    return done
