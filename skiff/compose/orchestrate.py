"""What ``skiff compose`` does to the engine: ``up`` converges the project's networks,
volumes and containers on the compose file, ``down`` removes them, ``ps`` lists them.

Containers are found by docker compose's labels (``com.docker.compose.project``,
``.service``, ``.container-number``), so ``up`` twice converges instead of duplicating:
a container whose ``com.docker.compose.config-hash`` still matches its service is kept
(started if it stopped), one that differs is recreated, numbers above the scale go.
Services start in dependency order, each after its dependencies meet their
``depends_on`` condition: started, healthy, or exited 0.
"""

from __future__ import annotations

import time

from skiff.compose.loader import ComposeError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.compose.project import Project, Service
    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.engine.options import ContainerOptions

    Say = Callable[[str], None]

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
CONFIG_HASH = "com.docker.compose.config-hash"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
_COLOURS = ("36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1")
WAIT_TIMEOUT = 300.0  # seconds a dependency may take to become healthy or to complete
_POLL = 0.2


def project_containers(engine: Engine, project: str, service: str = "") -> list[Container]:
    """The project's containers (of ``service``), any state, by service and number."""
    found = []
    for container in engine.list(all=True):
        labels = container.options.get("labels") or {}
        if labels.get(PROJECT) != project or labels.get(ONEOFF) == "True":
            continue
        if service and labels.get(SERVICE) != service:
            continue
        found.append(container)
    return sorted(found, key=lambda c: (_label(c, SERVICE), int(_label(c, NUMBER) or 0)))


def _label(container: Container, key: str) -> str:
    return str((container.options.get("labels") or {}).get(key, ""))


# --- up ----------------------------------------------------------------------------------


def up(
    engine: Engine,
    project: Project,
    say: Say,
    *,
    remove_orphans: bool = False,
    wait: bool = False,
    services: list[Service] | None = None,
) -> None:
    """Create what is missing, recreate what changed, start everything (or ``services``,
    in start order; a dependency outside them is waited for, not started)."""
    chosen = project.start_order() if services is None else services
    _ensure_networks(engine, project, say)
    _ensure_volumes(engine, project, say)
    _orphans(engine, project, say, remove_orphans)
    for service in chosen:
        for dependency, condition in service.depends_on.items():
            _wait_for(engine, project, dependency, condition)
        _converge(engine, project, service, say)
    if wait:
        for service in chosen:
            condition = "service_healthy" if _has_healthcheck(engine, project, service) else ""
            _wait_for(engine, project, service.name, condition or "service_started")


def _ensure_networks(engine: Engine, project: Project, say: Say) -> None:
    from skiff.engine.networking import create_network
    from skiff.errors import NotFound

    for key, network in project.networks.items():
        try:
            engine.networks.get(network.name)
            continue
        except NotFound:
            if network.external:
                raise ComposeError(
                    f"network {network.name} declared as external, but could not be found"
                ) from None
        create_network(
            engine,
            name=network.name,
            driver=network.driver,
            subnet=network.subnet,
            gateway=network.gateway,
            internal=network.internal,
            labels={**network.labels, PROJECT: project.name, NETWORK: key},
        )
        say(f"Network {network.name}  Created\n")


def _ensure_volumes(engine: Engine, project: Project, say: Say) -> None:
    from skiff.errors import NotFound

    for key, volume in project.volumes.items():
        try:
            engine.volumes.get(volume.name)
            continue
        except NotFound:
            if volume.external:
                raise ComposeError(f'external volume "{volume.name}" not found') from None
        engine.volumes.create(
            volume.name,
            volume.driver,
            {**volume.labels, PROJECT: project.name, VOLUME: key},
            volume.driver_opts,
        )
        say(f'Volume "{volume.name}"  Created\n')


