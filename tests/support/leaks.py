"""What a container may leave behind on the host: mounts, cgroups, network interfaces
(veth pairs, bridges), iptables rules, DNS servers."""

import os
import subprocess
from dataclasses import dataclass


def mount_points() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        points = {line.split()[4] for line in f}
    return {p for p in points if not p.startswith(FOREIGN_MOUNTS)}


# What other software on this machine makes and removes while tests run, not a test's
# leaks: the sandbox's command runner (a cgroup per command), and the peer engines that
# benchmarks and interop tests start (dockerd's and podman's cgroups and mounts).
FOREIGN_CGROUPS = ("process_api", "docker", "libpod_parent", "skiff-bench-")
FOREIGN_MOUNTS = ("/tmp/skiff-bench-", "/var/lib/docker/", "/run/docker/", "/var/lib/containers/")


def cgroup_dirs() -> set[str]:
    found = set()
    for mountpoint in _cgroup_mountpoints():
        for dirpath, dirnames, _ in os.walk(mountpoint):
            if dirpath == mountpoint:
                dirnames[:] = [d for d in dirnames if not d.startswith(FOREIGN_CGROUPS)]
            found.add(dirpath)
    return found


def _cgroup_mountpoints() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [
            line.split()[4]
            for line in f
            if line.split(" - ", 1)[1].split()[0] in ("cgroup", "cgroup2")
        ]


# The default bridge stays once made, as Docker's docker0 does (skiff.network.firewall).
DEFAULT_BRIDGE = "skiff0"


def links() -> set[str]:
    """Network interfaces of the host (veth ends, bridges), but skiff's default bridge and
    the peer engines'."""
    return {
        n
        for n in os.listdir("/sys/class/net")
        if n != DEFAULT_BRIDGE and not n.startswith(("docker", "br-", "cni-podman", "podman"))
    }


# Chains and rules the CNI plugins (and skiff's isolation) make once and keep, as Docker
# keeps its DOCKER chains: structure, not a container's leftovers.
PERSISTENT_RULES = (
    "-A FORWARD -j SKIFF-FORWARD",
    "-A SKIFF-FORWARD -j SKIFF-ISOLATION-1",
    "-A POSTROUTING -j SKIFF-POSTROUTING",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    "-A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
    '-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ',
    "-A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
    '-A CNI-HOSTPORT-SETMARK -m comment --comment "CNI portfwd masquerade mark" '
    "-j MARK --set-xmark 0x2000/0x2000",
)


def iptables_rules() -> set[str]:
    """The rules of the filter and nat tables, but the persistent structure above, the
    default bridge's and the peer engines' (DOCKER chains)."""
    rules = set()
    for table in ("filter", "nat"):
        out = subprocess.run(["iptables-save", "-t", table], capture_output=True, text=True).stdout
        rules |= {
            f"{table}: {line}"
            for line in out.splitlines()
            if line.startswith("-A ")
            and line not in PERSISTENT_RULES
            and "DOCKER" not in line
            and DEFAULT_BRIDGE not in line
        }
    return rules


def processes_running(program: bytes) -> set[str]:
    """ "PID command line" of the processes whose argv[0] names ``program``."""
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if program in cmdline.split(b"\0")[0]:
                found.add(f"{pid} {cmdline.replace(bytes(1), b' ').decode()}")
    return found


def dns_servers() -> set[str]:
    """aardvark-dns processes (one per run root with user networks in use)."""
    return processes_running(b"aardvark-dns")


def pod_init_processes() -> set[str]:
    """The PID 1 of pods that share a PID namespace (skiff.engine.pods: catatonit, held
    by util-linux's unshare)."""
    return processes_running(b"catatonit")


@dataclass
class Snapshot:
    mounts: set[str]
    cgroups: set[str]
    links: set[str]
    rules: set[str]
    dns: set[str]
    pod_inits: set[str]

    @classmethod
    def take(cls) -> "Snapshot":
        return cls(
            mount_points(), cgroup_dirs(), links(), iptables_rules(), dns_servers(),
            pod_init_processes(),
        )  # fmt: skip

    def leaks_since(self, before: "Snapshot") -> list[str]:
        problems = [f"mount left behind: {m}" for m in sorted(self.mounts - before.mounts)]
        problems += [f"cgroup left behind: {c}" for c in sorted(self.cgroups - before.cgroups)]
        problems += [f"interface left behind: {n}" for n in sorted(self.links - before.links)]
        problems += [f"iptables rule left behind: {r}" for r in sorted(self.rules - before.rules)]
        problems += [f"DNS server left running: {p}" for p in sorted(self.dns - before.dns)]
        problems += [
            f"pod init left running: {p}" for p in sorted(self.pod_inits - before.pod_inits)
        ]
        return problems
