"""CRI containers as skiff's containers: a ContainerConfig (with its pod) becomes
ContainerOptions joined to the pod's namespaces, and a container becomes a CRI Container
or ContainerStatus.

What the kubelet sets maps onto what ``docker run`` would be given, as containerd maps it
onto its OCI spec: ``command`` is the entrypoint and ``args`` the command; the security
context is ``--user``, ``--group-add``, ``--privileged``, ``--cap-add/--cap-drop``,
``--read-only``, ``--security-opt`` (seccomp and no-new-privileges; an unset seccomp
profile is unconfined, as the kubelet means it) and the masked and read-only paths it
lists; mounts are binds whose missing host directories are made, as containerd makes
them; the log is the CRI format at ``log_directory/log_path`` (conmon's k8s-file)."""

from __future__ import annotations

import os

import skiff.cri.proto.api_pb2 as api_pb2
from skiff.engine.pods import POD_LABEL
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.engine.containers import Container
    from skiff.engine.options import ContainerOptions
    from skiff.engine.pods import Pod

NAME_LABEL = "io.skiff.cri.name"
ATTEMPT_LABEL = "io.skiff.cri.attempt"
IMAGE_LABEL = "io.skiff.cri.image"  # the image as the kubelet named it
OWN_LABELS = (POD_LABEL, NAME_LABEL, ATTEMPT_LABEL, IMAGE_LABEL)
PROPAGATION = {
    api_pb2.PROPAGATION_PRIVATE: "rprivate",
    api_pb2.PROPAGATION_HOST_TO_CONTAINER: "rslave",
    api_pb2.PROPAGATION_BIDIRECTIONAL: "rshared",
}


def container_name(config: Any, pod: Pod) -> str:
    m = pod.config.metadata
    return (
        f"k8s_{config.metadata.name}_{m.get('name')}_{m.get('namespace')}_{m.get('uid')}"
        f"_{config.metadata.attempt}"
    )


def options_for(config: Any, pod: Pod, image_id: str) -> ContainerOptions:
    """A ContainerConfig in ``pod`` as ContainerOptions."""
    from skiff.engine.options import ContainerOptions, DeviceMapping, MountSpec

    if not config.metadata.name:
        raise InvalidArgument("container metadata needs a name")
    linux = config.linux
    security = linux.security_context
    if security.privileged and not pod.config.privileged:
        # the proto: a sandbox that will run a privileged container MUST say so
        raise InvalidArgument("no privileged container allowed in a sandbox that is not privileged")
    labels = {
        **config.labels,
        POD_LABEL: pod.id,
        NAME_LABEL: config.metadata.name,
        ATTEMPT_LABEL: str(config.metadata.attempt),
        IMAGE_LABEL: config.image.image,
    }
    mounts = [_mount(m) for m in config.mounts]
    if pod.shm and not any(m.target == "/dev/shm" for m in mounts):
        mounts.append(MountSpec(type="bind", source=pod.shm, target="/dev/shm"))
    log_opts = {}
    if config.log_path and pod.config.log_directory:
        log_opts["path"] = os.path.join(pod.config.log_directory, config.log_path)
    options = ContainerOptions(
        image=image_id,
        name=container_name(config, pod),
        entrypoint=list(config.command) or None,
        command=list(config.args),
        workdir=config.working_dir,
        env=[f"{kv.key}={kv.value}" for kv in config.envs],
        labels=labels,
        annotations=dict(config.annotations),
        tty=config.tty,
        interactive=config.stdin,
        attach=["stdin"] if config.stdin and config.stdin_once else [],
        hostname=pod.config.hostname if pod.config.network != "host" else "",
        dns=pod.config.dns.get("servers", []),
        dns_search=pod.config.dns.get("searches", []),
        dns_options=pod.config.dns.get("options", []),
        network=pod.namespace("network"),
        ipc=pod.namespace("ipc"),
        uts=pod.namespace("uts"),
        pid=_pid_mode(security.namespace_options, pod),
        mounts=mounts,
        devices=[
            DeviceMapping(d.host_path, d.container_path, d.permissions or "rwm")
            for d in config.devices
        ],
        cgroup_parent=pod.config.cgroup_parent,
        log_driver="k8s-file" if log_opts else "",
        log_opts=log_opts,
        runtime=pod.config.runtime_handler,
        **_security(security),
        **resources(linux.resources),
    )
    # only once every setting is known good: what the kubelet expects to exist
    for mount in config.mounts:
        os.makedirs(mount.host_path, exist_ok=True)  # as containerd makes a missing source
    if log_opts:
        os.makedirs(os.path.dirname(log_opts["path"]), exist_ok=True)
    return options