def _orphans(engine: Engine, project: Project, say: Say, remove: bool) -> None:
    known = set(project.all_service_names)
    orphans = [
        c for c in project_containers(engine, project.name) if _label(c, SERVICE) not in known
    ]
    if not orphans:
        return
    if not remove:
        names = ", ".join(c.name for c in orphans)
        say(
            f"Found orphan containers ([{names}]) for this project. If you removed or renamed"
            " this service in your compose file, you can run this command with the"
            " --remove-orphans flag to clean it up.\n"
        )
        return
    for container in orphans:
        _remove(engine, container, say)


def _converge(engine: Engine, project: Project, service: Service, say: Say) -> None:
    """The service's containers, numbered 1..scale, each up to date and running."""
    import os

    from skiff.compose.project import container_options
    from skiff.compose.services import host_paths

    for path in host_paths(project, service):
        os.makedirs(path, exist_ok=True)
    existing = {
        int(_label(c, NUMBER) or 0): c
        for c in project_containers(engine, project.name, service.name)
    }
    for number in range(1, service.scale + 1):
        options = container_options(project, service, number)
        wanted_hash = options.labels.get(CONFIG_HASH)
        current = existing.pop(number, None)
        if current is not None and _label(current, CONFIG_HASH) != wanted_hash:
            say(f"Container {current.name}  Recreate\n")
            engine.remove(current.id, force=True)
            current = None
        if current is None:
            current = create_container(engine, project, service, options, say)
        if not engine.containers.get(current.id).state.get("Running"):
            engine.start(current.id)
            say(f"Container {current.name}  Started\n")
        else:
            say(f"Container {current.name}  Running\n")
    for container in existing.values():  # above the scale
        _remove(engine, container, say)


def create_container(
    engine: Engine, project: Project, service: Service, options: ContainerOptions, say: Say
) -> Container:
    """A container of ``service`` with ``options``, connected to the service's networks
    after its first; removed again if a connection fails."""
    from skiff.compose.project import extra_networks
    from skiff.engine import networking

    container = engine.create(options)
    try:
        for network, aliases, ip in extra_networks(project, service):
            networking.connect(engine, container.id, network, aliases, ip)
    except BaseException:
        engine.remove(container.id, force=True)
        raise
    say(f"Container {container.name}  Created\n")
    return container


def _remove(engine: Engine, container: Container, say: Say) -> None:
    _stop_all(engine, [container], say)
    engine.remove(container.id, force=True)
    say(f"Container {container.name}  Removed\n")


def _stop_all(engine: Engine, containers: list[Container], say: Say) -> None:
    """Stop the running ones at once (each may take its grace period), as docker compose
    stops a service's containers together."""
    from concurrent.futures import ThreadPoolExecutor

    running = [c for c in containers if engine.containers.get(c.id).state.get("Running")]
    if not running:
        return
    with ThreadPoolExecutor(max_workers=min(len(running), 16)) as pool:
        list(pool.map(lambda c: _stop(engine, c), running))
    for container in running:
        say(f"Container {container.name}  Stopped\n")


def _stop(engine: Engine, container: Container) -> None:
    """One stop, with an Engine of its own (its database connection stays in its thread)."""
    from skiff.engine.engine import Engine

    Engine(engine.paths).stop(container.id)


def _has_healthcheck(engine: Engine, project: Project, service: Service) -> bool:
    containers = project_containers(engine, project.name, service.name)
    return any(c.state.get("Health") for c in containers)


