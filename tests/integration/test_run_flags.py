"""``skiff run`` flags, each observed from inside the container (and from the host where
the kernel shows it): the process, its identity, its filesystem, its limits, its
privileges."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skiff.engine.engine import Engine
from tests.support.cli import Skiff


def run(skiff: Skiff, *args: str) -> str:
    """``skiff run --rm ARGS``: the output of a container that must succeed."""
    return skiff.ok("run", "--rm", *args)


def sh(skiff: Skiff, *flags: str, script: str) -> list[str]:
    return run(skiff, *flags, "busybox", "sh", "-c", script).splitlines()


def test_process_identity_flags(skiff: Skiff, busybox: str, tmp_path: Path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=yes\nOVERRIDDEN=file\n")
    skiff.env["PASSED_THROUGH"] = "from-host"  # -e NAME: the value of the caller's NAME
    out = sh(
        skiff,
        "--env-file", str(env_file),
        "-e", "OVERRIDDEN=flag",
        "-e", "PASSED_THROUGH",
        "-w", "/tmp/work",
        "-u", "1234:5678",
        "--group-add", "42",
        "-h", "myhost",
        "--domainname", "example.org",
        script="echo $FROM_FILE $OVERRIDDEN $PASSED_THROUGH; pwd; id -u; id -g; "
        "id -G; hostname; cat /proc/sys/kernel/domainname",
    )  # fmt: skip
    assert out == ["yes flag from-host", "/tmp/work", "1234", "5678", "5678 42", "myhost",
                   "example.org"]  # fmt: skip


def test_entrypoint_and_command(skiff: Skiff, busybox: str):
    assert run(skiff, "--entrypoint", "echo", "busybox", "a", "b") == "a b\n"
    # --entrypoint "" drops the image's entrypoint and its CMD: the command given runs
    assert run(skiff, "--entrypoint", "", "busybox", "echo", "plain") == "plain\n"


def test_user_by_name_from_the_image(skiff: Skiff, busybox: str):
    assert sh(skiff, "-u", "nobody", script="id -un; id -u") == ["nobody", "65534"]
    missing = skiff("run", "--rm", "-u", "nosuchuser", "busybox", "true")
    assert missing.code == 125
    assert missing.err == (
        "Error: unable to find user nosuchuser: no matching entries in passwd file\n"
    )


def test_labels_and_annotations_are_recorded(skiff: Skiff, busybox: str, tmp_path: Path):
    labels = tmp_path / "labels"
    labels.write_text("from.file=1\n")
    skiff.ok("create", "--name", "lab", "-l", "a=b", "--label-file", str(labels), "busybox")
    options = Engine(skiff.paths).containers.get("lab").options
    assert options["labels"] == {"a": "b", "from.file": "1"}


def test_read_only_rootfs_and_tmpfs(skiff: Skiff, busybox: str):
    out = sh(
        skiff,
        "--read-only",
        "--tmpfs", "/scratch:size=1m,mode=1770",
        script="touch /x 2>&1; touch /scratch/y && echo wrote; stat -c %a /scratch; "
        "grep ' /scratch ' /proc/self/mounts",
    )  # fmt: skip
    assert out[0] == "touch: /x: Read-only file system"
    assert out[1] == "wrote"
    assert out[2] == "1770"
    assert "tmpfs /scratch tmpfs rw,nosuid,nodev,noexec" in out[3] and "size=1024k" in out[3]


def test_shm_size(skiff: Skiff, busybox: str):
    out = sh(skiff, "--shm-size", "8m", script="df -k /dev/shm | tail -1")
    assert out[0].split()[1] == str(8 * 1024)


def test_capabilities_add_and_drop(skiff: Skiff, busybox: str):
    default = sh(skiff, script="grep CapEff /proc/self/status")[0]
    added = sh(skiff, "--cap-add", "NET_ADMIN", script="grep CapEff /proc/self/status")[0]
    dropped = sh(skiff, "--cap-drop", "CHOWN", script="chown 1 /tmp 2>&1; echo $?")
    assert int(added.split()[1], 16) == int(default.split()[1], 16) | (1 << 12)
    assert dropped == ["chown: /tmp: Operation not permitted", "1"]
    all_dropped = sh(skiff, "--cap-drop", "ALL", script="grep CapEff /proc/self/status")[0]
    assert all_dropped == "CapEff:\t0000000000000000"
    bad = skiff("run", "--rm", "--cap-add", "NOT_A_CAP", "busybox", "true")
    assert bad.code == 125 and 'unknown capability: "CAP_NOT_A_CAP"' in bad.err


def test_security_options(skiff: Skiff, busybox: str):
    assert sh(
        skiff, "--security-opt", "seccomp=unconfined", script="grep Seccomp: /proc/self/status"
    ) == ["Seccomp:\t0"]
    assert sh(
        skiff, "--security-opt", "no-new-privileges", script="grep NoNewPrivs /proc/self/status"
    ) == ["NoNewPrivs:\t1"]
    assert sh(skiff, script="grep NoNewPrivs /proc/self/status") == ["NoNewPrivs:\t0"]
    # the default profile refuses what Docker's refuses
    assert sh(skiff, script="unshare -m true 2>&1; echo $?")[-1] != "0"
    assert sh(
        skiff,
        "--security-opt",
        "label=disable",
        "--security-opt",
        "apparmor=unconfined",
        script="echo accepted",
    ) == ["accepted"]
    bad = skiff("run", "--rm", "--security-opt", "nonsense", "busybox", "true")
    assert bad.code == 125 and bad.err == 'Error: Invalid --security-opt: "nonsense"\n'


def test_sysctl_and_ulimit(skiff: Skiff, busybox: str):
    out = sh(
        skiff,
        "--sysctl", "net.ipv4.ip_forward=1",
        "--ulimit", "nofile=512:1024",
        "--ulimit", "nproc=100",
        script="cat /proc/sys/net/ipv4/ip_forward; ulimit -n; ulimit -Hn; ulimit -u",
    )  # fmt: skip
    assert out == ["1", "512", "1024", "100"]
    # never more than the host's hard limit (20000 here); Docker's default is the host's
    host_hard = str(__import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[1])
    assert sh(skiff, script="ulimit -Hn") == [host_hard]


def test_devices(skiff: Skiff, busybox: str):
    out = sh(
        skiff,
        "--device",
        "/dev/null:/dev/mynull:rwm",
        script="ls -l /dev/mynull; echo x > /dev/mynull && echo written",
    )
    assert out[0].startswith("crw") and "1,   3" in out[0]
    assert out[1] == "written"
    # without the device in the cgroup, mknod'ing it gives nothing usable
    denied = sh(skiff, script="mknod /tmp/sda b 8 0 2>&1; head -c1 /tmp/sda 2>&1; echo $?")
    assert denied[-1] != "0"


def test_cpu_and_memory_limits_in_the_cgroup(skiff: Skiff, busybox: str):
    out = sh(
        skiff,
        "--cpus", "0.5",
        "--cpu-shares", "512",
        "--cpuset-cpus", "0",
        "-m", "48m",
        "--memory-reservation", "32m",
        "--memory-swap", "96m",
        "--pids-limit", "64",
        script="cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us "
        "cpu/cpu.shares cpuset/cpuset.cpus memory/memory.limit_in_bytes "
        "memory/memory.soft_limit_in_bytes memory/memory.memsw.limit_in_bytes pids/pids.max",
    )  # fmt: skip
    assert out == ["50000", "100000", "512", "0", str(48 << 20), str(32 << 20), str(96 << 20), "64"]


def test_oom_score_adj(skiff: Skiff, busybox: str):
    out = sh(skiff, "--oom-score-adj", "500", script="cat /proc/self/oom_score_adj")
    assert out == ["500"]


def test_init_reaps_and_forwards(skiff: Skiff, busybox: str):
    out = sh(skiff, "--init", script="cat /proc/1/cmdline | tr '\\0' ' '")
    assert out[0].startswith("/sbin/docker-init -- sh -c")


def test_stop_signal_and_timeout_are_used_by_stop(skiff: Skiff, busybox: str):
    script = "trap 'echo got USR2; exit 5' USR2; while true; do sleep 0.1; done"
    skiff.ok(
        "run",
        "-d",
        "--name",
        "sig",
        "--stop-signal",
        "USR2",
        "--stop-timeout",
        "3",
        "busybox",
        "sh",
        "-c",
        script,
    )
    import time

    time.sleep(0.3)
    skiff.ok("stop", "sig")
    assert Engine(skiff.paths).containers.get("sig").state["ExitCode"] == 5


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--memory", "1k", "Error: Minimum memory limit allowed is 6MB\n"),
        (
            "--cpus",
            "99",
            f"Error: Range of CPUs is from 0.01 to {os.cpu_count()}.00, as there are only "
            f"{os.cpu_count()} CPUs available\n",
        ),
        (
            "--restart",
            "sometimes",
            "Error: invalid restart policy: unknown policy 'sometimes'; use one of 'no', "
            "'always', 'on-failure', or 'unless-stopped'\n",
        ),
        (
            "-w",
            "relative",
            "Error: the working directory 'relative' is invalid, it needs to be an absolute path\n",
        ),
        ("--ipc", "bogus", "Error: invalid IPC mode: bogus\n"),
    ],
)
def test_values_the_engine_refuses(skiff: Skiff, busybox: str, flag: str, value: str, message: str):
    result = skiff("run", "--rm", flag, value, "busybox", "true")
    assert result.code == 125
    assert result.err == message
    assert Engine(skiff.paths).containers.all() == []
