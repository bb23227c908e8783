"""The compose model: profiles, depends_on and start order, scale, networks, volumes,
secrets and configs, extends, and the container options of a service."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skiff.compose.loader import ComposeError, load
from skiff.compose.project import (
    COMPOSE_VERSION,
    BuildConfig,
    FileObject,
    Network,
    Project,
    ServiceNetwork,
    Volume,
    project_from,
)
from skiff.compose.services import (
    config_hash,
    container_options,
    extra_networks,
    host_paths,
)
from skiff.engine.options import HealthConfig, RestartPolicy, Ulimit
from skiff.network.ports import PortBinding

DIR = "/srv/app"


def make(
    services: dict[str, Any],
    *,
    directory: str | Path = DIR,
    profiles: tuple[str, ...] = (),
    environ: dict[str, str] | None = None,
    targets: tuple[str, ...] = (),
    **top: Any,
) -> Project:
    document = {"services": services, **top}
    return project_from("proj", str(directory), document, profiles, environ or {}, targets=targets)


def names(project: Project) -> list[str]:
    return [s.name for s in project.services]


def options(service: dict[str, Any], number: int = 1, **top: Any) -> Any:
    project = make({"web": {"image": "nginx", **service}}, **top)
    return container_options(project, project.service("web"), number)


def error(services: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(ComposeError) as caught:
        make(services, **kwargs)
    return str(caught.value)


# --- profiles --------------------------------------------------------------------------


PROFILED = {
    "web": {"image": "nginx"},
    "debug": {"image": "busybox", "profiles": ["debug"]},
    "tools": {"image": "busybox", "profiles": ["tools", "ops"]},
}


def test_services_with_profiles_are_off_by_default() -> None:
    project = make(PROFILED)
    assert names(project) == ["web"]
    assert project.disabled == ["debug", "tools"]
    assert project.all_service_names == ["web", "debug", "tools"]


def test_an_active_profile_enables_its_services() -> None:
    assert names(make(PROFILED, profiles=("ops",))) == ["web", "tools"]


def test_compose_profiles_activates_when_no_profile_is_asked() -> None:
    project = make(PROFILED, environ={"COMPOSE_PROFILES": "debug, tools"})
    assert names(project) == ["web", "debug", "tools"]


def test_profile_flags_replace_compose_profiles() -> None:
    project = make(PROFILED, profiles=("debug",), environ={"COMPOSE_PROFILES": "tools"})
    assert names(project) == ["web", "debug"]


def test_star_activates_every_profile() -> None:
    assert names(make(PROFILED, profiles=("*",))) == ["web", "debug", "tools"]


def test_dependencies_of_enabled_services_are_enabled() -> None:
    services = {
        "web": {"image": "nginx", "depends_on": ["db"]},
        "db": {"image": "postgres", "profiles": ["backend"]},
    }
    assert names(make(services)) == ["web", "db"]


def test_targets_are_enabled_whatever_their_profiles() -> None:
    assert names(make(PROFILED, targets=("debug",))) == ["web", "debug"]
    assert error(PROFILED, targets=("nope",)) == "no such service: nope"


# --- depends_on ------------------------------------------------------------------------


def test_depends_on_list_means_service_started() -> None:
    project = make({"web": {"image": "a", "depends_on": ["db"]}, "db": {"image": "b"}})
    assert project.service("web").depends_on == {"db": "service_started"}


def test_depends_on_mapping_keeps_conditions_required_and_restart() -> None:
    project = make(
        {
            "web": {
                "image": "a",
                "depends_on": {
                    "db": {"condition": "service_healthy", "restart": True},
                    "init": {"condition": "service_completed_successfully", "required": False},
                    "cache": {},
                },
            },
            "db": {"image": "b"},
            "init": {"image": "c"},
            "cache": {"image": "d"},
        }
    )
    web = project.service("web")
    assert web.depends_on == {
        "db": "service_healthy",
        "init": "service_completed_successfully",
        "cache": "service_started",
    }
    assert web.restart == {"db"}
    assert web.optional == {"init"}


def test_depends_on_an_undefined_service() -> None:
    services = {"web": {"image": "a", "depends_on": ["db"]}}
    assert error(services) == (
        'service "web" depends on undefined service "db": invalid compose project'
    )


def test_an_undefined_optional_dependency_is_dropped() -> None:
    services = {"web": {"image": "a", "depends_on": {"db": {"required": False}}}}
    assert make(services).service("web").depends_on == {}


def test_a_dependency_cycle_is_named() -> None:
    services = {
        "a": {"image": "x", "depends_on": ["b"]},
        "b": {"image": "x", "depends_on": ["a"]},
    }
    assert error(services) == "dependency cycle detected: a -> b -> a"


def test_a_longer_cycle_is_named_from_where_it_closes() -> None:
    services = {
        "web": {"image": "x", "depends_on": ["a"]},
        "a": {"image": "x", "depends_on": ["b"]},
        "b": {"image": "x", "depends_on": ["c"]},
        "c": {"image": "x", "depends_on": ["a"]},
    }
    assert error(services) == "dependency cycle detected: a -> b -> c -> a"


def test_a_service_depending_on_itself() -> None:
    assert error({"a": {"image": "x", "depends_on": ["a"]}}) == (
        "dependency cycle detected: a -> a"
    )


def test_network_mode_and_volumes_from_are_dependencies() -> None:
    project = make(
        {
            "app": {"image": "a", "network_mode": "service:vpn", "volumes_from": ["data:ro"]},
            "vpn": {"image": "b"},
            "data": {"image": "c"},
        }
    )
    assert project.service("app").depends_on == {
        "vpn": "service_started",
        "data": "service_started",
    }
    assert names(project) == ["app", "vpn", "data"]
    assert [s.name for s in project.start_order()] == ["vpn", "data", "app"]


# --- start order -----------------------------------------------------------------------


ORDERED = {
    "web": {"image": "x", "depends_on": {"api": {"condition": "service_healthy"}}},
    "worker": {"image": "x", "depends_on": ["db"]},
    "api": {"image": "x", "depends_on": ["db", "cache"]},
    "db": {"image": "x"},
    "cache": {"image": "x"},
    "docs": {"image": "x"},
}


def test_start_order_puts_dependencies_first_then_file_order() -> None:
    order = [s.name for s in make(ORDERED).start_order()]
    assert order == ["db", "worker", "cache", "api", "web", "docs"]


def test_stop_order_is_the_reverse() -> None:
    order = [s.name for s in make(ORDERED).stop_order()]
    assert order == ["docs", "web", "api", "cache", "worker", "db"]


def test_with_dependencies_selects_a_service_and_what_it_needs() -> None:
    project = make(ORDERED)
    assert [s.name for s in project.with_dependencies(["web"])] == ["db", "cache", "api", "web"]
    with pytest.raises(ComposeError, match="no such service: nope"):
        project.with_dependencies(["nope"])


# --- scale -----------------------------------------------------------------------------


def test_scale_from_scale_or_deploy_replicas() -> None:
    project = make(
        {
            "one": {"image": "x"},
            "three": {"image": "x", "scale": 3},
            "two": {"image": "x", "deploy": {"replicas": 2}},
            "text": {"image": "x", "scale": "4"},
            "none": {"image": "x", "deploy": {"replicas": 0}},
        }
    )
    assert {s.name: s.scale for s in project.services} == {
        "one": 1,
        "three": 3,
        "two": 2,
        "text": 4,
        "none": 0,
    }


def test_scale_and_replicas_must_agree() -> None:
    services = {"web": {"image": "x", "scale": 2, "deploy": {"replicas": 3}}}
    assert error(services) == (
        "services.web: can't set distinct values on 'scale' and 'deploy.replicas': "
        "invalid compose project"
    )


def test_set_scale() -> None:
    project = make({"web": {"image": "x"}, "worker": {"image": "x"}})
    project.set_scale({"worker": 3})
    assert [s.scale for s in project.services] == [1, 3]


def test_set_scale_refuses_an_unknown_service_before_changing_anything() -> None:
    project = make({"web": {"image": "x"}})
    with pytest.raises(ComposeError) as caught:
        project.set_scale({"web": 2, "x": 3})
    assert str(caught.value) == "no such service: x"
    assert project.service("web").scale == 1


def test_a_container_name_cannot_be_scaled() -> None:
    project = make({"web": {"image": "x", "container_name": "site"}})
    with pytest.raises(ComposeError, match="can't set container_name and scale"):
        project.set_scale({"web": 2})


# --- networks --------------------------------------------------------------------------


def test_services_without_networks_are_on_the_default_network() -> None:
    project = make({"web": {"image": "x"}})
    assert project.networks == {
        "default": Network(
            "default",
            "proj_default",
            labels={
                "com.docker.compose.network": "default",
                "com.docker.compose.project": "proj",
                "com.docker.compose.version": COMPOSE_VERSION,
            },
        )
    }
    assert project.service("web").networks == {"default": ServiceNetwork("default")}


def test_no_default_network_when_every_service_has_a_network_mode() -> None:
    project = make({"a": {"image": "x", "network_mode": "host"}})
    assert project.networks == {}
    assert project.service("a").network_mode == "host"


def test_top_level_network_settings() -> None:
    project = make(
        {"web": {"image": "x", "networks": ["front", "back", "outside", "named"]}},
        networks={
            "front": {
                "driver": "bridge",
                "driver_opts": {"com.docker.network.bridge.name": "br-front", "mtu": 1400},
                "ipam": {"config": [{"subnet": "10.5.0.0/24", "gateway": "10.5.0.1"}]},
                "labels": ["tier=front"],
            },
            "back": {"internal": True, "labels": {"tier": "back"}},
            "outside": {"external": True},
            "named": {"name": "custom-name"},
            "unused": {},
        },
    )
    assert list(project.networks) == ["front", "back", "outside", "named"]
    front = project.networks["front"]
    assert (front.name, front.driver, front.subnet, front.gateway) == (
        "proj_front",
        "bridge",
        "10.5.0.0/24",
        "10.5.0.1",
    )
    assert front.driver_opts == {"com.docker.network.bridge.name": "br-front", "mtu": "1400"}
    assert front.labels["tier"] == "front"
    assert front.labels["com.docker.compose.network"] == "front"
    back = project.networks["back"]
    assert (back.name, back.internal, back.labels["tier"]) == ("proj_back", True, "back")
    assert project.networks["outside"] == Network("outside", "outside", external=True)
    assert project.networks["named"].name == "custom-name"


def test_an_external_network_with_a_name() -> None:
    project = make(
        {"web": {"image": "x", "networks": ["ext"]}},
        networks={"ext": {"external": True, "name": "shared"}},
    )
    assert project.networks["ext"] == Network("ext", "shared", external=True)


def test_an_undefined_network() -> None:
    assert error({"web": {"image": "x", "networks": ["nope"]}}) == (
        'service "web" refers to undefined network nope: invalid compose project'
    )


def test_network_mode_and_networks_exclude_each_other() -> None:
    services = {"web": {"image": "x", "network_mode": "host", "networks": ["default"]}}
    assert error(services) == (
        'service web declares mutually exclusive "network_mode" and "networks": '
        "invalid compose project"
    )


def test_service_networks_by_priority_then_as_declared() -> None:
    project = make(
        {
            "web": {
                "image": "x",
                "networks": {
                    "a": None,
                    "b": {"aliases": ["bee"], "ipv4_address": "10.0.0.5"},
                    "c": {"priority": 10},
                },
            }
        },
        networks={"a": {}, "b": {}, "c": {}},
    )
    web = project.service("web")
    assert list(web.networks) == ["c", "a", "b"]
    assert web.networks["b"] == ServiceNetwork("b", ["bee"], "10.0.0.5")


# --- volumes, secrets, configs ---------------------------------------------------------


def test_top_level_volumes() -> None:
    project = make(
        {"db": {"image": "x", "volumes": ["data:/var/lib/db", "logs:/logs", "ext:/ext"]}},
        volumes={
            "data": {"driver": "local", "driver_opts": {"size": 10}, "labels": ["backup=yes"]},
            "logs": {"name": "all-logs"},
            "ext": {"external": True},
            "unused": None,
        },
    )
    assert list(project.volumes) == ["data", "logs", "ext"]
    assert project.volumes["data"] == Volume(
        "data",
        "proj_data",
        driver="local",
        driver_opts={"size": "10"},
        labels={
            "backup": "yes",
            "com.docker.compose.project": "proj",
            "com.docker.compose.version": COMPOSE_VERSION,
            "com.docker.compose.volume": "data",
        },
    )
    assert project.volumes["logs"].name == "all-logs"
    assert project.volumes["ext"] == Volume("ext", "ext", external=True)


def test_an_undefined_volume() -> None:
    assert error({"db": {"image": "x", "volumes": ["data:/data"]}}) == (
        'service "db" refers to undefined volume data: invalid compose project'
    )


def test_secrets_and_configs_from_files(tmp_path: Path) -> None:
    (tmp_path / "pw.txt").write_text("secret")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.ini").write_text("[app]")
    project = make(
        {"web": {"image": "x", "secrets": ["pw"], "configs": ["app"]}},
        directory=tmp_path,
        secrets={"pw": {"file": "./pw.txt"}},
        configs={"app": {"file": "conf/app.ini"}},
    )
    assert project.secrets == {"pw": FileObject("pw", "pw", str(tmp_path / "pw.txt"))}
    assert project.configs == {"app": FileObject("app", "app", str(tmp_path / "conf/app.ini"))}


def test_a_missing_secret_file(tmp_path: Path) -> None:
    message = error(
        {"web": {"image": "x", "secrets": ["pw"]}},
        directory=tmp_path,
        secrets={"pw": {"file": "pw.txt"}},
    )
    assert message == f'secret "pw": file {tmp_path}/pw.txt not found'


def test_an_undefined_secret() -> None:
    assert error({"web": {"image": "x", "secrets": ["pw"]}}) == (
        'service "web" refers to undefined secret pw: invalid compose project'
    )


# --- extends ---------------------------------------------------------------------------


def test_extends_a_service_of_the_same_file() -> None:
    project = make(
        {
            "base": {
                "image": "app:1",
                "environment": {"A": "1", "B": "2"},
                "ports": ["80"],
                "command": "serve",
            },
            "web": {
                "extends": "base",
                "environment": ["B=3"],
                "ports": ["443"],
                "image": "app:2",
            },
            "worker": {"extends": {"service": "web"}, "command": ["work"]},
        }
    )
    web = project.service("web").config
    assert web == {
        "image": "app:2",
        "environment": {"A": "1", "B": "3"},
        "ports": ["80", "443"],
        "command": "serve",
    }
    worker = project.service("worker").config
    assert (worker["image"], worker["command"]) == ("app:2", ["work"])


def test_extends_another_file_relative_to_it(tmp_path: Path) -> None:
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "base.yml").write_text(
        "services:\n"
        "  base:\n"
        "    build: ./src\n"
        "    env_file: base.env\n"
        "    volumes: ['./data:/data']\n"
        "    labels: {team: core}\n"
    )
    (tmp_path / "common" / "base.env").write_text("FROM_BASE=1\n")
    project = make(
        {"web": {"extends": {"file": "common/base.yml", "service": "base"}}},
        directory=tmp_path,
    )
    web = project.service("web")
    assert web.build == BuildConfig(str(tmp_path / "common" / "src"))
    assert web.image == "proj-web"
    opts = container_options(project, web, 1)
    assert opts.env == ["FROM_BASE=1"]
    assert opts.volumes[0].source == str(tmp_path / "common" / "data")
    assert opts.labels["team"] == "core"


def test_extends_an_unknown_service() -> None:
    assert error({"web": {"extends": "nope"}}) == (
        'cannot extend service "nope" in the same file: service not found'
    )


def test_circular_extends() -> None:
    services = {"a": {"extends": "b"}, "b": {"extends": "a"}}
    assert error(services) == "circular reference with extends: a -> b -> a"


# --- container options: image, command, environment ------------------------------------


def test_image_and_build_only_image_name() -> None:
    project = make({"web": {"build": "."}, "db": {"image": "postgres:16", "build": "./db"}})
    web, db = project.services
    assert web.image == "proj-web"
    assert web.build == BuildConfig(DIR)
    assert db.image == "postgres:16"
    assert container_options(project, web, 1).image == "proj-web"


def test_build_options() -> None:
    project = make(
        {
            "web": {
                "build": {
                    "context": "app",
                    "dockerfile": "Dockerfile.prod",
                    "args": ["VERSION=1", "FROM_ENV", "MISSING"],
                    "target": "prod",
                }
            }
        },
        environ={"FROM_ENV": "yes"},
    )
    assert project.service("web").build == BuildConfig(
        f"{DIR}/app", "Dockerfile.prod", args={"VERSION": "1", "FROM_ENV": "yes"}, target="prod"
    )


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("echo 'hello world' $HOME", ["echo", "hello world", "$HOME"]),
        (["sh", "-c", "echo a b"], ["sh", "-c", "echo a b"]),
        (None, []),
    ],
)
def test_command(given: Any, expected: list[str]) -> None:
    assert options({"command": given}).command == expected


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ({}, None),
        ({"entrypoint": "/bin/sh -c"}, ["/bin/sh", "-c"]),
        ({"entrypoint": ["tini", "--"]}, ["tini", "--"]),
        ({"entrypoint": ""}, [""]),
    ],
)
def test_entrypoint(service: dict[str, Any], expected: list[str] | None) -> None:
    assert options(service).entrypoint == expected


def test_environment_mapping_and_values_from_the_environment() -> None:
    opts = options(
        {
            "environment": {
                "A": "x",
                "NUM": 3,
                "FLAG": True,
                "FROM_ENV": None,
                "NOT_SET": None,
            }
        },
        environ={"FROM_ENV": "yes"},
    )
    assert opts.env == ["A=x", "NUM=3", "FLAG=true", "FROM_ENV=yes"]


def test_environment_list() -> None:
    opts = options(
        {"environment": ["A=x=y", "EMPTY=", "FROM_ENV", "NOT_SET"]}, environ={"FROM_ENV": "1"}
    )
    assert opts.env == ["A=x=y", "EMPTY=", "FROM_ENV=1"]


def test_env_files_relative_in_order_then_environment(tmp_path: Path) -> None:
    (tmp_path / "a.env").write_text("# comment\nA=1\nB=from-a\nQ='quoted value'\n")
    (tmp_path / "b.env").write_text("B=from-b\nC=3\n")
    opts = options(
        {"env_file": ["a.env", "./b.env"], "environment": {"C": "override"}},
        directory=tmp_path,
    )
    assert opts.env == ["A=1", "B=from-b", "Q=quoted value", "C=override"]


def test_a_missing_env_file_fails_before_anything(tmp_path: Path) -> None:
    message = error({"web": {"image": "x", "env_file": "missing.env"}}, directory=tmp_path)
    assert message == f"env file {tmp_path}/missing.env not found"


def test_an_optional_env_file_may_be_missing(tmp_path: Path) -> None:
    opts = options(
        {"env_file": [{"path": "missing.env", "required": False}], "environment": ["A=1"]},
        directory=tmp_path,
    )
    assert opts.env == ["A=1"]


# --- container options: ports, volumes -------------------------------------------------


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("8080:80", [PortBinding(80, "tcp", "", 8080, 8080)]),
        ("127.0.0.1:8080:80/udp", [PortBinding(80, "udp", "127.0.0.1", 8080, 8080)]),
        ("80", [PortBinding(80)]),
        (80, [PortBinding(80)]),
        ("127.0.0.1::80", [PortBinding(80, "tcp", "127.0.0.1")]),
        ("3000-3001", [PortBinding(3000), PortBinding(3001)]),
        (
            "9090-9091:8080-8081",
            [PortBinding(8080, "tcp", "", 9090, 9090), PortBinding(8081, "tcp", "", 9091, 9091)],
        ),
        ("8000-8010:80", [PortBinding(80, "tcp", "", 8000, 8010)]),
        ({"target": 80, "published": "8080"}, [PortBinding(80, "tcp", "", 8080, 8080)]),
        (
            {"target": 53, "published": 5353, "protocol": "udp", "host_ip": "127.0.0.1"},
            [PortBinding(53, "udp", "127.0.0.1", 5353, 5353)],
        ),
        ({"target": 80, "host_ip": "::1"}, [PortBinding(80, "tcp", "::1")]),
        ({"target": 80}, [PortBinding(80)]),
    ],
)
def test_ports(port: Any, expected: list[PortBinding]) -> None:
    assert options({"ports": [port]}).publish == expected


def test_a_bad_port_names_the_service() -> None:
    assert error({"web": {"image": "x", "ports": ["80:http"]}}) == (
        'service "web": ports: invalid containerPort: http'
    )


def test_expose() -> None:
    assert options({"expose": ["3000", 8000, "9000-9001/udp"]}).expose == [
        "3000/tcp",
        "8000/tcp",
        "9000/udp",
        "9001/udp",
    ]


def mounts(opts: Any) -> list[tuple[str, str, str, bool]]:
    return [(m.type, m.source, m.target, m.readonly) for m in [*opts.volumes, *opts.mounts]]


def test_short_syntax_volumes() -> None:
    opts = options(
        {
            "volumes": [
                "data:/var/lib/data:ro",
                "./html:/usr/share/nginx/html",
                "../shared:/shared:rw",
                "/etc/hosts:/etc/hosts2:ro",
                "/cache",
            ]
        },
        volumes={"data": {}},
    )
    assert mounts(opts) == [
        ("volume", "proj_data", "/var/lib/data", True),
        ("bind", f"{DIR}/html", "/usr/share/nginx/html", False),
        ("bind", "/srv/shared", "/shared", False),
        ("bind", "/etc/hosts", "/etc/hosts2", True),
        ("volume", "", "/cache", False),
    ]


def test_a_home_relative_bind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/me")
    assert mounts(options({"volumes": ["~/code:/code"]})) == [
        ("bind", "/home/me/code", "/code", False)
    ]


def test_long_syntax_volumes() -> None:
    opts = options(
        {
            "volumes": [
                {"type": "volume", "source": "data", "target": "/data", "volume": {"nocopy": True}},
                {"type": "bind", "source": "./src", "target": "/src", "read_only": True},
                {"type": "tmpfs", "target": "/scratch", "tmpfs": {"size": "64m", "mode": "1777"}},
                {"type": "volume", "target": "/anon"},
            ]
        },
        volumes={"data": {"name": "shared-data"}},
    )
    assert mounts(opts) == [
        ("volume", "shared-data", "/data", False),
        ("bind", f"{DIR}/src", "/src", True),
        ("tmpfs", "", "/scratch", False),
        ("volume", "", "/anon", False),
    ]
    assert opts.mounts[0].nocopy is True
    assert (opts.mounts[2].tmpfs_size, opts.mounts[2].tmpfs_mode) == (64 << 20, 0o1777)


def test_host_paths_to_create() -> None:
    project = make(
        {
            "web": {
                "image": "x",
                "volumes": [
                    "./a:/a",
                    "data:/data",
                    {"type": "bind", "source": "./b", "target": "/b"},
                    {
                        "type": "bind",
                        "source": "./c",
                        "target": "/c",
                        "bind": {"create_host_path": True},
                    },
                ],
            }
        },
        volumes={"data": {}},
    )
    assert host_paths(project, project.service("web")) == [f"{DIR}/a", f"{DIR}/c"]


def test_tmpfs() -> None:
    assert options({"tmpfs": "/run"}).tmpfs == {"/run": ""}
    assert options({"tmpfs": ["/run", "/tmp:size=64m,mode=1777"]}).tmpfs == {
        "/run": "",
        "/tmp": "size=64m,mode=1777",
    }


def test_secret_and_config_mounts(tmp_path: Path) -> None:
    for name in ("pw", "key", "app.ini"):
        (tmp_path / name).write_text(name)
    opts = options(
        {
            "secrets": ["pw", {"source": "key", "target": "api_key"}],
            "configs": ["app", {"source": "app", "target": "/etc/app.ini"}],
        },
        directory=tmp_path,
        secrets={"pw": {"file": "pw"}, "key": {"file": "key"}},
        configs={"app": {"file": "app.ini"}},
    )
    assert mounts(opts) == [
        ("bind", str(tmp_path / "pw"), "/run/secrets/pw", True),
        ("bind", str(tmp_path / "key"), "/run/secrets/api_key", True),
        ("bind", str(tmp_path / "app.ini"), "/app", True),
        ("bind", str(tmp_path / "app.ini"), "/etc/app.ini", True),
    ]


def test_volumes_from_a_service() -> None:
    project = make(
        {
            "app": {"image": "x", "volumes_from": ["data:ro", "container:other"]},
            "data": {"image": "x", "container_name": "the-data"},
        }
    )
    opts = container_options(project, project.service("app"), 1)
    assert opts.volumes_from == ["the-data:ro", "other"]


# --- container options: health, restart, resources, the rest ---------------------------


def test_healthcheck_with_a_shell_command_and_durations() -> None:
    opts = options(
        {
            "healthcheck": {
                "test": "curl -f http://localhost",
                "interval": "1m30s",
                "timeout": "10s",
                "start_period": "500ms",
                "start_interval": "1s",
                "retries": 3,
            }
        }
    )
    assert opts.healthcheck == HealthConfig(
        ["CMD-SHELL", "curl -f http://localhost"],
        interval=90_000_000_000,
        timeout=10_000_000_000,
        start_period=500_000_000,
        start_interval=1_000_000_000,
        retries=3,
    )


@pytest.mark.parametrize(
    ("healthcheck", "test"),
    [
        ({"test": ["CMD", "pg_isready"]}, ["CMD", "pg_isready"]),
        ({"test": ["CMD-SHELL", "exit 0"]}, ["CMD-SHELL", "exit 0"]),
        ({"test": ["NONE"]}, ["NONE"]),
        ({"disable": True}, ["NONE"]),
        ({"interval": "5s"}, []),
    ],
)
def test_healthcheck_tests(healthcheck: dict[str, Any], test: list[str]) -> None:
    assert options({"healthcheck": healthcheck}).healthcheck.test == test


def test_a_bad_duration() -> None:
    assert error({"web": {"image": "x", "healthcheck": {"interval": "5 s"}}}) == (
        'service "web": healthcheck.interval: time: unknown unit " s" in duration "5 s"'
    )


def test_restart() -> None:
    assert options({}).restart is None
    assert options({"restart": "unless-stopped"}).restart == RestartPolicy("unless-stopped")
    assert options({"restart": "on-failure:3"}).restart == RestartPolicy("on-failure", 3)
    deploy = {"restart_policy": {"condition": "on-failure", "max_attempts": 5}}
    assert options({"deploy": deploy}).restart == RestartPolicy("on-failure", 5)


def test_deploy_resource_limits() -> None:
    opts = options(
        {
            "deploy": {
                "resources": {
                    "limits": {"cpus": "0.5", "memory": "512M", "pids": 100},
                    "reservations": {"memory": "128m"},
                }
            }
        }
    )
    assert (opts.nano_cpus, opts.memory, opts.pids_limit, opts.memory_reservation) == (
        500_000_000,
        512 << 20,
        100,
        128 << 20,
    )


def test_service_level_resources() -> None:
    opts = options({"cpus": 1.5, "mem_limit": "1g", "shm_size": "64m", "cpu_shares": 512})
    assert (opts.nano_cpus, opts.memory, opts.shm_size, opts.cpu_shares) == (
        1_500_000_000,
        1 << 30,
        64 << 20,
        512,
    )


def test_simple_settings() -> None:
    opts = options(
        {
            "user": "1000:1000",
            "working_dir": "/app",
            "hostname": "web1",
            "cap_add": ["NET_ADMIN"],
            "cap_drop": ["ALL"],
            "read_only": True,
            "init": True,
            "stop_signal": "SIGINT",
            "privileged": "true",
            "tty": True,
            "stdin_open": True,
        }
    )
    assert (opts.user, opts.workdir, opts.hostname) == ("1000:1000", "/app", "web1")
    assert (opts.cap_add, opts.cap_drop) == (["NET_ADMIN"], ["ALL"])
    assert (opts.read_only, opts.init, opts.privileged, opts.tty, opts.interactive) == (
        True,
        True,
        True,
        True,
        True,
    )
    assert opts.stop_signal == "SIGINT"
    assert options({}).init is None


def test_stop_grace_period_in_seconds() -> None:
    assert options({"stop_grace_period": "1m30s"}).stop_timeout == 90
    assert options({"stop_grace_period": "2s"}).stop_timeout == 2
    assert options({}).stop_timeout is None


def test_extra_hosts_in_both_forms() -> None:
    assert options({"extra_hosts": ["db:10.0.0.2", "gw=host-gateway"]}).extra_hosts == [
        "db:10.0.0.2",
        "gw:host-gateway",
    ]
    assert options({"extra_hosts": {"db": "10.0.0.2", "v6": ["::1"]}}).extra_hosts == [
        "db:10.0.0.2",
        "v6:::1",
    ]


def test_dns_sysctls_ulimits() -> None:
    opts = options(
        {
            "dns": "1.1.1.1",
            "dns_search": ["example.com"],
            "sysctls": ["net.core.somaxconn=1024"],
            "ulimits": {"nproc": 65535, "nofile": {"soft": 1024, "hard": 2048}},
        }
    )
    assert (opts.dns, opts.dns_search) == (["1.1.1.1"], ["example.com"])
    assert opts.sysctls == {"net.core.somaxconn": "1024"}
    assert opts.ulimits == [Ulimit("nproc", 65535, 65535), Ulimit("nofile", 1024, 2048)]
    assert options(
        {"dns": ["8.8.8.8", "9.9.9.9"], "sysctls": {"net.ipv4.ip_forward": 1}}
    ).sysctls == {"net.ipv4.ip_forward": "1"}


def test_a_disallowed_sysctl() -> None:
    assert error({"web": {"image": "x", "sysctls": {"kernel.hostname": "x"}}}) == (
        "service \"web\": sysctls: sysctl 'kernel.hostname=x' is not allowed"
    )


# --- container options: name, networks, labels -----------------------------------------


def test_container_names() -> None:
    project = make({"web": {"image": "x"}, "db": {"image": "x", "container_name": "the-db"}})
    assert container_options(project, project.service("web"), 2).name == "proj-web-2"
    assert container_options(project, project.service("db"), 1).name == "the-db"


def test_first_network_and_extra_networks() -> None:
    project = make(
        {
            "api": {
                "image": "x",
                "networks": {
                    "front": {"aliases": ["backend"], "ipv4_address": "10.1.0.10"},
                    "back": {"aliases": ["api-internal"]},
                    "default": None,
                },
            }
        },
        networks={"front": {}, "back": {"name": "storage"}},
    )
    api = project.service("api")
    opts = container_options(project, api, 1)
    assert (opts.network, opts.network_aliases, opts.ip) == (
        "proj_front",
        ["api", "backend"],
        "10.1.0.10",
    )
    assert extra_networks(project, api) == [
        ("storage", ["api", "api-internal"], ""),
        ("proj_default", ["api"], ""),
    ]


def test_network_modes() -> None:
    project = make(
        {
            "host": {"image": "x", "network_mode": "host"},
            "vpn": {"image": "x"},
            "app": {"image": "x", "network_mode": "service:vpn"},
        }
    )
    host = container_options(project, project.service("host"), 1)
    assert (host.network, host.network_aliases) == ("host", [])
    assert container_options(project, project.service("app"), 1).network == "container:proj-vpn-1"
    assert extra_networks(project, project.service("host")) == []


def test_compose_labels_merged_with_the_service_labels() -> None:
    project = project_from(
        "proj",
        DIR,
        {
            "services": {
                "web": {
                    "image": "x",
                    "labels": ["tier=front", "com.docker.compose.project=spoofed"],
                    "depends_on": {"db": {"condition": "service_healthy", "restart": True}},
                },
                "db": {"image": "y"},
            }
        },
        environ={},
        config_files=[f"{DIR}/compose.yaml", f"{DIR}/compose.override.yaml"],
    )
    web = project.service("web")
    labels = container_options(project, web, 3).labels
    assert labels == {
        "tier": "front",
        "com.docker.compose.config-hash": config_hash(project, web),
        "com.docker.compose.container-number": "3",
        "com.docker.compose.depends_on": "db:service_healthy:true",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.project": "proj",
        "com.docker.compose.project.config_files": (
            f"{DIR}/compose.yaml,{DIR}/compose.override.yaml"
        ),
        "com.docker.compose.project.working_dir": DIR,
        "com.docker.compose.service": "web",
        "com.docker.compose.version": COMPOSE_VERSION,
    }
    assert len(labels["com.docker.compose.config-hash"]) == 64


def hash_of(service: dict[str, Any], environ: dict[str, str] | None = None) -> str:
    project = make({"web": service}, environ=environ)
    return config_hash(project, project.service("web"))


def test_config_hash_follows_what_makes_the_container() -> None:
    base = {"image": "nginx", "environment": ["A"]}
    assert hash_of(base) == hash_of(dict(base))
    assert hash_of(base) != hash_of({**base, "image": "nginx:2"})
    assert hash_of(base, {"A": "1"}) != hash_of(base, {"A": "2"})
    assert hash_of(base) == hash_of({**base, "scale": 3})
    assert hash_of(base) == hash_of({**base, "deploy": {"replicas": 2}})


def test_config_hash_is_the_same_for_every_replica() -> None:
    project = make({"web": {"image": "x", "scale": 2}})
    web = project.service("web")
    first, second = (container_options(project, web, n) for n in (1, 2))
    key = "com.docker.compose.config-hash"
    assert first.labels[key] == second.labels[key]


def test_the_helpers_are_importable_from_project() -> None:
    from skiff.compose import project

    assert project.container_options is container_options
    assert project.extra_networks is extra_networks


# --- through the loader ----------------------------------------------------------------


def test_a_loaded_three_service_application(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_PORT=8081\n")
    (tmp_path / "compose.yaml").write_text(
        """