def _wait_for(engine: Engine, project: Project, service: str, condition: str) -> None:
    """Until every container of ``service`` meets ``condition``; ComposeError if one
    cannot (it exited, it is unhealthy, it completed with another code)."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    while True:
        containers = project_containers(engine, project.name, service)
        states = [engine.containers.get(c.id).state for c in containers]
        if _met(service, condition, states):
            return
        if time.monotonic() > deadline:
            raise ComposeError(f"dependency {service} did not become {condition} in time")
        time.sleep(_POLL)


def _met(service: str, condition: str, states: list[dict[str, object]]) -> bool:
    if condition == "service_completed_successfully":
        for state in states:
            if state.get("Running"):
                return False
            if state.get("ExitCode") != 0:
                code = state.get("ExitCode")
                raise ComposeError(
                    f'service "{service}" didn\'t complete successfully: exit {code}'
                )
        return True
    if condition == "service_healthy":
        for state in states:
            health = state.get("Health") or {}
            status = health.get("Status") if isinstance(health, dict) else None
            if status == "unhealthy":
                raise ComposeError(
                    f'dependency failed to start: container for service "{service}" is unhealthy'
                )
            if not state.get("Running") and state.get("Status") == "exited":
                code = state.get("ExitCode")
                raise ComposeError(
                    f'dependency failed to start: container for service "{service}" exited ({code})'
                )
            if status != "healthy":
                return False
        return True
    return all(state.get("Running") for state in states)


# --- down --------------------------------------------------------------------------------


def down(
    engine: Engine,
    project: Project,
    say: Say,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
    images: str = "",
) -> None:
    """Stop and remove the project's containers, then its networks (and volumes, with
    ``volumes``: those it declared and the anonymous ones of its containers; and with
    ``images`` "all" every service's image, "local" those built without a name of their
    own)."""
    from skiff.engine.networking import remove_network
    from skiff.errors import NotFound

    known = set(project.all_service_names)
    order = {service.name: i for i, service in enumerate(project.stop_order())}
    containers = [
        c
        for c in project_containers(engine, project.name)
        if remove_orphans or _label(c, SERVICE) in known
    ]
    by_service: dict[str, list[Container]] = {}
    for container in containers:
        by_service.setdefault(_label(container, SERVICE), []).append(container)
    for service in sorted(by_service, key=lambda name: order.get(name, -1)):
        _stop_all(engine, by_service[service], say)
        for container in by_service[service]:
            engine.remove(container.id, force=True, volumes=volumes)
            say(f"Container {container.name}  Removed\n")
    for network in project.networks.values():
        if network.external:
            continue
        try:
            remove_network(engine, network.name)
        except NotFound:
            continue
        say(f"Network {network.name}  Removed\n")
    if volumes:
        for volume in project.volumes.values():
            if volume.external:
                continue
            try:
                engine.volumes.remove(volume.name)
            except NotFound:
                continue
            say(f"Volume {volume.name}  Removed\n")
    if images:
        _remove_images(engine, project, say, images)


def _remove_images(engine: Engine, project: Project, say: Say, which: str) -> None:
    from skiff.errors import Conflict, NotFound
    from skiff.images.remove import remove_image

    if which not in ("all", "local"):
        raise ComposeError(f'invalid --rmi value "{which}": "local" or "all"')
    for service in project.services:
        if which == "local" and (service.build is None or service.config.get("image")):
            continue
        try:
            remove_image(
                engine.images,
                service.image,
                False,
                lambda image_id: [c.id for c in engine.containers.using_image(image_id)],
            )
        except (Conflict, NotFound):
            continue
        say(f"Image {service.image}  Removed\n")


# --- build ------------------------------------------------------------------------------


def build(
    engine: Engine,
    project: Project,
    say: Say,
    services: list[Service] | None = None,
    *,
    no_cache: bool = False,
    pull: bool = False,
) -> None:
    """Build the image of each service that has ``build``, tagged as the service's image
    (and its ``build.tags``), with skiff's builder."""
    from skiff.build.builder import BuildOptions
    from skiff.build.builder import build as build_image
    from skiff.build.context import BuildContext
    from skiff.build.snapshot import workspace

    for service in services if services is not None else project.services:
        spec = service.build
        if spec is None:
            continue
        say(f"Building {service.name}\n")
        with workspace(engine.paths, "files") as directory:
            dockerfile = spec.dockerfile
            if spec.dockerfile_inline:
                dockerfile = f"{directory}/Dockerfile"
                with open(dockerfile, "w") as f:
                    f.write(spec.dockerfile_inline)
            options = BuildOptions(
                dockerfile=dockerfile,
                tags=[service.image, *spec.tags],
                build_args=dict(spec.args),
                target=spec.target,
                no_cache=no_cache or spec.no_cache,
                pull=pull or spec.pull,
                labels=dict(spec.labels),
                network=spec.network,
            )
            build_image(
                engine.images, lambda: engine, BuildContext.open(spec.context), options, say
            )


