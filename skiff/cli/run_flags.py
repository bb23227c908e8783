"""The flags of ``skiff run`` and ``skiff create`` (Docker's names, help and checks), and
the ContainerOptions they make. Values are parsed by skiff.engine.options, which words
its complaints as the docker CLI does; a bad value is a usage error (exit 125)."""

from __future__ import annotations

from skiff.cli.main import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from skiff.cli.flags import Flag
    from skiff.cli.main import Options, Parser
    from skiff.engine.options import ContainerOptions

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


def add_flags(parser: Parser, run: bool) -> None:
    """The flags of ``create``; ``run`` adds --detach, --rm's siblings and --sig-proxy."""
    flag = parser.flag
    flag(
        "--add-host",
        kind="list",
        help="Add a custom host-to-IP mapping (host:ip)",
        check=_vetted("parse_extra_host"),
    )
    flag("-a", "--attach", kind="list", help="Attach to STDIN, STDOUT or STDERR")
    flag("--annotation", kind="map", help="Add an annotation to the container")
    flag("--blkio-weight", kind="uint16", help="Block IO (relative weight), between 10 and 1000")
    flag("--cap-add", kind="list", help="Add Linux capabilities")
    flag("--cap-drop", kind="list", help="Drop Linux capabilities")
    flag("--cgroup-parent", kind="string", help="Optional parent cgroup for the container")
    flag("--cgroupns", kind="string", help="Cgroup namespace to use (host|private)")
    flag("--cpu-period", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) period")
    flag("--cpu-quota", kind="int", help="Limit CPU CFS (Completely Fair Scheduler) quota")
    flag("--cpu-rt-period", kind="int", help="Limit CPU real-time period in microseconds")
    flag("--cpu-rt-runtime", kind="int", help="Limit CPU real-time runtime in microseconds")
    flag("-c", "--cpu-shares", kind="int", help="CPU shares (relative weight)")
    flag("--cpus", kind="decimal", help="Number of CPUs")
    flag("--cpuset-cpus", kind="string", help="CPUs in which to allow execution (0-3, 0,1)")
    flag("--cpuset-mems", kind="string", help="MEMs in which to allow execution (0-3, 0,1)")
    if run:
        flag("-d", "--detach", help="Run container in background and print container ID")
        flag(
            "--detach-keys",
            kind="string",
            help="Override the key sequence for detaching a container",
        )
    flag("--device", kind="list", help="Add a host device to the container")
    flag(
        "--device-cgroup-rule",
        kind="list",
        help="Add a rule to the cgroup allowed devices list",
    )
    flag("--dns", kind="list", help="Set custom DNS servers", check=_vetted("parse_dns"))
    flag("--dns-option", kind="list", help="Set DNS options")
    flag(
        "--dns-search",
        kind="list",
        help="Set custom DNS search domains",
        check=_vetted("parse_dns_search"),
    )
    flag("--domainname", kind="string", help="Container NIS domain name")
    flag("--entrypoint", kind="string", help="Overwrite the default ENTRYPOINT of the image")
    flag("-e", "--env", kind="list", help="Set environment variables")
    flag("--env-file", kind="list", help="Read in a file of environment variables")
    flag("--expose", kind="list", help="Expose a port or a range of ports")
    flag("--group-add", kind="list", help="Add additional groups to join")
    flag("--health-cmd", kind="string", help="Command to run to check health")
    flag(
        "--health-interval",
        kind="duration",
        help="Time between running the check (ms|s|m|h) (default 0s)",
    )
    flag(
        "--health-on-failure",
        kind="string",
        help="Action when the health check fails: none, kill, restart or stop",
        default="none",
    )
    flag("--health-retries", kind="int", help="Consecutive failures needed to report unhealthy")
    flag(
        "--health-start-interval",
        kind="duration",
        help="Time between running the check during the start period (ms|s|m|h) (default 0s)",
    )
    flag(
        "--health-start-period",
        kind="duration",
        help="Start period for the container to initialize before starting health-retries "
        "countdown (ms|s|m|h) (default 0s)",
    )
    flag(
        "--health-timeout",
        kind="duration",
        help="Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
    )
    flag("-h", "--hostname", kind="string", help="Container host name")
    flag(
        "--init",
        help="Run an init inside the container that forwards signals and reaps processes",
    )
    flag("-i", "--interactive", help="Keep STDIN open even if not attached")
    flag("--ip", kind="string", help="IPv4 address (e.g., 172.30.100.104)")
    flag("--ipc", kind="string", help="IPC mode to use")
    flag("-l", "--label", kind="list", help="Set meta data on a container")
    flag("--label-file", kind="list", help="Read in a line delimited file of labels")
    flag("--log-driver", kind="string", help="Logging driver for the container")
    flag("--log-opt", kind="list", help="Log driver options")
    flag("--mac-address", kind="string", help="Container MAC address (e.g., 92:d0:c6:0a:29:33)")
    flag("-m", "--memory", kind="bytes", help="Memory limit")
    flag("--memory-reservation", kind="bytes", help="Memory soft limit")
    flag(
        "--memory-swap",
        kind="bytes",
        help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap",
    )
    flag(
        "--memory-swappiness",
        kind="int",
        help="Tune container memory swappiness (0 to 100) (default -1)",
    )
    flag("--mount", kind="mount", help="Attach a filesystem mount to the container")
    flag("--name", kind="string", help="Assign a name to the container")
    flag(
        "--network",
        kind="network",
        help="Connect a container to a network (none, host, bridge)",
    )
    flag("--network-alias", kind="list", help="Add network-scoped alias for the container")
    flag("--no-healthcheck", help="Disable any container-specified HEALTHCHECK")
    flag("--oom-kill-disable", help="Disable OOM Killer")
    flag("--oom-score-adj", kind="int", help="Tune host's OOM preferences (-1000 to 1000)")
    flag("--pid", kind="string", help="PID namespace to use")
    flag("--pids-limit", kind="int", help="Tune container pids limit (set -1 for unlimited)")
    flag("--platform", kind="string", help="Set platform if server is multi-platform capable")
    flag("--privileged", help="Give extended privileges to this container")
    flag("-p", "--publish", kind="list", help="Publish a container's port(s) to the host")
    flag("-P", "--publish-all", help="Publish all exposed ports to random ports")
    flag(
        "--pull",
        kind="string",
        help='Pull image before running ("always", "missing", "never")',
        default="missing",
    )
    flag("-q", "--quiet", help="Suppress the pull output")
    flag("--read-only", help="Mount the container's root filesystem as read only")
    flag(
        "--restart",
        kind="string",
        help="Restart policy to apply when a container exits",
        default="no",
    )
    flag("--rm", help="Automatically remove the container when it exits")
    flag("--runtime", kind="string", help="Runtime to use for this container")
    flag("--security-opt", kind="list", help="Security Options")
    flag("--shm-size", kind="bytes", help="Size of /dev/shm")
    if run:
        flag(
            "--sig-proxy",
            help="Proxy received signals to the process",
            default=True,
        )
    flag("--stop-signal", kind="string", help="Signal to stop the container")
    flag("--stop-timeout", kind="int", help="Timeout (in seconds) to stop a container")
    flag("--sysctl", kind="map", help="Sysctl options (default map[])")
    flag("--tmpfs", kind="list", help="Mount a tmpfs directory")
    flag("-t", "--tty", help="Allocate a pseudo-TTY")
    flag("--ulimit", kind="ulimit", help="Ulimit options (default [])")
    flag("-u", "--user", kind="string", help="Username or UID (format: <name|uid>[:<group|gid>])")
    flag("--userns", kind="string", help="User namespace to use")
    flag("--uts", kind="string", help="UTS namespace to use")
    flag("-v", "--volume", kind="list", help="Bind mount a volume")
    flag("--volumes-from", kind="list", help="Mount volumes from the specified container(s)")
    flag("-w", "--workdir", kind="string", help="Working directory inside the container")


