"""The container process as seen from inside: identity, capabilities, limits, names."""

import os

import pytest

from skiff.linux.capabilities import NUMBERS
from skiff.linux.namespaces import KINDS


def cap_mask(names: list[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << NUMBERS[name]
    return mask


def test_exit_code_and_output(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "echo hello from $$; exit 7")
    result = runtime.run(bundle)
    assert result.returncode == 7
    assert result.stdout == "hello from 1\n"


def test_hostname(runtime, make_bundle):
    bundle = make_bundle("hostname")
    bundle.spec["hostname"] = "box-one"
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "box-one\n"


def test_domainname(skiff_runtime, make_bundle):
    """linux.domainname is newer than Debian's runc 1.1.5: skiff only."""
    bundle = make_bundle("cat", "/proc/sys/kernel/domainname")
    bundle.spec["domainname"] = "example.test"
    result = skiff_runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "example.test\n"


def read_caps(output: str) -> dict[str, int]:
    return {k.rstrip(":"): int(v, 16) for k, v in (line.split() for line in output.splitlines())}


CAPS_SCRIPT = "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status"
BOUNDING = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID"]


def test_capability_sets_of_root(runtime, make_bundle):
    """Root under no_new_privs (the default spec's): exec keeps exactly the permitted set."""
    bundle = make_bundle("sh", "-c", CAPS_SCRIPT)
    bundle.spec["process"]["capabilities"] = {
        "bounding": BOUNDING,
        "effective": ["CAP_CHOWN"],
        "permitted": ["CAP_CHOWN"],
        "inheritable": [],
        "ambient": [],
    }
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    seen = read_caps(result.stdout)
    assert seen == {
        "CapInh": 0,
        "CapPrm": cap_mask(["CAP_CHOWN"]),
        "CapEff": cap_mask(["CAP_CHOWN"]),
        "CapBnd": cap_mask(BOUNDING),
        "CapAmb": 0,
    }


def test_capability_sets_of_a_user(runtime, make_bundle):
    """For another uid, only the ambient set survives exec into permitted and effective."""
    bundle = make_bundle("sh", "-c", CAPS_SCRIPT)
    bundle.spec["process"]["user"] = {"uid": 1000, "gid": 1000}
    bundle.spec["process"]["capabilities"] = {
        "bounding": BOUNDING,
        "effective": ["CAP_CHOWN", "CAP_KILL"],
        "permitted": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_KILL"],
    }
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    seen = read_caps(result.stdout)
    kill = cap_mask(["CAP_KILL"])
    assert seen == {
        "CapInh": cap_mask(["CAP_KILL", "CAP_NET_RAW"]),
        "CapPrm": kill,
        "CapEff": kill,
        "CapBnd": cap_mask(BOUNDING),
        "CapAmb": kill,
    }


def test_user_groups_and_umask(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "id -u; id -g; id -G; umask; touch /tmp/f; stat -c %a /tmp/f")
    bundle.spec["process"]["user"] = {
        "uid": 1000,
        "gid": 1001,
        "additionalGids": [5, 2000],
        "umask": 0o077,
    }
    bundle.spec["root"]["readonly"] = False
    bundle.spec["mounts"].append(
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}
    )
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    uid, gid, groups, umask, mode = result.stdout.splitlines()
    assert (uid, gid) == ("1000", "1001")
    assert set(groups.split()) == {"1001", "5", "2000"}
    assert umask == "0077"
    assert mode == "600"


def test_rlimits(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Hc")
    bundle.spec["process"]["rlimits"] = [
        {"type": "RLIMIT_NOFILE", "soft": 321, "hard": 654},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
    ]
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    # busybox reports RLIMIT_CORE in 512-byte blocks
    assert result.stdout.split() == ["321", "654", "8"]


def test_no_new_privileges_and_oom_score(runtime, make_bundle):
    bundle = make_bundle(
        "sh", "-c", "grep NoNewPrivs /proc/self/status; cat /proc/self/oom_score_adj"
    )
    bundle.spec["process"]["noNewPrivileges"] = True
    bundle.spec["process"]["oomScoreAdj"] = 345
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["NoNewPrivs:", "1", "345"]
    bundle.spec["process"]["noNewPrivileges"] = False
    result = runtime.run(bundle, "c2")
    assert result.stdout.split()[:2] == ["NoNewPrivs:", "0"]


def test_environment_and_cwd(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", 'echo "$GREETING"; pwd')
    bundle.spec["process"]["env"].append("GREETING=hello world")
    bundle.spec["process"]["cwd"] = "/work/dir"
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["hello world", "/work/dir"]


def test_command_not_found(runtime, make_bundle):
    bundle = make_bundle("no-such-command")
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert "no-such-command" in result.stderr
    assert "not found" in result.stderr


@pytest.mark.parametrize("kind", ["pid", "ipc", "uts", "mount", "network", "cgroup"])
def test_new_namespaces(runtime, make_bundle, kind):
    name = KINDS[kind][1]
    bundle = make_bundle("readlink", f"/proc/self/ns/{name}")
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    host = os.readlink(f"/proc/self/ns/{name}")
    assert result.stdout.strip().startswith(f"{name}:[")
    assert result.stdout.strip() != host
