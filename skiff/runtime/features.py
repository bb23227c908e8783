"""``features``: what this runtime honours, in the runtime spec's features.json shape."""

from __future__ import annotations

from skiff import __version__
from skiff.linux.capabilities import NAMES as CAPABILITY_NAMES
from skiff.linux.namespaces import KINDS
from skiff.runtime import mountopts
from skiff.runtime.state import OCI_VERSION

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HOOKS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]


def features() -> dict[str, Any]:
    from skiff.runtime import seccomp

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": HOOKS,
        "mountOptions": sorted(mountopts.known_options()),
        "linux": {
            "namespaces": list(KINDS),
            "capabilities": list(CAPABILITY_NAMES),
            "cgroup": {
                "v1": True,
                "v2": True,
                "systemd": False,
                "systemdUser": False,
                "rdma": True,
            },
            "seccomp": seccomp.features(),
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": False}},
            "netDevices": {"enabled": False},
        },
        "annotations": {"io.github.skiff.runtime.version": __version__},
    }