def _vetted(parser: str) -> Callable[[Flag, str], None]:
    """A check of each value as the docker CLI makes it while it reads its flags (pflag's
    validators), so the first bad one on the command line is the one reported, before
    anything else: ``parser`` names the skiff.engine.options function."""

    def check(flag: Flag, value: str) -> None:
        from skiff.cli.flags import FlagError
        from skiff.engine import options

        try:
            getattr(options, parser)(value)
        except options.InvalidFlagValue as e:
            raise FlagError(str(e)) from None

    return check


def to_options(opts: Options, image: str, command: list[str]) -> ContainerOptions:
    """The ContainerOptions of a parsed ``run``/``create`` command line."""
    try:
        return _to_options(opts, image, command)
    except _FlagError as e:
        raise UsageError(str(e)) from None


class _FlagError(Exception):
    pass


def _to_options(opts: Options, image: str, command: list[str]) -> ContainerOptions:
    import os

    from skiff.engine import options as o
    from skiff.errors import InvalidArgument

    try:
        network = _network(opts)
        env = [line for path in opts.env_file for line in o.parse_env_file(path)]
        env += [o.parse_env(value) for value in opts.env]
        labels = [line for path in opts.label_file for line in o.parse_label_file(path)]
        labels += [o.parse_label(value) for value in opts.label]
        health = o.parse_health(
            cmd=opts.health_cmd or "",
            interval=_duration(opts.health_interval, "--health-interval"),
            timeout=_duration(opts.health_timeout, "--health-timeout"),
            start_period=_duration(opts.health_start_period, "--health-start-period"),
            start_interval=_duration(opts.health_start_interval, "--health-start-interval"),
            retries=o.parse_int(opts.health_retries, "--health-retries")
            if opts.health_retries
            else 0,
            no_healthcheck=opts.no_healthcheck,
        )
        values = {
            "image": image,
            "name": opts.name or "",
            "command": command,
            "entrypoint": None if opts.entrypoint is None else [opts.entrypoint],
            "hostname": opts.hostname or "",
            "domainname": opts.domainname or "",
            "user": opts.user or "",
            "workdir": opts.workdir or "",
            "env": env,
            "labels": o.kv_to_dict(labels),
            "annotations": o.kv_to_dict(opts.annotation),
            "tty": opts.tty,
            "interactive": opts.interactive,
            "attach": _attach(opts),
            "auto_remove": opts.rm,
            "privileged": opts.privileged,
            "read_only": opts.read_only,
            "init": True if opts.init else None,
            "cap_add": list(opts.cap_add),
            "cap_drop": list(opts.cap_drop),
            "security": o.parse_security_opts(opts.security_opt) if opts.security_opt else None,
            "sysctls": dict(o.parse_sysctl(value) for value in opts.sysctl),
            "ulimits": [o.parse_ulimit(value) for value in opts.ulimit],
            "devices": [o.parse_device(value) for value in opts.device],
            "device_cgroup_rules": [
                o.parse_device_cgroup_rule(value) for value in opts.device_cgroup_rule
            ],
            "volumes": [o.parse_volume(value, os.getcwd()) for value in opts.volume],
            "mounts": [o.parse_mount(value, os.getcwd()) for value in opts.mount],
            "volumes_from": list(opts.volumes_from),
            "tmpfs": dict(o.parse_tmpfs(value) for value in opts.tmpfs),
            "restart": o.parse_restart(opts.restart) if opts.restart else None,
            "healthcheck": health,
            "health_on_failure": _health_action(opts.health_on_failure),
            "stop_signal": opts.stop_signal or "",
            "stop_timeout": None
            if opts.stop_timeout is None
            else o.parse_int(opts.stop_timeout, "--stop-timeout"),
            "log_driver": opts.log_driver or "",
            "log_opts": o.parse_log_opts(opts.log_driver or "", opts.log_opt),
            "network": opts.network or "",
            **network,
            "pid": opts.pid or "",
            "ipc": opts.ipc or "",
            "uts": opts.uts or "",
            "userns": opts.userns or "",
            "cgroupns": opts.cgroupns or "",
            "group_add": list(opts.group_add),
            "shm_size": _bytes(opts.shm_size, "--shm-size"),
            "oom_kill_disable": opts.oom_kill_disable,
            "oom_score_adj": _int(opts.oom_score_adj, "--oom-score-adj"),
            "memory": _bytes(opts.memory, "--memory"),
            "memory_swap": o.parse_memory_swap(opts.memory_swap) if opts.memory_swap else 0,
            "memory_reservation": _bytes(opts.memory_reservation, "--memory-reservation"),
            "memory_swappiness": -1
            if opts.memory_swappiness is None
            else o.parse_int(opts.memory_swappiness, "--memory-swappiness"),
            "cpu_shares": _int(opts.cpu_shares, "--cpu-shares"),
            "cpu_period": _int(opts.cpu_period, "--cpu-period"),
            "cpu_quota": _int(opts.cpu_quota, "--cpu-quota"),
            "cpu_rt_period": _int(opts.cpu_rt_period, "--cpu-rt-period"),
            "cpu_rt_runtime": _int(opts.cpu_rt_runtime, "--cpu-rt-runtime"),
            "nano_cpus": o.parse_cpus(opts.cpus) if opts.cpus else 0,
            "cpuset_cpus": opts.cpuset_cpus or "",
            "cpuset_mems": opts.cpuset_mems or "",
            "pids_limit": _int(opts.pids_limit, "--pids-limit"),
            "blkio_weight": o.parse_uint16(opts.blkio_weight) if opts.blkio_weight else 0,
            "cgroup_parent": opts.cgroup_parent or "",
            "runtime": opts.runtime or "",
        }
    except o.InvalidFlagValue as e:
        raise _FlagError(str(e)) from None
    if opts.stop_signal:
        o.parse_signal(opts.stop_signal)
    if opts.network_alias and not _user_defined(opts.network or "default"):
        raise InvalidArgument("network-scoped aliases are only supported for user-defined networks")
    return o.ContainerOptions(**values)


