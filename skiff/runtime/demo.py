"""A busybox bundle from Debian's busybox-static: the demo's first container.

``python -m skiff.runtime.demo BUNDLE`` writes BUNDLE/rootfs and BUNDLE/config.json; the
container prints its hostname, its pid 1 and its cgroup.
"""

import json
import os
import shutil
import subprocess
import sys

from skiff.runtime.specgen import default_spec

BUSYBOX = "/bin/busybox"

DEMO_SCRIPT = """\
echo "hostname: $(hostname)"
echo "pid 1:    $(tr '\\0' ' ' < /proc/1/cmdline)(pid $$)"
echo "cgroup:   $(grep -m1 memory /proc/self/cgroup || head -n1 /proc/self/cgroup)"
"""


def busybox_rootfs(rootfs: str, busybox: str = BUSYBOX) -> None:
    """A minimal root filesystem: busybox, a link per applet, and the usual directories."""
    for directory in ("bin", "dev", "etc", "proc", "sys", "tmp", "root", "var", "run"):
        os.makedirs(os.path.join(rootfs, directory), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(rootfs, "bin", "busybox"))
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = os.path.join(rootfs, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")


def main() -> int:
    bundle = sys.argv[1]
    busybox_rootfs(os.path.join(bundle, "rootfs"))
    spec = default_spec()
    spec["process"]["terminal"] = False
    with open(os.path.join(bundle, "rootfs", "hello.sh"), "w") as f:
        f.write(DEMO_SCRIPT)
    spec["process"]["args"] = ["sh", "/hello.sh"]
    spec["hostname"] = "skiff-demo"
    # Without a cgroup namespace the container sees its real cgroup path, not "/".
    namespaces = spec["linux"]["namespaces"]
    spec["linux"]["namespaces"] = [ns for ns in namespaces if ns["type"] != "cgroup"]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(spec, f, indent=2)
    print(f"bundle ready: {bundle}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
