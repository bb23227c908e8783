"""``skiff run --runtime vm``: the same image booted in a QEMU micro-VM (skiff-vm), under
TCG on this machine. Each test boots real guests (a few seconds each) and looks from both
sides: what the workload sees inside the guest, and what is left on the host after rm."""

import glob
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from skiff.vm.kernel import find_kernel
from skiff.vm.preflight import accelerator
from tests.support.cli import Result, Skiff, tar_dir
from tests.support.engine import processes_mentioning
from tests.support.registry import free_port

VM = ("run", "--runtime", "vm")


def vm_run(skiff: Skiff, *args: str, input: str | None = None) -> Result:
    """``skiff run --runtime vm --rm ARGS``; the TCG notice is the only stderr expected."""
    return skiff(*VM, "--rm", *args, input=input, timeout=120)


def stderr_lines(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if not line.startswith("notice: ")]


def nothing_left(skiff: Skiff, container_id: str) -> list[str]:
    """QEMU processes, disks and runtime state a VM container left on the host."""
    left = processes_mentioning(container_id)
    left += glob.glob(str(skiff.root / "containers" / container_id / "bundle" / "skiff-vm"))
    left += glob.glob(str(skiff.runroot / "runtime" / container_id))
    return left


def wait_for(predicate, timeout: float = 60, interval: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s")


def test_output_exit_code_and_a_kernel_of_its_own(skiff: Skiff, busybox: str) -> None:
    """The workload runs under the guest's kernel (Debian's cloud kernel), not the host's:
    that is what makes it a VM. Its stdout and stderr come back apart; its code is ours."""
    result = vm_run(skiff, "busybox", "sh", "-c", "uname -r; echo oops >&2; exit 3")
    assert result.code == 3, result
    assert result.out == f"{find_kernel().version}\n"
    assert stderr_lines(result) == ["oops"]
    assert all(line.startswith("notice: the VM runs under TCG") for line in result.err.splitlines()
               if line.startswith("notice: "))  # fmt: skip


SHOW_PROCESS = 'echo "$GREETING|$PWD|$(id -u):$(id -g)|$(hostname)|$(ulimit -Sn) $(ulimit -Hn)"'


def test_env_cwd_user_hostname_and_rlimits(skiff: Skiff, busybox: str) -> None:
    result = vm_run(
        skiff, "-e", "GREETING=hello there", "-w", "/tmp/work", "-u", "1000:1000",
        "--hostname", "guest1", "--ulimit", "nofile=256:512", "busybox",
        "sh", "-c", SHOW_PROCESS,
    )  # fmt: skip
    assert result.code == 0, result
    assert result.out == "hello there|/tmp/work|1000:1000|guest1|256 512\n"


def test_stdin_is_piped_in(skiff: Skiff, busybox: str) -> None:
    lines = "".join(f"line {n}\n" for n in range(2000))
    result = vm_run(skiff, "-i", "busybox", "sh", "-c", "wc -l; echo done", input=lines)
    assert result.code == 0, result
    assert result.out.split() == ["2000", "done"]


def test_detached_logs_stop_and_rm_leave_nothing(skiff: Skiff, busybox: str) -> None:
    """stop's SIGTERM reaches the workload in the guest (its trap runs and sets the
    code); rm removes QEMU, the disks and the runtime's state."""
    script = 'trap "echo got TERM; exit 7" TERM; echo up; while :; do sleep 0.1; done'
    run = skiff(*VM, "-d", "--name", "vm1", "busybox", "sh", "-c", script, timeout=120)
    assert run.code == 0, run
    container_id = run.out.strip()
    wait_for(lambda: skiff("logs", "vm1").out == "up\n")
    assert processes_mentioning(container_id), "no QEMU for the running container"
    skiff.ok("pause", "vm1")  # the cgroup freezes the shim and QEMU: the whole guest
    assert skiff.container("vm1")["State"]["Status"] == "paused"
    skiff.ok("unpause", "vm1")
    refused = skiff("exec", "vm1", "true")  # the guest runs one workload and has no agent
    assert refused.code != 0 and "exec is not supported by skiff-vm" in refused.err, refused
    stop = skiff("stop", "vm1")
    assert stop.code == 0, stop
    state = skiff.container("vm1")["State"]
    assert (state["Status"], state["ExitCode"]) == ("exited", 7)
    assert skiff("logs", "vm1").out == "up\ngot TERM\n"
    assert skiff("rm", "vm1").code == 0
    assert nothing_left(skiff, container_id) == []


def test_published_port_answers_on_loopback(skiff: Skiff, busybox: str) -> None:
    port = free_port()
    script = "echo served by a VM > /tmp/index.html; exec httpd -f -p 80 -h /tmp"
    run = skiff(*VM, "-d", "-p", f"127.0.0.1:{port}:80", "busybox", "sh", "-c", script,
                timeout=120)  # fmt: skip
    assert run.code == 0, run

    def fetch() -> bytes | None:
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
        except OSError:
            return None

    assert wait_for(fetch) == b"served by a VM\n"
    assert skiff("rm", "-f", run.out.strip()).code == 0
    assert nothing_left(skiff, run.out.strip()) == []


def test_bind_mounted_host_file_and_volume_are_read_inside(
    skiff: Skiff, busybox: str, tmp_path: Path
) -> None:
    host_file = tmp_path / "greeting.txt"
    host_file.write_text("from the host\n")
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "x").write_text("x\n")
    result = vm_run(
        skiff, "-v", f"{host_file}:/etc/greeting:ro", "-v", f"{data}:/data", "busybox",
        "sh", "-c", "cat /etc/greeting /data/sub/x; echo w > /etc/greeting || echo read-only",
    )  # fmt: skip
    assert result.code == 0, result
    assert result.out == "from the host\nx\nread-only\n"
    assert stderr_lines(result)[-1].endswith("Read-only file system")


