"""CRI pod sandboxes as skiff's pods (skiff.engine.pods): the kubelet's PodSandboxConfig
becomes a PodConfig, a pod becomes a PodSandbox or a PodSandboxStatus.

Names are the kubelet's metadata as containerd reserves them (``name_namespace_uid_attempt``),
prefixed ``k8s_POD_`` as dockershim's were, so a second RunPodSandbox of the same attempt
is refused while the first exists. Stop of an unknown sandbox is NOT_FOUND and Remove of
one succeeds, as containerd answers."""

from __future__ import annotations

import skiff.cri.proto.api_pb2 as api_pb2
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.pods import Pod, PodConfig

PROTOCOLS = {api_pb2.TCP: "tcp", api_pb2.UDP: "udp", api_pb2.SCTP: "sctp"}
RUNTIME_HANDLERS = {"": "", "runc": "runc", "crun": "crun", "skiff-runtime": "", "vm": "vm"}


def pod_name(metadata: Any) -> str:
    return f"k8s_POD_{metadata.name}_{metadata.namespace}_{metadata.uid}_{metadata.attempt}"


def runtime_of(handler: str) -> str:
    """The engine's runtime for a CRI runtime handler ("" is skiff-runtime)."""
    if handler not in RUNTIME_HANDLERS:
        raise InvalidArgument(f"no runtime for {handler!r} is configured")
    return RUNTIME_HANDLERS[handler]


def pod_config(request: Any, cni_conf_dir: str) -> PodConfig:
    """A RunPodSandboxRequest as a PodConfig."""
    from skiff.engine.pods import PodConfig

    config = request.config
    metadata = config.metadata
    if not metadata.name or not metadata.namespace or not metadata.uid:
        raise InvalidArgument("sandbox metadata needs a name, a namespace and a uid")
    runtime_of(request.runtime_handler)
    options = config.linux.security_context.namespace_options
    network = "host" if options.network == api_pb2.NODE else "cni"
    pid = {api_pb2.NODE: "host", api_pb2.POD: "pod"}.get(options.pid, "")
    ports = []
    for mapping in config.port_mappings:
        if not 0 < mapping.container_port < 65536 or not 0 <= mapping.host_port < 65536:
            raise InvalidArgument(
                f"invalid port mapping {mapping.host_port}:{mapping.container_port}"
            )
        if mapping.host_port:  # the portmap plugin publishes host ports only
            ports.append({
                "hostPort": mapping.host_port,
                "containerPort": mapping.container_port,
                "protocol": PROTOCOLS.get(mapping.protocol, "tcp"),
                "hostIP": mapping.host_ip,
            })  # fmt: skip
    return PodConfig(
        name=pod_name(metadata),
        hostname=config.hostname,
        labels=dict(config.labels),
        annotations=dict(config.annotations),
        metadata={
            "name": metadata.name,
            "uid": metadata.uid,
            "namespace": metadata.namespace,
            "attempt": metadata.attempt,
        },
        network=network,
        cni_conf_dir=cni_conf_dir,
        port_mappings=ports,
        dns={
            "servers": list(config.dns_config.servers),
            "searches": list(config.dns_config.searches),
            "options": list(config.dns_config.options),
        },
        ipc="host" if options.ipc == api_pb2.NODE else "",
        pid=pid,
        sysctls=dict(config.linux.sysctls),
        cgroup_parent=config.linux.cgroup_parent,
        log_directory=config.log_directory,
        runtime_handler=request.runtime_handler,
        privileged=config.linux.security_context.privileged,
    )


def metadata_of(pod: Pod) -> Any:
    m = pod.config.metadata
    return api_pb2.PodSandboxMetadata(
        name=m.get("name", ""), uid=m.get("uid", ""), namespace=m.get("namespace", ""),
        attempt=m.get("attempt", 0),
    )  # fmt: skip


def state_of(pod: Pod) -> Any:
    return api_pb2.SANDBOX_READY if pod.ready else api_pb2.SANDBOX_NOTREADY


def created_ns(pod: Pod) -> int:
    return int(pod.created * 1e9)


def sandbox(pod: Pod) -> Any:
    """A pod as ListPodSandbox gives it."""
    return api_pb2.PodSandbox(
        id=pod.id,
        metadata=metadata_of(pod),
        state=state_of(pod),
        created_at=created_ns(pod),
        labels=pod.config.labels,
        annotations=pod.config.annotations,
        runtime_handler=pod.config.runtime_handler,
    )


def status(pod: Pod) -> Any:
    """A pod as PodSandboxStatus gives it."""
    ips = pod.ips
    modes = {"host": api_pb2.NODE, "pod": api_pb2.POD, "": api_pb2.POD}
    namespaces = api_pb2.NamespaceOption(
        network=api_pb2.NODE if pod.config.network == "host" else api_pb2.POD,
        ipc=modes[pod.config.ipc],
        pid={"host": api_pb2.NODE, "pod": api_pb2.POD}.get(pod.config.pid, api_pb2.CONTAINER),
    )
    return api_pb2.PodSandboxStatus(
        id=pod.id,
        metadata=metadata_of(pod),
        state=state_of(pod),
        created_at=created_ns(pod),
        network=api_pb2.PodSandboxNetworkStatus(
            ip=ips[0] if ips else "",
            additional_ips=[api_pb2.PodIP(ip=ip) for ip in ips[1:]],
        ),
        linux=api_pb2.LinuxPodSandboxStatus(namespaces=api_pb2.Namespace(options=namespaces)),
        labels=pod.config.labels,
        annotations=pod.config.annotations,
        runtime_handler=pod.config.runtime_handler,
    )


def matches(pod: Pod, wanted: Any) -> bool:
    """ListPodSandbox's filter: an ID (or its prefix), a state, labels."""
    if wanted.id and not pod.id.startswith(wanted.id):
        return False
    if wanted.HasField("state") and wanted.state.state != state_of(pod):
        return False
    return all(pod.config.labels.get(k) == v for k, v in wanted.label_selector.items())
