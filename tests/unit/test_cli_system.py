"""The system verbs' pure parts: info's text layout, version's layout, df rows, prune's
prompt, container status words, and the host facts read from files."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

from skiff.cli import system as cli
from skiff.engine import system


def facts(**changes: object) -> dict:
    base = {
        "ID": "2f6c5b8e-1e2b-4f43-9d3c-7c1f6c1b9a11",
        "Containers": 3,
        "ContainersRunning": 1,
        "ContainersPaused": 0,
        "ContainersStopped": 2,
        "Images": 2,
        "Driver": "overlay2",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Native Overlay Diff", "true"]],
        "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Log": ["json-file"]},
        "Debug": False,
        "NFd": 12,
        "NGoroutines": 1,
        "SystemTime": "2026-01-02T03:04:05.123456789Z",
        "NEventsListener": 0,
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": "2",
        "KernelVersion": "6.1.0",
        "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
        "OSType": "linux",
        "Architecture": "x86_64",
        "NCPU": 2,
        "MemTotal": 25276502016,
        "DockerRootDir": "/var/lib/skiff",
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": "host",
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": "0.1.0",
        "Runtimes": {"runc": {"path": "/usr/sbin/runc"}, "crun": {"path": "/usr/bin/crun"}},
        "DefaultRuntime": "skiff-runtime",
        "Swarm": {"LocalNodeState": "inactive"},
        "LiveRestoreEnabled": True,
        "InitBinary": "docker-init",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": "abc1234"},
        "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
        "RegistryConfig": {
            "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": True}},
            "InsecureRegistryCIDRs": ["::1/128", "127.0.0.0/8"],
            "Mirrors": [],
        },
    }
    return base | changes


def test_info_text_is_dockers_layout():
    text = cli.render_info(facts(), debug=False)
    assert text == (
        "Client:\n Version:    0.1.0\n Context:    default\n Debug Mode: false\n\nServer:\n"
        " Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 2\n"
        " Server Version: 0.1.0\n Storage Driver: overlay2\n  Backing Filesystem: extfs\n"
        "  Native Overlay Diff: true\n Logging Driver: json-file\n Cgroup Driver: cgroupfs\n"
        " Cgroup Version: 2\n Plugins:\n  Volume: local\n  Network: host null\n"
        "  Log: json-file\n Swarm: inactive\n Runtimes: crun runc\n"
        " Default Runtime: skiff-runtime\n Init Binary: docker-init\n containerd version: \n"
        " runc version: abc1234\n init version: \n Security Options:\n  seccomp\n"
        "   Profile: builtin\n  cgroupns\n Kernel Version: 6.1.0\n"
        " Operating System: Debian GNU/Linux 12 (bookworm)\n OSType: linux\n"
        " Architecture: x86_64\n CPUs: 2\n Total Memory: 23.54GiB\n Name: host\n"
        " ID: 2f6c5b8e-1e2b-4f43-9d3c-7c1f6c1b9a11\n Docker Root Dir: /var/lib/skiff\n"
        " Debug Mode: false\n Experimental: false\n Insecure Registries:\n  ::1/128\n"
        "  127.0.0.0/8\n Live Restore Enabled: true\n\n"
    )


def test_info_text_debug_proxies_and_labels():
    text = cli.render_info(
        facts(HttpProxy="http://xxxxx:xxxxx@proxy:3128", NoProxy="localhost", Labels=["a=b"]),
        debug=True,
    )
    assert " Debug Mode: true\n" in text  # the client's
    assert (
        "  File Descriptors: 12\n  Goroutines: 1\n"
        "  System Time: 2026-01-02T03:04:05.123456789Z\n  EventsListeners: 0\n"
        " HTTP Proxy: http://xxxxx:xxxxx@proxy:3128\n No Proxy: localhost\n Labels:\n  a=b\n"
    ) in text


def test_sizes_and_times_as_go_prints_them():
    assert cli.bytes_size(25276502016) == "23.54GiB"
    assert cli.bytes_size(0) == "0B"
    assert cli.bytes_size(1536) == "1.5KiB"
    assert cli.bytes_size(1024**3) == "1GiB"
    moment = time.mktime((2025, 5, 3, 12, 7, 14, 0, 0, -1))
    assert cli.ansic(moment) == "Sat May  3 12:07:14 2025"
    assert cli.ansic(None) == ""


def test_masked_proxy():
    assert system.masked_proxy("http://user:secret@proxy:3128/x") == (
        "http://xxxxx:xxxxx@proxy:3128/x"
    )
    assert system.masked_proxy("http://user@proxy") == "http://xxxxx@proxy"
    assert system.masked_proxy("http://proxy:3128") == "http://proxy:3128"
    assert system.masked_proxy("") == ""


def test_os_release(tmp_path: Path):
    path = tmp_path / "os-release"
    path.write_text(
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n# x=y\nVERSION_ID='12'\nID=debian\n"
    )
    assert system.os_release(str(path)) == {
        "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
        "VERSION_ID": "12",
        "ID": "debian",
    }
    assert system.os_release(str(tmp_path / "missing")) == {}


def test_backing_filesystem_is_the_nearest_mount(tmp_path: Path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
        f"2 1 0:5 / {tmp_path} rw - tmpfs tmpfs rw\n"
        f"3 2 0:6 / {tmp_path}/with\\040space rw - xfs /dev/sdb rw\n"
        f"4 2 0:7 / {tmp_path}/ov rw - overlay overlay rw\n"
    )
    (tmp_path / "with space").mkdir()
    (tmp_path / "ov").mkdir()
    assert system.backing_filesystem("/usr", str(mountinfo)) == "extfs"
    assert system.backing_filesystem(str(tmp_path / "not" / "yet"), str(mountinfo)) == "tmpfs"
    assert system.backing_filesystem(str(tmp_path / "with space"), str(mountinfo)) == "xfs"
    assert system.backing_filesystem(str(tmp_path / "ov"), str(mountinfo)) == "overlayfs"
    assert system.backing_filesystem(str(tmp_path / "without"), str(mountinfo)) == "tmpfs"


def test_tool_version_parses_tini_runc_and_conmon(tmp_path: Path):
    outputs = {
        "tini": "tini version 0.19.0 - git.de40ad0\n",
        "debian-tini": "tini version 0.19.0\n",
        "runc": "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\n",
        "conmon": "conmon version 2.1.6\ncommit: unknown\n",
    }
    for name, out in outputs.items():
        script = tmp_path / name
        script.write_text(f"#!/bin/sh\nprintf '{out}'\n")
        script.chmod(0o755)
    assert system.tool_version(str(tmp_path / "tini")) == ("0.19.0", "de40ad0")
    assert system.tool_version(str(tmp_path / "debian-tini")) == ("0.19.0", "")
    assert system.tool_version(str(tmp_path / "runc")) == ("1.1.5+ds1", "1.1.5+ds1-1+deb12u1")
    assert system.tool_version(str(tmp_path / "conmon")) == ("2.1.6", "unknown")
    assert system.tool_version(str(tmp_path / "missing")) == ("", "")


def test_security_options():
    assert system.security_options("2")[0] == "name=seccomp,profile=builtin"
    assert "name=cgroupns" in system.security_options("2")
    assert "name=cgroupns" not in system.security_options("1")


# --- version ----------------------------------------------------------------------------


def server(**details: str) -> dict:
    return {
        "Platform": {"Name": ""},
        "Components": [
            {
                "Name": "Engine",
                "Version": "0.1.0",
                "Details": {
                    "ApiVersion": "1.45",
                    "Arch": "amd64",
                    "BuildTime": "2025-05-30T12:07:14Z",
                    "Experimental": "false",
                    "GitCommit": "e6534b4",
                    "GoVersion": "python3.11.2",
                    "KernelVersion": "6.1.0",
                    "MinAPIVersion": "1.24",
                    "Os": "linux",
                    **details,
                },
            },
            {"Name": "conmon", "Version": "2.1.6", "Details": {"GitCommit": "unknown"}},
        ],
        "Version": "0.1.0",
        "ApiVersion": "1.45",
        "MinAPIVersion": "1.24",
        "GitCommit": "e6534b4",
        "GoVersion": "python3.11.2",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0",
        "BuildTime": "2025-05-30T12:07:14Z",
    }


def test_version_layout_is_the_docker_clis():
    from skiff.cli.format import Template, tabwrite

    view = cli.version_view(server())
    text = tabwrite(Template(cli.VERSION_TEMPLATE).render(view) + "\n", minwidth=20, padding=1)
    built = cli.ansic(calendar.timegm((2025, 5, 30, 12, 7, 14, 0, 0, 0)))
    lines = text.splitlines()
    assert lines[0] == "Client:"
    assert lines[1] == " Version:           0.1.0"
    assert lines[2] == " API version:       1.45"
    assert lines[3].startswith(" Python version:    python3.")
    assert lines[7] == " Context:           default"
    assert lines[8:] == [
        "",
        "Server:",
        " Engine:",
        "  Version:          0.1.0",
        "  API version:      1.45 (minimum version 1.24)",
        "  Python version:   python3.11.2",
        "  Git commit:       e6534b4",
        f"  Built:            {built}",
        "  OS/Arch:          linux/amd64",
        "  Experimental:     false",
        " conmon:",
        "  Version:          2.1.6",
        "  GitCommit:        unknown",
    ]


def test_version_template_sees_go_field_names():
    from skiff.cli.format import Template, TemplateError

    view = cli.version_view(server())
    assert Template("{{.Server.APIVersion}} {{.Client.APIVersion}}").render(view) == "1.45 1.45"
    assert Template("{{(index .Server.Components 0).Name}}").render(view) == "Engine"
    assert '"Client":{"Version":' in Template("{{json .}}").render(view)
    try:
        Template("{{.Server.Nope}}").render(view)
    except TemplateError as e:
        assert "can't evaluate field Nope in type types.Version" in str(e)
    else:
        raise AssertionError("an unknown field is an error")


# --- df ---------------------------------------------------------------------------------


def usage(images=(0, 0, 0), containers=(0, 0, 0), volumes=(0, 0, 0)) -> dict:
    def part(total: int, active: int, reclaimable: int, count: int = 1) -> dict:
        return {
            "TotalCount": count,
            "ActiveCount": active,
            "TotalSize": total,
            "Reclaimable": reclaimable,
            "Items": [],
        }

    return {
        "Images": part(*images),
        "Containers": part(*containers, count=3),
        "Volumes": part(*volumes),
        "BuildCache": part(0, 0, 0, 0),
    }


def test_df_rows_as_the_docker_cli_words_them():
    rows = cli.df_rows(usage(images=(1984000, 1, 0), containers=(5243000, 1, 5243000)))
    fields = ("Type", "TotalCount", "Active", "Size", "Reclaimable")
    assert [tuple(row[f] for f in fields) for row in rows] == [
        ("Images", "1", "1", "1.984MB", "0B (0%)"),
        ("Containers", "3", "1", "5.243MB", "5.243MB (100%)"),
        ("Local Volumes", "1", "0", "0B", "0B"),
        ("Build Cache", "0", "0", "0B", "0B"),
    ]
    assert [sorted(row) for row in rows] == [sorted(fields)] * 4
    rows = cli.df_rows(usage(volumes=(3000, 0, 1000)))
    assert rows[2]["Reclaimable"] == "1kB (33%)"


# --- prune ------------------------------------------------------------------------------


def test_system_prune_warning_is_the_docker_clis():
    assert cli.system_prune_warning(False, False, {}) == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all dangling images\n"
        "  - unused build cache\n"
        "\n"
        "Are you sure you want to continue?"
    )
    filters = {"label": ["a=b"], "label!": ["c"], "until": ["10h"]}
    assert cli.system_prune_warning(True, True, filters) == (
        "WARNING! This will remove:\n"
        "  - all stopped containers\n"
        "  - all networks not used by at least one container\n"
        "  - all anonymous volumes not used by at least one container\n"
        "  - all images without at least one container associated to them\n"
        "  - all build cache\n"
        "\n"
        "  Items to be pruned will be filtered with:\n"
        "  - label!=c\n"
        "  - label=a=b\n"
        "  - until=10h\n"
        "\n"
        "Are you sure you want to continue?"
    )
