"""Mounts, devices, masked and read-only paths, pivot_root; mounts stay inside the rootfs."""

import os
import subprocess

import pytest

from tests.support.leaks import mount_points


def test_readonly_root(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "touch /newfile 2>&1; echo rc=$?")
    bundle.spec["root"]["readonly"] = True
    result = runtime.run(bundle)
    assert "Read-only file system" in result.stdout
    assert "rc=1" in result.stdout
    assert not (bundle.rootfs / "newfile").exists()


def test_writable_root(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "echo data > /newfile")
    bundle.spec["root"]["readonly"] = False
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert (bundle.rootfs / "newfile").read_text() == "data\n"


def test_masked_paths(runtime, make_bundle):
    """A masked file reads empty (/dev/null over it), a masked directory is an empty tmpfs."""
    bundle = make_bundle(
        "sh",
        "-c",
        "echo timer_list=$(wc -c < /proc/timer_list); echo firmware=$(ls /sys/firmware | wc -l)",
    )
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["timer_list=0", "firmware=0"]
    with open("/proc/timer_list") as f:
        assert f.read()
    assert os.listdir("/sys/firmware")


def test_readonly_paths(runtime, make_bundle):
    bundle = make_bundle(
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/domainname 2>&1; echo rc=$?;"
        " echo h > /proc/sysrq-trigger; echo rc=$?",
    )
    result = runtime.run(bundle)
    assert result.stdout.count("rc=1") == 2, result.stdout + result.stderr


def test_tmpfs_mount_options(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "grep ' /scratch ' /proc/self/mountinfo")
    bundle.spec["mounts"].append(
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"],
        }
    )
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    fields = result.stdout.split()
    options = set(fields[5].split(","))
    assert {"nosuid", "nodev", "noexec"} <= options
    assert "size=1024k" in result.stdout
    assert "mode=700" in result.stdout


def test_bind_mounts_ro_and_rw(runtime, make_bundle, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from host\n")
    single = tmp_path / "single.txt"
    single.write_text("one file\n")
    bundle = make_bundle(
        "sh",
        "-c",
        "cat /ro/in; echo x > /ro/out 2>/dev/null; echo ro=$?;"
        " echo y > /rw/out; cat /etc/single.txt",
    )
    bundle.spec["mounts"] += [
        {"destination": "/ro", "type": "bind", "source": str(shared), "options": ["rbind", "ro"]},
        {"destination": "/rw", "type": "bind", "source": str(shared), "options": ["rbind", "rw"]},
        {
            "destination": "/etc/single.txt",
            "type": "bind",
            "source": str(single),
            "options": ["bind", "ro"],
        },
    ]
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["from host", "ro=1", "one file"]
    assert (shared / "out").read_text() == "y\n"


def test_mount_propagation_of_bind(runtime, make_bundle, tmp_path):
    """An rslave bind of a shared host mount sees a mount made on the host later."""
    shared = tmp_path / "prop"
    (shared / "sub").mkdir(parents=True)
    inner = tmp_path / "inner"
    inner.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(shared)], check=True)
        bundle = make_bundle("sleep", "1000")
        bundle.spec["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(shared),
                "options": ["rbind", "rslave"],
            }
        )
        bundle.write()
        runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
        pid = runtime.state("c1")["pid"]
        subprocess.run(["mount", "--bind", str(inner), str(shared / "sub")], check=True)
        with open(f"/proc/{pid}/mountinfo") as f:
            seen = [line.split()[4] for line in f]
        runtime.ok("delete", "--force", "c1")
        assert "/data/sub" in seen
        assert "/data" in seen
    finally:
        subprocess.run(["umount", "-R", str(shared)], check=True)


def test_default_devices_and_links(runtime, make_bundle):
    bundle = make_bundle(
        "sh",
        "-c",
        "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty;"
        " for l in fd stdin stdout stderr ptmx; do readlink /dev/$l; done",
    )
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    devices = {
        line.split()[-1]: (line[0], line.split()[4].rstrip(","), line.split()[5])
        for line in lines[:6]
    }
    assert devices["/dev/null"] == ("c", "1", "3")
    assert devices["/dev/tty"] == ("c", "5", "0")
    assert all(line.startswith("crw-rw-rw-") for line in lines[:6])
    assert lines[6:] == [
        "/proc/self/fd",
        "/proc/self/fd/0",
        "/proc/self/fd/1",
        "/proc/self/fd/2",
        "pts/ptmx",
    ]