services:
  web:
    image: nginx:alpine
    ports: ["${WEB_PORT}:80"]
    depends_on:
      api: {condition: service_healthy}
    networks: [front]
  api:
    build: ./api
    healthcheck:
      test: ["CMD", "wget", "-q", "-O-", "http://localhost:5000/health"]
      interval: 2s
    volumes: [shared:/data]
    networks: [front, back]
  worker:
    image: busybox
    command: sh -c 'while true; do sleep 1; done'
    volumes: [shared:/data:ro]
    networks: [back]
    depends_on: [api]
volumes:
  shared: {}
networks:
  front: {}
  back: {internal: true}
"""
    )
    loaded = load([str(tmp_path / "compose.yaml")], project="demo", environ={})
    name, directory, document = loaded.name, loaded.directory, loaded.document
    project = project_from(name, directory, document, environ={"WEB_PORT": "8081"})
    assert [s.name for s in project.start_order()] == ["api", "web", "worker"]
    assert {k: n.name for k, n in project.networks.items()} == {
        "front": "demo_front",
        "back": "demo_back",
    }
    assert project.volumes["shared"].name == "demo_shared"
    web = container_options(project, project.service("web"), 1)
    assert web.publish == [PortBinding(80, "tcp", "", 8081, 8081)]
    api = project.service("api")
    assert api.image == "demo-api"
    assert extra_networks(project, api) == [("demo_back", ["api"], "")]
    worker = container_options(project, project.service("worker"), 1)
    assert worker.command == ["sh", "-c", "while true; do sleep 1; done"]
    assert mounts(worker) == [("volume", "demo_shared", "/data", True)]


def test_a_cycle_through_the_loader(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  a: {image: x, depends_on: [b]}\n"
        "  b: {image: x, depends_on: [c]}\n"
        "  c: {image: x, depends_on: [a]}\n"
    )
    loaded = load([str(tmp_path / "compose.yaml")], environ={})
    name, directory, document = loaded.name, loaded.directory, loaded.document
    with pytest.raises(ComposeError) as caught:
        project_from(name, directory, document, environ={})
    assert str(caught.value) == "dependency cycle detected: a -> b -> c -> a"
