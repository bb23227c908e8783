"""CRI RuntimeService: the runtime's status, pod sandboxes (skiff.cri.sandboxes over
skiff.engine.pods), containers (skiff.cri.containers over the engine), ExecSync, stats,
events, and the streaming calls (URLs on skiff.cri.streaming's server). The calls in
``PENDING`` answer UNIMPLEMENTED (the CRI's own answer for a call a runtime does not
support), naming what they belong to."""

from __future__ import annotations

import glob
import os
import threading

import skiff.cri.proto.api_pb2 as api_pb2
import skiff.cri.proto.api_pb2_grpc as api_pb2_grpc
from skiff import __version__
from skiff.cri.status import abort, answers
from skiff.errors import Conflict, EngineError, InvalidArgument, NotFound
from skiff.jsonio import dumps

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import grpc

    from skiff.cri.streaming import StreamingServer
    from skiff.engine.engine import Engine
    from skiff.paths import Paths

KUBELET_API_VERSION = "0.1.0"  # what the kubelet sends and expects back in `version`
RUNTIME_NAME = "skiff"
RUNTIME_API_VERSION = "v1"
CNI_CONF_DIR = "/etc/cni/net.d"

# What each call that is not built yet belongs to, for its UNIMPLEMENTED message.
PENDING = {
    "checkpoints": ("CheckpointContainer",),
    "metrics": ("ListMetricDescriptors", "ListPodSandboxMetrics", "StreamPodSandboxMetrics"),
    "resource updates of pods": ("UpdatePodSandboxResources",),
    "streamed lists": (
        "StreamPodSandboxes", "StreamPodSandboxStats", "StreamContainers",
        "StreamContainerStats",
    ),
    "runtime configuration": ("UpdateRuntimeConfig",),
}  # fmt: skip
IMPLEMENTED = (
    "Version", "Status", "RuntimeConfig",
    "RunPodSandbox", "StopPodSandbox", "RemovePodSandbox", "PodSandboxStatus", "ListPodSandbox",
    "CreateContainer", "StartContainer", "StopContainer", "RemoveContainer", "ListContainers",
    "ContainerStatus", "UpdateContainerResources", "ReopenContainerLog", "ExecSync",
    "ContainerStats", "ListContainerStats", "PodSandboxStats", "ListPodSandboxStats",
    "GetContainerEvents", "Exec", "Attach", "PortForward",
)  # fmt: skip
# skiff's container events, as the CRI's
EVENT_TYPES = {
    "create": api_pb2.CONTAINER_CREATED_EVENT,
    "start": api_pb2.CONTAINER_STARTED_EVENT,
    "die": api_pb2.CONTAINER_STOPPED_EVENT,
    "destroy": api_pb2.CONTAINER_DELETED_EVENT,
}


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
    def __init__(self, paths: Paths, cni_conf_dir: str = CNI_CONF_DIR) -> None:
        self.paths = paths
        self.cni_conf_dir = cni_conf_dir
        self._local = threading.local()  # an engine (its database connection) per thread
        self.streaming: StreamingServer | None = None  # set by server.serve

    def engine(self) -> Engine:
        engine: Engine | None = getattr(self._local, "engine", None)
        if engine is None:
            from skiff.engine.engine import Engine

            engine = self._local.engine = Engine(self.paths)
        engine.forget()
        return engine

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

    # --- pod sandboxes -----------------------------------------------------------------

    @answers
    def RunPodSandbox(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.sandboxes import pod_config

        pod = self.engine().pods.create(pod_config(request, self.cni_conf_dir))
        return api_pb2.RunPodSandboxResponse(pod_sandbox_id=pod.id)

    @answers
    def StopPodSandbox(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.engine().pods.stop(_pod_id(request.pod_sandbox_id))
        return api_pb2.StopPodSandboxResponse()

    @answers
    def RemovePodSandbox(self, request: Any, context: grpc.ServicerContext) -> Any:
        pods = self.engine().pods
        try:
            pods.remove(_pod_id(request.pod_sandbox_id))
        except NotFound:
            pass  # already gone: removal is idempotent
        return api_pb2.RemovePodSandboxResponse()

    @answers
    def PodSandboxStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.sandboxes import status

        pod = self.engine().pods.get(_pod_id(request.pod_sandbox_id))
        info = {"info": dumps({"config": pod.config.to_dict(), "state": pod.state})}
        return api_pb2.PodSandboxStatusResponse(
            status=status(pod), info=info if request.verbose else {}
        )

    @answers
    def ListPodSandbox(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.sandboxes import matches, sandbox

        wanted = request.filter if request.HasField("filter") else None
        pods = [p for p in self.engine().pods.all() if wanted is None or matches(p, wanted)]
        return api_pb2.ListPodSandboxResponse(items=[sandbox(p) for p in pods])

    # --- containers ------------------------------------------------------------------

    @answers
    def CreateContainer(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.containers import options_for
        from skiff.images.inspect import find_image

        engine = self.engine()
        pod = engine.pods.get(_pod_id(request.pod_sandbox_id))
        if not pod.ready:
            raise Conflict(f"pod sandbox {pod.id} is not ready")
        if not request.config.image.image:
            raise InvalidArgument("container config has no image")
        try:
            image = find_image(engine.images, request.config.image.image)
        except (NotFound, InvalidArgument):
            raise NotFound(f"image {request.config.image.image!r} not found") from None
        container = engine.create(options_for(request.config, pod, image.id))
        return api_pb2.CreateContainerResponse(container_id=container.id)

    @answers
    def StartContainer(self, request: Any, context: grpc.ServicerContext) -> Any:
        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        if container.state.get("Running"):
            raise Conflict(f"container {container.id} is already running")
        engine.start(container.id)
        return api_pb2.StartContainerResponse()

    @answers
    def StopContainer(self, request: Any, context: grpc.ServicerContext) -> Any:
        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        if container.state.get("Running"):
            engine.stop(container.id, timeout=max(int(request.timeout), 0))
        return api_pb2.StopContainerResponse()

    @answers
    def RemoveContainer(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            self.engine().remove(_container_id(request.container_id), force=True)
        except NotFound:
            pass  # already gone: removal is idempotent
        return api_pb2.RemoveContainerResponse()

    @answers
    def ListContainers(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.containers import listed, matches, pod_of

        wanted = request.filter if request.HasField("filter") else None
        found = [
            c for c in self.engine().containers.all()
            if pod_of(c) and (wanted is None or matches(c, wanted))
        ]  # fmt: skip
        return api_pb2.ListContainersResponse(containers=[listed(c) for c in found])

    @answers
    def ContainerStatus(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.containers import status

        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        info = {"info": dumps({"options": container.options, "state": container.state})}
        return api_pb2.ContainerStatusResponse(
            status=status(container, engine.log_path(container.id)),
            info=info if request.verbose else {},
        )

    @answers
    def UpdateContainerResources(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.containers import resources

        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        changes = resources(request.linux)
        if changes:
            engine.update(container.id, changes)
        return api_pb2.UpdateContainerResourcesResponse()

    @answers
    def ReopenContainerLog(self, request: Any, context: grpc.ServicerContext) -> Any:
        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        if not container.state.get("Running"):
            raise Conflict(f"container {container.id} is not running")
        engine.reopen_log(container.id)
        return api_pb2.ReopenContainerLogResponse()

    @answers
    def ExecSync(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.exec_sync import exec_sync

        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        stdout, stderr, code = exec_sync(engine, container, list(request.cmd), request.timeout)
        return api_pb2.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=code)

    # --- streaming ---------------------------------------------------------------------

    def netns_of(self, pod_id: str) -> str:
        """The pod's network namespace file (the host's for hostNetwork); NotFound if the
        pod is unknown. The streaming server's port forwards connect in it."""
        pod = self.engine().pods.get(pod_id)
        return str(pod.state.get("namespaces", {}).get("network") or "/proc/1/ns/net")

    def _streaming(self) -> StreamingServer:
        if self.streaming is None:
            raise EngineError("the streaming server is not running")
        return self.streaming

    @answers
    def Exec(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.streaming import rpc

        return rpc.exec_response(self._streaming(), request)

    @answers
    def Attach(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.streaming import rpc

        return rpc.attach_response(self._streaming(), request)

    @answers
    def PortForward(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.streaming import rpc

        return rpc.port_forward_response(self._streaming(), request)

    # --- stats and events ------------------------------------------------------------

    @answers
    def ContainerStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.stats import container_stats

        engine = self.engine()
        container = engine.containers.get(_container_id(request.container_id))
        return api_pb2.ContainerStatsResponse(stats=container_stats(engine, container))

    @answers
    def ListContainerStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.containers import matches, pod_of
        from skiff.cri.stats import container_stats

        engine = self.engine()
        as_list = None
        if request.HasField("filter"):  # the ID, sandbox and labels of ListContainers' filter
            wanted = request.filter
            as_list = api_pb2.ContainerFilter(
                id=wanted.id,
                pod_sandbox_id=wanted.pod_sandbox_id,
                label_selector=wanted.label_selector,
            )
        found = [
            c for c in engine.containers.all()
            if pod_of(c) and (as_list is None or matches(c, as_list))
        ]  # fmt: skip
        return api_pb2.ListContainerStatsResponse(stats=[container_stats(engine, c) for c in found])

    @answers
    def PodSandboxStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.stats import pod_stats

        engine = self.engine()
        pod = engine.pods.get(_pod_id(request.pod_sandbox_id))
        return api_pb2.PodSandboxStatsResponse(stats=pod_stats(engine, pod))

    @answers
    def ListPodSandboxStats(self, request: Any, context: grpc.ServicerContext) -> Any:
        from skiff.cri.sandboxes import matches
        from skiff.cri.stats import pod_stats

        engine = self.engine()
        wanted = request.filter if request.HasField("filter") else None
        as_list = None
        if wanted is not None:  # the ID and labels of ListPodSandbox's filter
            as_list = api_pb2.PodSandboxFilter(id=wanted.id, label_selector=wanted.label_selector)
        pods = [p for p in engine.pods.all() if as_list is None or matches(p, as_list)]
        return api_pb2.ListPodSandboxStatsResponse(stats=[pod_stats(engine, p) for p in pods])

    def GetContainerEvents(self, request: Any, context: grpc.ServicerContext) -> Any:
        """The pod containers' events from now on, as they are recorded, with the pod's
        status and its containers' (the kubelet's evented PLEG)."""
        from skiff.cri import containers, sandboxes
        from skiff.engine import events
        from skiff.engine.engine import Engine
        from skiff.engine.pods import POD_LABEL

        engine = Engine(self.paths)  # this stream's own: it outlives the call's thread use
        try:
            for event in events.read(engine.containers.db, follow=context.is_active):
                pod_id = event.attributes.get(POD_LABEL, "")
                kind = EVENT_TYPES.get(event.action)
                if event.type != "container" or not pod_id or kind is None:
                    continue
                reply = api_pb2.ContainerEventResponse(
                    container_id=event.actor, container_event_type=kind,
                    created_at=event.time_nano,
                )  # fmt: skip
                try:
                    pod = engine.pods.get(pod_id)
                except NotFound:
                    pass
                else:
                    reply.pod_sandbox_status.CopyFrom(sandboxes.status(pod))
                    for member in engine.pods.containers(pod_id):
                        status = containers.status(member, engine.log_path(member.id))
                        reply.containers_statuses.append(status)
                yield reply
        finally:
            engine.close()


def _pod_id(value: str) -> str:
    if not value:
        raise InvalidArgument("the pod sandbox ID is empty")
    return value


def _container_id(value: str) -> str:
    if not value:
        raise InvalidArgument("the container ID is empty")
    return value


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
