"""podman and dockerd use skiff-runtime in place of runc."""

import time


def wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_podman_runs_logs_execs_stops_removes(podman):
    from tests.interop.conftest import our_state_file

    cid = podman(
        "run", "-d", "--name", "c1", "--network", "none",
        "localhost/busybox:test", "sh", "-c", "echo hello from skiff; exec sleep 1000",
    ).strip()  # fmt: skip
    assert our_state_file(podman.runtime_root, cid) is not None
    wait_for(lambda: "hello from skiff" in podman("logs", "c1"))
    assert podman("exec", "c1", "cat", "/etc/hostname").strip() == cid[:12]
    assert podman("exec", "c1", "sh", "-c", "echo $$").strip() != "1"
    assert podman("inspect", "--format", "{{.State.Status}}", "c1").strip() == "running"
    podman("stop", "--time", "1", "c1")
    assert podman("inspect", "--format", "{{.State.Status}}", "c1").strip() == "exited"
    podman("rm", "c1")
    assert our_state_file(podman.runtime_root, cid) is None


def test_podman_exit_code_and_rm(podman):
    result = podman.run(
        "run", "--rm", "--network", "none", "localhost/busybox:test", "sh", "-c", "exit 3"
    )
    assert result.returncode == 3
    assert podman("ps", "--all", "--quiet") == ""


def test_podman_boots_a_vm_with_skiff_vm(podman):
    """skiff-vm is a runtime like runc for podman too: the workload runs under the guest's
    kernel, its output and exit code come back, and --rm leaves no QEMU behind."""
    import os
    import subprocess
    import sys

    from skiff.vm.kernel import find_kernel

    podman.runtime = os.path.join(os.path.dirname(sys.executable), "skiff-vm")
    result = podman.run(
        "run", "--rm", "--network", "none", "localhost/busybox:test",
        "sh", "-c", "uname -r; echo from podman; exit 4",
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert result.stdout == f"{find_kernel().version}\nfrom podman\n"
    assert podman("ps", "--all", "--quiet") == ""
    qemu = subprocess.run(["pgrep", "-f", str(podman.base)], capture_output=True, text=True)
    assert qemu.stdout == ""


def test_dockerd_runs_detached_execs_stops_removes(dockerd):
    from tests.interop.conftest import our_state_file

    cid = dockerd(
        "run", "-d", "--runtime", "skiff", "--name", "d1", "--network", "none",
        "busybox:test", "sh", "-c", "echo hello from skiff; exec sleep 1000",
    ).strip()  # fmt: skip
    assert our_state_file(dockerd.exec_root, cid) is not None
    assert dockerd("inspect", "--format", "{{.HostConfig.Runtime}}", "d1").strip() == "skiff"
    wait_for(lambda: "hello from skiff" in dockerd("logs", "d1"))
    assert dockerd("exec", "d1", "hostname").strip() == cid[:12]
    # Docker's defaults reach the container through skiff-runtime: seccomp and capabilities
    status = dockerd("exec", "d1", "grep", "-E", "^(Seccomp|CapEff):", "/proc/self/status")
    assert "Seccomp:\t2" in status
    assert "CapEff:\t00000000a80425fb" in status
    dockerd("stop", "--time", "1", "d1")
    assert dockerd("inspect", "--format", "{{.State.Status}}", "d1").strip() == "exited"
    dockerd("rm", "d1")
    assert our_state_file(dockerd.exec_root, cid) is None


def test_dockerd_boots_a_vm_with_skiff_vm(dockerd):
    """dockerd, through containerd's shim, drives skiff-vm like runc: --runtime vm."""
    from skiff.vm.kernel import find_kernel

    result = dockerd.run(
        "run", "--rm", "--runtime", "vm", "--network", "none", "busybox:test",
        "sh", "-c", "uname -r; echo from dockerd; exit 5",
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert result.stdout == f"{find_kernel().version}\nfrom dockerd\n"
    assert dockerd("ps", "--all", "--quiet") == ""
