"""A container's files on the host: its overlay rootfs and the files Docker generates
(/etc/hostname, /etc/hosts, /etc/resolv.conf), under ``containers/<id>/``."""

from __future__ import annotations

import os

from skiff.errors import EngineError
from skiff.storage.layers import LayerDirs, mount_overlay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.images.service import Image
    from skiff.paths import Paths


class ContainerFiles:
    def __init__(self, paths: Paths, container_id: str) -> None:
        self.dir = os.path.join(paths.containers, container_id)
        self.upper = os.path.join(self.dir, "upper")
        self.work = os.path.join(self.dir, "work")
        self.rootfs = os.path.join(self.dir, "merged")
        self.bundle = os.path.join(self.dir, "bundle")
        self.hostname = os.path.join(self.dir, "hostname")
        self.hosts = os.path.join(self.dir, "hosts")
        self.resolv_conf = os.path.join(self.dir, "resolv.conf")

    def make(self) -> None:
        """The container's directories. Its own directory keeps other host users out
        (0700); the upper directory is the container's ``/`` (overlayfs takes the root's
        mode from it), so it is 0755 as an image's root is, or a non-root user inside
        could not reach anything."""
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        for path, mode in ((self.upper, 0o755), (self.rootfs, 0o755)):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        for path in (self.work, self.bundle):
            os.makedirs(path, mode=0o700, exist_ok=True)

    def mounted(self) -> bool:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == self.rootfs for line in f)

    def mount(self, layers: LayerDirs, image: Image) -> None:
        if self.mounted():
            return
        names = [layer["directory"] for layer in reversed(image.layers())]
        mount_overlay(layers, names, self.upper, self.work, self.rootfs)

    def unmount(self) -> None:
        if self.mounted():
            from skiff.linux.mount import umount

            try:
                umount(self.rootfs)
            except OSError as e:
                raise EngineError(f"unmount {self.rootfs}: {e.strerror}") from None

    def write_etc(self, hostname: str, extra_hosts: list[str], resolv_conf: str) -> None:
        """The files bind-mounted over the image's /etc/hostname, /etc/hosts, resolv.conf
        (skiff.engine.networking writes what goes in them)."""
        with open(self.hostname, "w") as f:
            f.write(hostname + "\n")
        lines = [
            "127.0.0.1\tlocalhost",
            "::1\tlocalhost ip6-localhost ip6-loopback",
            "fe00::0\tip6-localnet",
            "ff00::0\tip6-mcastprefix",
            "ff02::1\tip6-allnodes",
            "ff02::2\tip6-allrouters",
            *extra_hosts,
        ]
        with open(self.hosts, "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(self.resolv_conf, "w") as f:
            f.write(resolv_conf)

    def remove(self) -> None:
        self.unmount()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def host_resolv_conf() -> str:
    """The host's resolv.conf without loopback nameservers, which mean nothing in a
    container's own network namespace (Docker then falls back to public resolvers; skiff
    leaves the list empty rather than send queries to addresses the user did not choose)."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ""
    kept = [line for line in lines if not _loopback_nameserver(line.split())]
    return "\n".join(kept) + "\n"


def _loopback_nameserver(words: list[str]) -> bool:
    return (
        len(words) >= 2
        and words[0] == "nameserver"
        and (words[1].startswith("127.") or words[1] == "::1")
    )
