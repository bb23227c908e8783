"""skiff-vm's pieces that need no guest: the initramfs archive (read back by busybox's
cpio), module order, the settings fragment (sourced by a real shell), sizes and ports."""

import os
import subprocess
from pathlib import Path

import pytest

from skiff.errors import InvalidArgument, SkiffError
from skiff.vm.create import cpus, find_executable, forwards, memory_mib
from skiff.vm.guest_config import BindCopy, bind_mounts, guest_config
from skiff.vm.initramfs import Cpio
from skiff.vm.kernel import Kernel, KernelMissing, find_kernel, read_modules_dep

BUSYBOX = "/bin/busybox"


def test_cpio_is_read_back_by_busybox_cpio(tmp_path: Path) -> None:
    archive = Cpio()
    archive.directory("bin")
    archive.file("bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.file("odd", b"x" * 5)  # lengths that need padding
    (tmp_path / "a.cpio").write_bytes(archive.to_bytes())
    out = tmp_path / "out"
    out.mkdir()
    with open(tmp_path / "a.cpio", "rb") as f:
        subprocess.run([BUSYBOX, "cpio", "-i", "-d"], stdin=f, cwd=out, check=True,
                       capture_output=True)  # fmt: skip
    assert (out / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.stat(out / "bin" / "hello").st_mode & 0o777 == 0o755
    assert os.readlink(out / "bin" / "sh") == "busybox"
    assert (out / "odd").read_bytes() == b"xxxxx"


def test_modules_come_after_what_they_need(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "modules.dep").write_text(
        "kernel/a/virtio_ring.ko:\n"
        "kernel/a/virtio.ko: kernel/a/virtio_ring.ko\n"
        "kernel/b/virtio_blk.ko: kernel/a/virtio.ko kernel/a/virtio_ring.ko\n"
        "kernel/c/net-failover.ko: kernel/c/failover.ko\n"
        "kernel/c/failover.ko:\n"
        "kernel/c/virtio_net.ko: kernel/c/net-failover.ko kernel/c/failover.ko kernel/a/virtio.ko"
        " kernel/a/virtio_ring.ko\n"
    )
    kernel = Kernel("test", "/dev/null", str(modules))
    order = kernel.module_files(("virtio_blk", "virtio_net"))
    assert order == [
        "kernel/a/virtio_ring.ko",
        "kernel/a/virtio.ko",
        "kernel/b/virtio_blk.ko",
        "kernel/c/failover.ko",
        "kernel/c/net-failover.ko",
        "kernel/c/virtio_net.ko",
    ]
    with pytest.raises(KernelMissing, match="kernel test has no module vsock"):
        kernel.module_files(("vsock",))
    assert read_modules_dep(str(modules / "modules.dep"))["kernel/a/virtio.ko"] == [
        "kernel/a/virtio_ring.ko"
    ]


def test_the_installed_cloud_kernel_is_found() -> None:
    kernel = find_kernel()
    assert kernel.version.endswith("-cloud-amd64")
    assert os.path.basename(kernel.module_files()[-1]) == "virtio_net.ko"


def test_no_kernel_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(KernelMissing, match="no guest kernel: install linux-image-cloud-amd64"):
        find_kernel(boot=str(tmp_path), modules_root=str(tmp_path))


def _sourced(fragment: str, show: str) -> str:
    """Source the fragment in busybox's shell, as the guest init does, and run ``show``."""
    script = fragment.rsplit("end\n", 1)[0] + show
    return subprocess.run([BUSYBOX, "sh", "-c", script], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def test_settings_survive_the_shell_whatever_they_contain() -> None:
    tricky = ["it's", '"$HOME"', "a b", "$(touch /tmp/pwned)", "x\ny", "`id`", "*"]
    spec = {
        "hostname": "h'1",
        "process": {
            "args": ["sh", *tricky],
            "env": ["A=it's $(id)", "B=two words"],
            "cwd": "/work dir",
            "user": {"uid": 1000, "gid": 100},
        },
    }
    fragment = guest_config(spec, "/bin/sh", [], network=False)
    shown = _sourced(
        fragment,
        'eval "set -- $ARGS"; for a; do printf "[%s]" "$a"; done; echo; '
        'eval "env -i $ENVIRON /bin/busybox env"; printf "%s|%s|%s|%s\\n" '
        '"$HOSTNAME" "$CWD" "$UID_" "$GID_"',
    )
    assert shown == (
        "".join(f"[{a}]" for a in ["/bin/sh", *tricky]) + "\n"
        "A=it's $(id)\nB=two words\nh'1|/work dir|1000|100\n"
    )
    assert not os.path.exists("/tmp/pwned")


def test_mounts_rlimits_and_network_in_setup(tmp_path: Path) -> None:
    spec = {
        "process": {
            "args": ["true"],
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 2**64 - 1},
            ],
        },
        "root": {"readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/etc/hosts", "type": "bind", "source": "/h",
             "options": ["rbind", "rro", "rprivate"]},
            {"destination": "/data", "type": "bind", "source": "/d", "options": ["rbind"]},
            {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "size=65536k"]},
        ],
    }  # fmt: skip
    assert bind_mounts(spec) == [("/h", "/etc/hosts", True), ("/d", "/data", False)]
    binds = [BindCopy(0, "/h", "/etc/hosts", True, True), BindCopy(1, "/d", "/data", False, False)]
    fragment = guest_config(spec, "/bin/true", binds, network=True)
    setup = fragment[fragment.index("setup() {") : fragment.index("}\nend")]
    assert "ROOT_OPTIONS=ro\n" in fragment
    assert setup.splitlines()[1:] == [
        "    :",
        "    ip link set lo up",
        "    ip link set eth0 up",
        "    ip addr add 10.0.2.15/24 dev eth0",
        "    ip route add default via 10.0.2.2",
        "    mkdir -p /mounts/rw",
        '    mount -t ext4 -o rw "$(findfs LABEL=skiff-mounts-rw)" /mounts/rw',
        "    mkdir -p /mounts/ro",
        '    mount -t ext4 -o ro "$(findfs LABEL=skiff-mounts-ro)" /mounts/ro',
        "    mkdir -p /newroot/etc && touch /newroot/etc/hosts",
        "    mount --bind /mounts/ro/m0/file /newroot/etc/hosts",
        "    mkdir -p /newroot/data",
        "    mount --bind /mounts/rw/m1 /newroot/data",
        "    mkdir -p /newroot/run",
        "    mount -t tmpfs -o nosuid,size=65536k tmpfs /newroot/run",
        "    limit n 1024 4096",
        "    limit c 0 unlimited",
    ]