def test_spec_devices_and_device_cgroup(runtime, make_bundle):
    bundle = make_bundle(
        "sh",
        "-c",
        "ls -ln /dev/mynull; echo ok > /dev/mynull && echo wrote;"
        " head -c1 /dev/kmsg_alias >/dev/null 2>&1; echo kmsg=$?",
    )
    bundle.spec["linux"]["devices"] = [
        {
            "path": "/dev/mynull",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o606,
            "uid": 7,
            "gid": 8,
        },
        {"path": "/dev/kmsg_alias", "type": "c", "major": 1, "minor": 11, "fileMode": 0o666},
    ]
    # /dev/kmsg_alias exists as a node, but the device cgroup denies it
    bundle.spec["linux"]["resources"]["devices"] = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    ]
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    fields = lines[0].split()
    assert fields[0] == "crw----rw-"
    assert (fields[2], fields[3]) == ("7", "8")
    assert lines[1] == "wrote"
    assert lines[2] != "kmsg=0"


def test_sysctl(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni")
    bundle.spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    # /proc/sys stays read-only (as Docker has it): sysctls are written before that
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1234"]


def test_symlink_in_image_cannot_redirect_a_mount(runtime, make_bundle, tmp_path):
    """A mount destination through a symlink to a host path lands inside the rootfs."""
    host_dir = tmp_path / "host-target"
    host_dir.mkdir()
    bundle = make_bundle("sh", "-c", "grep -c ' /evil/x ' /proc/self/mountinfo || true")
    os.symlink(str(host_dir), bundle.rootfs / "evil")
    bundle.spec["root"]["readonly"] = False
    bundle.spec["mounts"].append({"destination": "/evil/x", "type": "tmpfs", "source": "tmpfs"})
    before = mount_points()
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert not (host_dir / "x").exists()
    # the mount went to rootfs/<host_dir path>/x
    assert (bundle.rootfs / str(host_dir).lstrip("/") / "x").is_dir()
    assert mount_points() == before


def test_no_pivot(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "ls /; cat /proc/self/mountinfo | wc -l")
    bundle.write()
    result = runtime("run", "--no-pivot", "--bundle", str(bundle.path), "c1")
    assert result.returncode == 0, result.stderr
    assert "bin" in result.stdout.split()


def test_cgroup_namespace_and_mount(runtime, make_bundle):
    bundle = make_bundle("sh", "-c", "cat /proc/self/cgroup; ls /sys/fs/cgroup")
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    memory_line = next(line for line in lines if ":memory:" in line)
    assert memory_line.endswith(":/")
    assert "memory" in lines
    assert "pids" in lines


@pytest.mark.parametrize("propagation", ["private", "rslave", "rshared"])
def test_rootfs_propagation(runtime, make_bundle, propagation):
    """Every propagation is accepted. With rshared, runc makes the rootfs's parent private
    first (pivot_root refuses shared mounts), so the rootfs itself never comes out shared."""
    bundle = make_bundle("awk", '$5 == "/"', "/proc/self/mountinfo")
    bundle.spec["linux"]["rootfsPropagation"] = propagation
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    assert "shared:" not in result.stdout


def test_memory_and_pids_limits_seen_inside(runtime, make_bundle):
    """Without a cgroup namespace the container's own cgroup is bind-mounted: its limits show."""
    bundle = make_bundle(
        "sh",
        "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max;"
        " grep :memory: /proc/self/cgroup",
    )
    bundle.spec["linux"]["namespaces"] = [
        ns for ns in bundle.spec["linux"]["namespaces"] if ns["type"] != "cgroup"
    ]
    bundle.spec["linux"]["cgroupsPath"] = f"/skiff-test-limits-{os.getpid()}"
    bundle.spec["linux"]["resources"]["memory"] = {"limit": 48 << 20}
    bundle.spec["linux"]["resources"]["pids"] = {"limit": 17}
    result = runtime.run(bundle)
    assert result.returncode == 0, result.stderr
    limit, pids, cgroup = result.stdout.split()
    assert int(limit) == 48 << 20
    assert pids == "17"
    assert cgroup.endswith(f":memory:/skiff-test-limits-{os.getpid()}")