def missing_images(engine: Engine, project: Project) -> list[Service]:
    """The services with ``build`` whose image is not in the store yet."""
    from skiff.errors import NotFound

    missing = []
    for service in project.services:
        if service.build is None:
            continue
        try:
            engine.images.get(service.image)
        except NotFound:
            missing.append(service)
    return missing


# --- start, stop, restart, kill, rm -------------------------------------------------------


def _chosen(engine: Engine, project: Project, names: list[str]) -> list[Container]:
    for name in names:
        project.service(name)  # "no such service"
    containers = project_containers(engine, project.name)
    return [c for c in containers if not names or _label(c, SERVICE) in names]


def start(engine: Engine, project: Project, say: Say, names: list[str]) -> None:
    for container in _chosen(engine, project, names):
        if not engine.containers.get(container.id).state.get("Running"):
            engine.start(container.id)
            say(f"Container {container.name}  Started\n")


def stop(engine: Engine, project: Project, say: Say, names: list[str]) -> None:
    order = {service.name: i for i, service in enumerate(project.stop_order())}
    chosen = _chosen(engine, project, names)
    for service in sorted({_label(c, SERVICE) for c in chosen}, key=lambda n: order.get(n, -1)):
        _stop_all(engine, [c for c in chosen if _label(c, SERVICE) == service], say)


def restart(engine: Engine, project: Project, say: Say, names: list[str]) -> None:
    for container in _chosen(engine, project, names):
        engine.restart(container.id)
        say(f"Container {container.name}  Started\n")


def kill(engine: Engine, project: Project, say: Say, names: list[str], signal: str) -> None:
    for container in _chosen(engine, project, names):
        if engine.containers.get(container.id).state.get("Running"):
            engine.kill(container.id, signal)
            say(f"Container {container.name}  Killed\n")


def remove(
    engine: Engine, project: Project, say: Say, names: list[str], *, stop_first: bool, volumes: bool
) -> None:
    """``rm``: the stopped containers (with ``stop_first``, the running ones stopped)."""
    chosen = _chosen(engine, project, names)
    if stop_first:
        _stop_all(engine, chosen, say)
    for container in chosen:
        if engine.containers.get(container.id).state.get("Running"):
            continue
        engine.remove(container.id, volumes=volumes)
        say(f"Container {container.name}  Removed\n")


# --- logs -------------------------------------------------------------------------------


def logs(
    engine: Engine,
    project: Project,
    write: Callable[[bytes], None],
    names: list[str],
    *,
    follow: bool = False,
    tail: int | None = None,
    timestamps: bool = False,
    colour: bool = False,
) -> None:
    """Each container's output, every line prefixed by its name (padded to the longest;
    with ``colour``, a colour per service, as on docker compose's terminal); with
    ``follow``, all of them at once as the lines come, until they all stop."""
    import threading

    chosen = _chosen(engine, project, names)
    width = max((len(c.name) for c in chosen), default=0)
    lock = threading.Lock()
    services = list(dict.fromkeys(_label(c, SERVICE) for c in chosen))

    def show(container: Container) -> None:
        from skiff.engine.engine import Engine
        from skiff.engine.logs import ContainerLog

        own = Engine(engine.paths)  # each thread its own database connection
        prefix = f"{container.name.ljust(width)}  | ".encode()
        if colour:
            code = _COLOURS[services.index(_label(container, SERVICE)) % len(_COLOURS)]
            prefix = f"\033[{code}m".encode() + prefix + b"\033[0m"
        log = ContainerLog(own, own.containers.get(container.id))
        for line in log.lines(tail=tail, follow=follow):
            stamp = f"{line.timestamp()} ".encode() if timestamps else b""
            text = line.text if line.text.endswith(b"\n") else line.text + b"\n"
            with lock:
                write(prefix + stamp + text)

    if not follow:
        for container in chosen:
            show(container)
        return
    threads = [threading.Thread(target=show, args=(c,), daemon=True) for c in chosen]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(0.2)
