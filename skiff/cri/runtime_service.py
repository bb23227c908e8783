"""CRI RuntimeService: Version, Status and RuntimeConfig; every other call answers
UNIMPLEMENTED (the CRI's own answer for a call a runtime does not support), naming what is
not built yet: pods, containers, streaming and stats are the next parts of issue 13."""

from __future__ import annotations

import glob
import os

import skiff.cri.proto.api_pb2 as api_pb2
import skiff.cri.proto.api_pb2_grpc as api_pb2_grpc
from skiff import __version__
from skiff.cri.status import abort, answers
from skiff.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import grpc

KUBELET_API_VERSION = "0.1.0"  # what the kubelet sends and expects back in `version`
RUNTIME_NAME = "skiff"
RUNTIME_API_VERSION = "v1"
CNI_CONF_DIR = "/etc/cni/net.d"

# What each call that is not built yet belongs to, for its UNIMPLEMENTED message.
PENDING = {
    "pod sandboxes": (
        "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus",
        "ListPodSandbox", "PortForward", "PodSandboxStats", "ListPodSandboxStats",
        "ListPodSandboxMetrics", "UpdatePodSandboxResources", "StreamPodSandboxes",
        "StreamPodSandboxStats", "StreamPodSandboxMetrics",
    ),
    "containers": (
        "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer",
        "ListContainers", "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog",
        "ExecSync", "Exec", "Attach", "ContainerStats", "ListContainerStats",
        "CheckpointContainer", "GetContainerEvents", "ListMetricDescriptors",
        "StreamContainers", "StreamContainerStats",
    ),
    "runtime configuration": ("UpdateRuntimeConfig",),
}  # fmt: skip
IMPLEMENTED = ("Version", "Status", "RuntimeConfig")


def cni_configs(directory: str = CNI_CONF_DIR) -> list[str]:
    """The CNI network configurations the kubelet's network would come from, in the
    order libcni loads them (file name order)."""
    found: list[str] = []
    for pattern in ("*.conf", "*.conflist", "*.json"):
        found += glob.glob(os.path.join(directory, pattern))
    return sorted(found)


def network_condition(
    conf_dir: str = CNI_CONF_DIR, plugin_dirs: list[str] | None = None
) -> tuple[bool, str, str, dict[str, Any]]:
    """NetworkReady: (ready, reason, message, what was looked at). Ready with a CNI
    configuration in ``conf_dir``, or else with skiff's own bridge network (Debian's bridge
    plugin, which skiff.network drives); not ready without either."""
    from skiff.network.cni import plugin_dirs as configured_plugin_dirs

    dirs = configured_plugin_dirs() if plugin_dirs is None else plugin_dirs
    configs = cni_configs(conf_dir)
    bridge = next((p for d in dirs if os.access(p := os.path.join(d, "bridge"), os.X_OK)), "")
    seen = {"cniConfDir": conf_dir, "cniConfigs": configs, "pluginDirs": dirs, "bridge": bridge}
    if configs:
        return True, "", f"CNI configuration found: {configs[0]}", seen
    if bridge:
        message = f"no CNI configuration in {conf_dir}; skiff's bridge network ({bridge})"
        return True, "SkiffBridge", message, seen
    message = f"no CNI configuration in {conf_dir} and no bridge plugin in {', '.join(dirs)}"
    return False, "NetworkPluginNotReady", message, seen


class RuntimeService(api_pb2_grpc.RuntimeServiceServicer):
    def __init__(self, cni_conf_dir: str = CNI_CONF_DIR) -> None:
        self.cni_conf_dir = cni_conf_dir

    @answers
    def Version(self, request: Any, context: grpc.ServicerContext) -> Any:
        return api_pb2.VersionResponse(
            version=KUBELET_API_VERSION,
            runtime_name=RUNTIME_NAME,
            runtime_version=__version__,
            runtime_api_version=RUNTIME_API_VERSION,
        )

    @answers
    def Status(self, request: Any, context: grpc.ServicerContext) -> Any:
        ready, reason, message, seen = network_condition(self.cni_conf_dir)
        conditions = [
            api_pb2.RuntimeCondition(type="RuntimeReady", status=True),
            api_pb2.RuntimeCondition(
                type="NetworkReady", status=ready, reason=reason, message=message
            ),
        ]
        info: dict[str, str] = {}
        if request.verbose:
            info = {
                "network": dumps(seen),
                "runtime": dumps({"name": RUNTIME_NAME, "version": __version__}),
                "implemented": dumps(list(IMPLEMENTED)),
            }
        return api_pb2.StatusResponse(
            status=api_pb2.RuntimeStatus(conditions=conditions), info=info
        )

    @answers
    def RuntimeConfig(self, request: Any, context: grpc.ServicerContext) -> Any:
        return api_pb2.RuntimeConfigResponse(
            linux=api_pb2.LinuxRuntimeConfiguration(cgroup_driver=api_pb2.CGROUPFS)
        )


def _unimplemented(name: str, part: str) -> Any:
    def handler(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        import grpc

        abort(
            context,
            grpc.StatusCode.UNIMPLEMENTED,
            f"skiff cri: {name} is not implemented yet ({part} are not built)",
        )

    handler.__name__ = name
    return handler


def _stub_pending() -> None:
    for part, names in PENDING.items():
        for name in names:
            setattr(RuntimeService, name, _unimplemented(name, part))


_stub_pending()