def _network(opts: Options) -> dict[str, Any]:
    """The network options, checked in the docker CLI's order (after --dns, --dns-search
    and --add-host, vetted as the flags were read): --mac-address, -p, --expose."""
    from skiff.engine import options as o
    from skiff.network.ports import parse_expose, parse_publish

    return {
        "dns": [o.parse_dns(value) for value in opts.dns],
        "dns_search": [o.parse_dns_search(value) for value in opts.dns_search],
        "extra_hosts": [o.parse_extra_host(value) for value in opts.add_host],
        "mac_address": o.parse_mac_address(opts.mac_address) if opts.mac_address else "",
        "publish": [binding for spec in opts.publish for binding in parse_publish(spec)],
        "publish_all": opts.publish_all,
        "expose": list(dict.fromkeys(p for spec in opts.expose for p in parse_expose(spec))),
        "dns_options": list(opts.dns_option),
        "ip": opts.ip or "",
        "network_aliases": list(opts.network_alias),
    }


def _user_defined(mode: str) -> bool:
    """Docker's ``NetworkMode.IsUserDefined``: a network by name, not a mode."""
    return mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")


def _bytes(value: str | None, flag: str) -> int:
    from skiff.engine.options import parse_bytes

    return parse_bytes(value, flag) if value else 0


def _int(value: str | None, flag: str) -> int:
    from skiff.engine.options import parse_int

    return parse_int(value, flag) if value else 0


def _duration(value: str | None, flag: str) -> int:
    from skiff.engine.options import parse_duration

    return parse_duration(value, flag) if value else 0


def _attach(opts: Options) -> list[str]:
    """The streams a client attaches (Docker's AttachStdin/out/err): ``-a`` (Docker's
    names, case-insensitive), none with ``-d``, else stdout, stderr and with ``-i``
    stdin."""
    from skiff.engine.options import InvalidFlagValue

    if not opts.attach:
        if getattr(opts, "detach", False):
            return []
        return (["stdin"] if opts.interactive else []) + ["stdout", "stderr"]
    out = []
    for stream in opts.attach:
        name = stream.lower()
        if name not in ("stdin", "stdout", "stderr"):
            raise InvalidFlagValue("attach", stream, "valid streams are STDIN, STDOUT and STDERR")
        out.append(name)
    return out


def _health_action(value: str) -> str:
    from skiff.errors import InvalidArgument

    if value not in ("none", "kill", "restart", "stop"):
        raise InvalidArgument(
            f'invalid value "{value}" for --health-on-failure: none, kill, restart or stop'
        )
    return value