def _mount(mount: Any) -> Any:
    from skiff.engine.options import MountSpec

    if not mount.container_path.startswith("/"):
        raise InvalidArgument(f"mount path {mount.container_path!r} is not absolute")
    if not mount.host_path.startswith("/"):
        raise InvalidArgument(f"mount source {mount.host_path!r} is not an absolute host path")
    return MountSpec(
        type="bind",
        source=mount.host_path,
        target=mount.container_path,
        readonly=mount.readonly,
        propagation=PROPAGATION.get(mount.propagation, "rprivate"),
    )


def _pid_mode(options: Any, pod: Pod) -> str:
    if options.pid == api_pb2.NODE:
        return "host"
    if options.pid == api_pb2.POD:
        return pod.namespace("pid")
    if options.pid == api_pb2.TARGET:
        if not options.target_id:
            raise InvalidArgument("pid namespace mode TARGET needs a target_id")
        return f"container:{options.target_id}"
    return ""


def _security(context: Any) -> dict[str, Any]:
    from skiff.engine.options import SecurityOptions, parse_security_opts

    user = ""
    if context.HasField("run_as_user"):
        user = str(context.run_as_user.value)
    elif context.run_as_username:
        user = context.run_as_username
    if context.HasField("run_as_group"):
        if not user:
            raise InvalidArgument("run_as_group is set without run_as_user or run_as_username")
        user += f":{context.run_as_group.value}"
    seccomp = _seccomp(context)
    security = parse_security_opts([f"seccomp={seccomp}"] if seccomp else [])
    if not seccomp:
        security = SecurityOptions(seccomp="unconfined")
    security.no_new_privileges = context.no_new_privs
    if context.masked_paths:
        security.masked_paths = list(context.masked_paths)
    if context.readonly_paths:
        security.readonly_paths = list(context.readonly_paths)
    caps = context.capabilities
    return {
        "user": user,
        "group_add": [str(g) for g in context.supplemental_groups],
        "privileged": context.privileged,
        "read_only": context.readonly_rootfs,
        "cap_add": [c.upper().removeprefix("CAP_") for c in caps.add_capabilities],
        "cap_drop": [c.upper().removeprefix("CAP_") for c in caps.drop_capabilities],
        "security": security,
    }


def _seccomp(context: Any) -> str:
    """``--security-opt seccomp=`` for the profile asked: "builtin", a file, or "" for
    unconfined (the kubelet's default)."""
    if context.HasField("seccomp"):
        profile = context.seccomp
        if profile.profile_type == api_pb2.SecurityProfile.RuntimeDefault:
            return "builtin"
        if profile.profile_type == api_pb2.SecurityProfile.Localhost:
            if not profile.localhost_ref.startswith("/"):
                raise InvalidArgument(
                    f"seccomp profile {profile.localhost_ref!r} is not an absolute path"
                )
            return profile.localhost_ref
        return ""
    path = context.seccomp_profile_path  # the deprecated form
    if path in ("runtime/default", "docker/default"):
        return "builtin"
    if path.startswith("localhost/"):
        return path.removeprefix("localhost")
    if path in ("", "unconfined"):
        return ""
    raise InvalidArgument(f"unknown seccomp profile {path!r}")


def resources(linux: Any) -> dict[str, Any]:
    """LinuxContainerResources as ContainerOptions' keys (those the kubelet set)."""
    changes: dict[str, Any] = {
        "cpu_period": linux.cpu_period,
        "cpu_quota": linux.cpu_quota,
        "cpu_shares": linux.cpu_shares,
        "memory": linux.memory_limit_in_bytes,
        "memory_swap": linux.memory_swap_limit_in_bytes,
        "oom_score_adj": linux.oom_score_adj,
        "cpuset_cpus": linux.cpuset_cpus,
        "cpuset_mems": linux.cpuset_mems,
    }
    return {key: value for key, value in changes.items() if value}