def test_memory_sizes_the_guest(skiff: Skiff, busybox: str) -> None:
    result = vm_run(skiff, "--memory", "256m", "busybox", "sh", "-c",
                    "grep MemTotal /proc/meminfo")  # fmt: skip
    assert result.code == 0, result
    kib = int(result.out.split()[1])
    assert 180 * 1024 < kib <= 256 * 1024, result.out  # less what the guest kernel keeps


def test_cpus_size_the_guest(skiff: Skiff, busybox: str) -> None:
    result = vm_run(skiff, "--cpus", "2", "busybox", "nproc")
    assert result.code == 0, result
    assert result.out == f"{min(2, os.cpu_count() or 1)}\n"


# --- bad input ------------------------------------------------------------------------------


def test_missing_command_is_127_and_leaves_nothing(skiff: Skiff, busybox: str) -> None:
    result = skiff(*VM, "--name", "nocmd", "busybox", "no-such-command", timeout=120)
    assert result.code == 127, result
    assert 'exec: "no-such-command": executable file not found in $PATH' in result.err
    container_id = skiff.container("nocmd")["Id"]
    assert nothing_left(skiff, container_id) == []


def test_image_without_a_shell(skiff: Skiff, tmp_path: Path) -> None:
    """An image with busybox but no sh link: ``sh -c`` cannot run, as with Docker."""
    root = tmp_path / "noshell"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    skiff.ok("import", str(tar_dir(tmp_path / "noshell.tar", root)), "noshell:latest")
    result = skiff(*VM, "--rm", "noshell", "sh", "-c", "true", timeout=120)
    assert result.code == 127, result
    assert 'exec: "sh": executable file not found in $PATH' in result.err
    ran = vm_run(skiff, "noshell", "/bin/busybox", "echo", "no shell needed")
    assert (ran.code, ran.out) == (0, "no shell needed\n"), ran