def test_memory_and_cpus_size_the_guest() -> None:
    assert memory_mib({}) == 256
    assert memory_mib({"memory": {"limit": 512 << 20}}) == 512
    with pytest.raises(InvalidArgument, match="a VM needs at least 64 MiB of memory"):
        memory_mib({"memory": {"limit": 32 << 20}})
    assert cpus({}) == 1
    assert cpus({"cpu": {"quota": 150000, "period": 100000}}) == min(2, os.cpu_count() or 1)


def test_forwards_come_from_the_annotation() -> None:
    assert forwards({"io.skiff.vm.ports": "80/tcp 53/udp 8080"}) == [
        ("tcp", 80),
        ("udp", 53),
        ("tcp", 8080),
    ]
    with pytest.raises(InvalidArgument, match="bad port 'http/tcp'"):
        forwards({"io.skiff.vm.ports": "http/tcp"})


def test_executable_is_resolved_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")
    tool = root / "usr" / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    (root / "usr" / "bin" / "data").write_text("not executable")
    (root / "usr" / "bin" / "escape").symlink_to("/bin/busybox")  # absolute: inside the root
    env = ["PATH=/nowhere:/bin"]
    assert find_executable(str(root), "tool", env) == "/bin/tool"
    assert find_executable(str(root), "/usr/bin/tool", env) == "/usr/bin/tool"
    for name in ("data", "escape", "missing"):
        with pytest.raises(SkiffError, match=f'exec: "{name}": executable file not found'):
            find_executable(str(root), name, env)