# --- what the kubelet reads back -------------------------------------------------------


def metadata_of(container: Container) -> Any:
    labels = container.options.get("labels", {})
    return api_pb2.ContainerMetadata(
        name=labels.get(NAME_LABEL, container.name), attempt=int(labels.get(ATTEMPT_LABEL, 0))
    )


def own_labels(container: Container) -> dict[str, str]:
    """The labels the kubelet gave (without skiff's own)."""
    labels = container.options.get("labels", {})
    return {k: v for k, v in labels.items() if k not in OWN_LABELS}


def state_of(container: Container) -> Any:
    state = container.state
    if state.get("Running"):
        return api_pb2.CONTAINER_RUNNING
    if state.get("Status") in ("exited", "dead") or _nanos(state.get("FinishedAt")):
        return api_pb2.CONTAINER_EXITED
    if state.get("Status") == "created":
        return api_pb2.CONTAINER_CREATED
    return api_pb2.CONTAINER_UNKNOWN


def pod_of(container: Container) -> str:
    return str(container.options.get("labels", {}).get(POD_LABEL, ""))


def image_spec(container: Container) -> Any:
    labels = container.options.get("labels", {})
    return api_pb2.ImageSpec(image=labels.get(IMAGE_LABEL, container.image_name))


def listed(container: Container) -> Any:
    """A container as ListContainers gives it."""
    return api_pb2.Container(
        id=container.id,
        pod_sandbox_id=pod_of(container),
        metadata=metadata_of(container),
        image=image_spec(container),
        image_ref=container.image_id,
        state=state_of(container),
        created_at=int(container.created * 1e9),
        labels=own_labels(container),
        annotations=container.options.get("annotations", {}),
        image_id=container.image_id,
    )


def status(container: Container, log_path: str) -> Any:
    """A container as ContainerStatus gives it: Kubernetes' reasons (OOMKilled,
    Completed, Error) and times in nanoseconds."""
    state = container.state
    cri_state = state_of(container)
    reason = ""
    if cri_state == api_pb2.CONTAINER_EXITED:
        if state.get("OOMKilled"):
            reason = "OOMKilled"
        else:
            reason = "Completed" if state.get("ExitCode") == 0 else "Error"
    mounts = [
        api_pb2.Mount(
            container_path=m["target"],
            host_path=m.get("source", ""),
            readonly=bool(m.get("readonly")),
            propagation=next((k for k, v in PROPAGATION.items() if v == m.get("propagation")),
                             api_pb2.PROPAGATION_PRIVATE),
        )
        for m in container.options.get("mounts", [])
        if m.get("type") == "bind" and m.get("target") != "/dev/shm"
    ]  # fmt: skip
    return api_pb2.ContainerStatus(
        id=container.id,
        metadata=metadata_of(container),
        state=cri_state,
        created_at=int(container.created * 1e9),
        started_at=_nanos(state.get("StartedAt")),
        finished_at=_nanos(state.get("FinishedAt")),
        exit_code=int(state.get("ExitCode") or 0),
        image=image_spec(container),
        image_ref=container.image_id,
        reason=reason,
        message=str(state.get("Error") or ""),
        labels=own_labels(container),
        annotations=container.options.get("annotations", {}),
        mounts=mounts,
        log_path=log_path if container.options.get("log_driver") == "k8s-file" else "",
        image_id=container.image_id,
    )


def _nanos(value: Any) -> int:
    """A state time (RFC 3339 with nanoseconds) as unix nanoseconds; 0 for Go's zero time."""
    from skiff.engine.timestamps import parse_time

    if not value or str(value).startswith("0001-"):
        return 0
    return max(parse_time(str(value)), 0)


def matches(container: Container, wanted: Any) -> bool:
    """ListContainers' filter: an ID (or prefix), a state, a sandbox, labels."""
    if wanted.id and not container.id.startswith(wanted.id):
        return False
    if wanted.HasField("state") and wanted.state.state != state_of(container):
        return False
    if wanted.pod_sandbox_id and not pod_of(container).startswith(wanted.pod_sandbox_id):
        return False
    labels = own_labels(container)
    return all(labels.get(k) == v for k, v in wanted.label_selector.items())