def test_no_kernel_installed(skiff: Skiff, busybox: str) -> None:
    skiff.env["SKIFF_VM_KERNEL"] = "/nonexistent/vmlinuz"
    result = vm_run(skiff, "busybox", "true")
    assert result.code == 125, result
    assert result.err.strip().endswith(
        "no guest kernel: install linux-image-cloud-amd64 (make setup does) "
        "or set SKIFF_VM_KERNEL to a vmlinuz whose modules are in /lib/modules"
    ), result.err
    assert len(result.err.strip().splitlines()) == 1
    assert skiff.ok("ps", "-aq") == ""


def test_qemu_missing(skiff: Skiff, busybox: str) -> None:
    skiff.env["SKIFF_VM_QEMU"] = "/nonexistent/qemu-system-x86_64"
    result = vm_run(skiff, "busybox", "true")
    assert result.code == 125, result
    assert "/nonexistent/qemu-system-x86_64 is not installed: install qemu-system-x86" in result.err
    assert skiff.ok("ps", "-aq") == ""


def test_a_guest_that_does_not_boot_in_time(skiff: Skiff, busybox: str) -> None:
    """The boot timeout (here 0.2 s, by annotation) ends in one line naming it, with what
    the console said last; QEMU is killed and nothing stays."""
    result = skiff(*VM, "--name", "slow", "--annotation", "io.skiff.vm.boot-timeout=0.2",
                   "busybox", "true", timeout=120)  # fmt: skip
    assert result.code == 125, result
    message = stderr_lines(result)[-1]
    assert "the VM did not boot in 0.2 s; its console's last lines: " in message, result.err
    assert nothing_left(skiff, skiff.container("slow")["Id"]) == []


def test_terminal_is_refused(skiff: Skiff, busybox: str) -> None:
    result = skiff(*VM, "--rm", "-t", "busybox", "true", timeout=120)
    assert result.code == 125, result
    assert "a terminal (-t) is not supported by skiff-vm" in result.err


def test_skiff_vm_speaks_runcs_command_line(tmp_path: Path) -> None:
    """The runtime alone, as podman or dockerd would drive it: unknown ids and commands."""
    vm = os.path.join(os.path.dirname(sys.executable), "skiff-vm")
    state = subprocess.run([vm, "--root", str(tmp_path), "state", "nope"], capture_output=True,
                           text=True)  # fmt: skip
    assert (state.returncode, state.stderr) == (1, "skiff-vm: container does not exist: nope\n")
    unknown = subprocess.run([vm, "checkpoint", "x"], capture_output=True, text=True)
    assert unknown.returncode == 2
    assert unknown.stderr == "skiff-vm: unknown command 'checkpoint': see skiff-vm --help\n"


def test_compare_prints_the_table_and_draws_the_chart(
    skiff: Skiff, busybox: str, tmp_path: Path
) -> None:
    chart = tmp_path / "compare.png"
    result = skiff("compare", "--chart", str(chart), "busybox", "true", timeout=600)
    assert result.code == 0, result
    rows = {line.split("│")[1].strip(): line for line in result.out.splitlines() if "│" in line}
    assert set(rows) >= {
        "start-up, median (ms)",
        "host memory per instance (MiB, PSS)",
    }, result.out
    startup = [cell.strip() for cell in rows["start-up, median (ms)"].split("│")[2:4]]
    container_ms, vm_ms = (float(cell) for cell in startup)
    assert 0 < container_ms < vm_ms, result.out  # a guest boots a kernel first
    memory = [cell.strip() for cell in rows["host memory per instance (MiB, PSS)"].split("│")[2:4]]
    assert 0 < float(memory[0]) < float(memory[1]), result.out  # QEMU holds the guest's RAM
    assert f"VM acceleration: {accelerator()[0].upper()} (" in result.out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert skiff.ok("ps", "-aq") == ""  # its instances are gone


def test_compare_refuses_bad_counts(skiff: Skiff, busybox: str) -> None:
    result = skiff("compare", "--runs", "0", "busybox", "true")
    assert result.code == 125, result
    assert result.err == 'Error: invalid argument "0" for "-n, --runs": not a count\n'
