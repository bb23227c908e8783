"""info, version, system df, system prune, container prune and completion, through the
real ``skiff`` command with real containers, checked against the host and the disk."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from skiff import __version__
from skiff.engine.engine import Engine
from tests.support.cli import Skiff

SPEC = Path(__file__).parents[1] / "data" / "docker" / "docker-engine-api-v1.45.yaml"


def info(skiff: Skiff, template: str) -> str:
    return skiff.ok("info", "--format", template).rstrip("\n")


def spec_properties(definition: str) -> dict[str, str]:
    """The properties of a definition of the Engine API spec and their types (``$ref``
    for an object defined elsewhere)."""
    lines = SPEC.read_text().splitlines()
    start = lines.index(f"  {definition}:")
    found: dict[str, str] = {}
    inside = False
    name = ""
    for line in lines[start + 1 :]:
        if re.match(r"  \S", line):
            break
        if line == "    properties:":
            inside = True
        elif inside and re.fullmatch(r"      \w+:", line):
            name = line.strip()[:-1]
        elif inside and name and name not in found:
            typed = re.fullmatch(r'        (type|\$ref): "?([^"]+)"?', line)
            if typed:
                found[name] = typed.group(2) if typed.group(1) == "type" else "object"
    return found


def walk_paths(*roots: Path) -> list[str]:
    found = []
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames]
    return found


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


# --- info -------------------------------------------------------------------------------


def test_info_counts_follow_containers(skiff: Skiff, busybox: str):
    counts = "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}}"
    assert info(skiff, counts + " {{.Images}}") == "0 0 0 0 1"
    skiff.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    skiff.ok("create", "--name", "idle", "busybox", "true")
    assert info(skiff, counts) == "2 1 0 1"
    skiff.ok("pause", "sleeper")
    assert info(skiff, counts) == "2 0 1 1"
    skiff.ok("unpause", "sleeper")
    text = skiff("info").out  # stderr: the warnings of this host, if any
    assert " Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n" in text
    skiff.ok("kill", "sleeper")
    Engine(skiff.paths).wait("sleeper")
    assert info(skiff, counts) == "2 0 0 2"


def test_info_is_the_host_as_seen_from_outside(skiff: Skiff):
    facts = json.loads(info(skiff, "{{json .}}"))
    uname = os.uname()
    assert facts["KernelVersion"] == uname.release
    assert facts["Architecture"] == uname.machine
    assert facts["Name"] == uname.nodename
    assert facts["NCPU"] == len(os.sched_getaffinity(0))
    with open("/proc/meminfo") as f:
        mem_kib = int(next(line for line in f if line.startswith("MemTotal:")).split()[1])
    assert facts["MemTotal"] == mem_kib * 1024
    fs_type = subprocess.run(
        ["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True
    ).stdout.strip()
    assert facts["CgroupVersion"] == ("2" if fs_type == "cgroup2fs" else "1")
    backing = subprocess.run(
        ["findmnt", "-n", "-o", "FSTYPE", "--target", str(skiff.root.parent)],
        capture_output=True,
        text=True,
    ).stdout.strip()
    expected = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "overlay": "overlayfs"}
    assert facts["DriverStatus"][0] == ["Backing Filesystem", expected.get(backing, backing)]
    with open("/etc/os-release") as f:
        pretty = next(line for line in f if line.startswith("PRETTY_NAME=")).split("=", 1)[1]
    assert facts["OperatingSystem"] == pretty.strip().strip('"')
    assert facts["DockerRootDir"] == str(skiff.root)
    assert facts["Driver"] == "overlay2" and facts["LoggingDriver"] == "json-file"
    assert facts["CgroupDriver"] == "cgroupfs"
    assert facts["DefaultRuntime"] == "skiff-runtime"
    assert set(facts["Runtimes"]) >= {"skiff-runtime", "runc", "crun"}  # Debian's, installed
    assert os.access(facts["Runtimes"]["crun"]["path"], os.X_OK)
    assert facts["SecurityOptions"][0] == "name=seccomp,profile=builtin"
    assert facts["InitBinary"] == "docker-init"
    assert facts["ServerVersion"] == __version__ == facts["ClientInfo"]["Version"]
    # the ID is made once and kept
    assert (skiff.root / "engine-id").read_text().strip() == facts["ID"]
    assert info(skiff, "{{.ID}}") == facts["ID"]


def test_info_json_has_the_shape_of_the_api(skiff: Skiff):
    facts = json.loads(info(skiff, "json"))
    properties = spec_properties("SystemInfo")
    python_type = {"integer": int, "boolean": bool, "string": str, "array": list}
    assert set(facts) - set(properties) == {"ClientInfo"}
    for key, value in facts.items():
        if key == "ClientInfo" or value is None:
            continue
        kind = properties[key]
        if kind == "object":
            assert isinstance(value, dict), key
        else:
            assert type(value) is python_type[kind], (key, value)
    assert {"Containers", "ServerVersion", "SecurityOptions", "Runtimes"} <= set(facts)


def test_info_format_errors(skiff: Skiff):
    assert info(skiff, "{{.HTTPProxy}}|{{.Runtimes.runc.Path}}|{{.Swarm.LocalNodeState}}") == (
        "|/usr/sbin/runc|inactive"
    )
    bad = skiff("info", "--format", "{{.Nope}}")
    assert (bad.code, bad.out, bad.err) == (
        1,
        "\n",
        'Error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type'
        " system.dockerInfo\n",
    )
    bad = skiff("info", "--format", "{{.Nope")
    assert (bad.code, bad.out, bad.err) == (
        64,
        "",
        "Error: template parsing error: template: :1: unclosed action\n",
    )
    assert skiff("info", "extra").code == 1


# --- version ----------------------------------------------------------------------------


def test_version(skiff: Skiff):
    assert skiff.ok("version", "--format", "{{.Server.Version}}") == f"{__version__}\n"
    assert skiff.ok("version", "--format", "{{.Client.APIVersion}} {{.Server.APIVersion}}") == (
        "1.45 1.45\n"
    )
    data = json.loads(skiff.ok("version", "--format", "{{json .}}"))
    assert set(data) == {"Client", "Server"}
    assert set(data["Server"]) <= set(spec_properties("SystemVersion"))
    engine = data["Server"]["Components"][0]
    assert (engine["Name"], engine["Version"]) == ("Engine", __version__)
    assert engine["Details"]["KernelVersion"] == os.uname().release
    names = [c["Name"] for c in data["Server"]["Components"]]
    assert names == ["Engine", "skiff-runtime", "conmon", "docker-init"]
    tini = subprocess.run(["docker-init", "--version"], capture_output=True, text=True).stdout
    assert data["Server"]["Components"][3]["Version"] in tini
    text = skiff.ok("version")
    assert text.startswith(
        f"Client:\n Version:           {__version__}\n API version:       1.45\n"
    )
    assert f"\nServer:\n Engine:\n  Version:          {__version__}\n" in text
    assert "  API version:      1.45 (minimum version 1.24)\n" in text
    python = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    assert f" Python version:    {python}" in text
    assert skiff.ok("-v") == f"skiff version {__version__}\n"
    bad = skiff("version", "--format", "{{.Server.Nope}}")
    assert bad.code == 1
    assert "can't evaluate field Nope in type types.Version" in bad.err


# --- system df --------------------------------------------------------------------------


def test_df_counts_what_a_container_wrote(skiff: Skiff, busybox: str):
    wrote = skiff("run", "--name", "writer", "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1M",
                  "count=5")  # fmt: skip
    assert (wrote.code, wrote.err) == (0, "5+0 records in\n5+0 records out\n")
    container = Engine(skiff.paths).containers.get("writer")
    upper = skiff.root / "containers" / container.id / "upper"
    written = sum(p.stat().st_size for p in upper.rglob("*") if p.is_file())
    assert 5 << 20 <= written < (5 << 20) + 4096
    table = rows(skiff.ok("system", "df"))
    assert table[0] == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert table[2] == ["Containers", "1", "0", "5.243MB", "5.243MB (100%)"]
    assert table[3] == ["Local Volumes", "0", "0", "0B", "0B"]
    assert table[4] == ["Build Cache", "0", "0", "0B", "0B"]
    assert table[1][:3] == ["Images", "1", "1"]  # the writer uses busybox
    skiff.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "60")
    table = rows(skiff.ok("system", "df"))
    assert table[2] == ["Containers", "2", "1", "5.243MB", "5.243MB (100%)"]
    lines = skiff.ok("system", "df", "--format", "{{.Type}}: {{.Size}}").splitlines()
    assert lines == ["Images: " + table[1][3], "Containers: 5.243MB", "Local Volumes: 0B",
                     "Build Cache: 0B"]  # fmt: skip
    verbose = skiff.ok("system", "df", "-v")
    sections = verbose.split("\n\n")
    assert sections[0] == "Images space usage:"
    assert sections[2] == "Containers space usage:"
    containers = rows(sections[3])
    assert containers[0] == [
        "CONTAINER ID", "IMAGE", "COMMAND", "LOCAL VOLUMES", "SIZE", "CREATED", "STATUS", "NAMES",
    ]  # fmt: skip
    by_name = {row[-1]: row for row in containers[1:]}
    assert by_name["writer"][2:5] == ['"dd if=/dev/zero of=…"', "0", "5.24MB"]
    assert by_name["writer"][6].startswith("Exited (0) ")
    assert by_name["sleeper"][4] == "0B" and by_name["sleeper"][6].startswith("Up ")
    assert verbose.endswith("\nBuild cache usage: 0B\n\nCACHE ID   CACHE TYPE   SIZE      "
                            "CREATED   LAST USED   USAGE     SHARED\n")  # fmt: skip
    names = skiff.ok("system", "df", "-v", "--format", "{{range .Containers}}{{.Names}} {{end}}")
    assert sorted(names.split(" ")) == ["", "sleeper", "writer"]  # no newline, as Docker's
    listed = json.loads(skiff.ok("system", "df", "-v", "--format", "json"))
    assert set(listed) == {"Images", "Containers", "Volumes", "BuildCache"}
    assert {c["Names"]: c["Size"] for c in listed["Containers"]} == {
        "writer": "5.24MB",
        "sleeper": "0B",
    }


def test_df_volumes(skiff: Skiff, busybox: str):
    skiff.ok("volume", "create", "named")
    skiff.ok("run", "--name", "user", "-v", "named:/data", "busybox", "sh", "-c",
             "head -c 3000 /dev/zero > /data/f")  # fmt: skip
    table = rows(skiff.ok("system", "df"))
    assert table[3] == ["Local Volumes", "1", "1", "3kB", "0B (0%)"]
    skiff.ok("rm", "user")
    table = rows(skiff.ok("system", "df"))
    assert table[3] == ["Local Volumes", "1", "0", "3kB", "3kB (100%)"]
    verbose = skiff.ok("system", "df", "-v").split("\n\n")
    assert rows(verbose[5]) == [["VOLUME NAME", "LINKS", "SIZE"], ["named", "0", "3kB"]]


# --- container prune --------------------------------------------------------------------


def test_container_prune_removes_only_stopped_containers(skiff: Skiff, busybox: str):
    running = skiff.ok("run", "-d", "--name", "running", "busybox", "sleep", "60").strip()
    exited = skiff.ok("create", "--name", "exited", "busybox", "sh", "-c", "echo x > /f").strip()
    skiff.ok("start", "exited")
    Engine(skiff.paths).wait("exited")
    created = skiff.ok("create", "--name", "created", "busybox", "true").strip()
    declined = skiff("container", "prune", input="n\n")
    assert (declined.code, declined.out) == (
        0,
        "WARNING! This will remove all stopped containers.\n"
        "Are you sure you want to continue? [y/N] ",
    )
    assert len(Engine(skiff.paths).containers.all()) == 3
    out = skiff.ok("container", "prune", input="y\n")
    lines = out.split("[y/N] ", 1)[1].splitlines()
    assert lines[0] == "Deleted Containers:"
    assert sorted(lines[1:3]) == sorted([exited, created])
    assert lines[3:] == ["", "Total reclaimed space: 2B"]  # the file "x\n"
    assert [c.id for c in Engine(skiff.paths).containers.all()] == [running]
    assert Engine(skiff.paths).containers.get("running").state["Running"]
    # nothing of the pruned containers is left on disk or in the database
    left = [p for p in walk_paths(skiff.root, skiff.runroot) if exited in p or created in p]
    assert left == []
    assert os.listdir(skiff.root / "containers") == [running]
    assert skiff.ok("container", "prune", "-f") == "Total reclaimed space: 0B\n"


def test_container_prune_filters(skiff: Skiff, busybox: str):
    keep = skiff.ok("create", "--name", "keep", "-l", "keep=yes", "busybox").strip()
    skiff.ok("create", "--name", "other", "-l", "keep=no", "busybox")
    skiff.ok("create", "--name", "plain", "busybox")
    bad = skiff("container", "prune", "-f", "--filter", "colour=red")
    assert (bad.code, bad.out, bad.err) == (1, "", "Error: Invalid filter 'colour'\n")
    bad = skiff("container", "prune", "-f", "--filter", "until=soon")
    assert bad.code == 1 and "failed to parse value as time or duration" in bad.err
    assert skiff.ok("container", "prune", "-f", "--filter", "until=2000-01-01") == (
        "Total reclaimed space: 0B\n"
    )
    assert len(Engine(skiff.paths).containers.all()) == 3
    other = Engine(skiff.paths).containers.get("other").id
    out = skiff.ok("container", "prune", "-f", "--filter", "label=keep=no")
    assert out == f"Deleted Containers:\n{other}\n\nTotal reclaimed space: 0B\n"
    names = sorted(c.name for c in Engine(skiff.paths).containers.all())
    assert names == ["keep", "plain"]
    skiff.ok("container", "prune", "-f", "--filter", "label!=keep")
    assert [c.id for c in Engine(skiff.paths).containers.all()] == [keep]
    skiff.ok("container", "prune", "-f", "--filter", "until=-1h")  # created before an hour from now
    assert Engine(skiff.paths).containers.all() == []


# --- system prune -----------------------------------------------------------------------


def test_system_prune(skiff: Skiff, busybox: str, rootfs_tar: Path, tmp_path: Path):
    extra = tmp_path / "small"
    extra.mkdir()
    (extra / "f").write_text("hi\n")
    small = tmp_path / "small.tar"
    subprocess.run(["tar", "-C", str(extra), "-cf", str(small), "."], check=True)
    dangling = skiff.ok("import", str(small)).strip()
    running = skiff.ok("run", "-d", "--name", "running", "busybox", "sleep", "60").strip()
    stopped = skiff.ok("create", "--name", "stopped", "busybox").strip()
    skiff.ok("run", "--name", "anon", "-v", "/data", "busybox", "sh", "-c", "echo 12345 > /data/f")
    anon = Engine(skiff.paths).containers.get("anon").id
    skiff.ok("volume", "create", "named")
    volumes_before = skiff.ok("volume", "ls", "-q").split()
    assert len(volumes_before) == 2
    declined = skiff("system", "prune", input="n\n")
    assert declined.code == 0
    assert declined.out.startswith("WARNING! This will remove:\n  - all stopped containers\n")
    assert declined.out.endswith("Are you sure you want to continue? [y/N] ")
    bad = skiff("system", "prune", "-f", "--volumes", "--filter", "until=1h")
    assert (bad.code, bad.err) == (
        1,
        'Error: The "until" filter is not supported with "--volumes"\n',
    )
    assert len(Engine(skiff.paths).containers.all()) == 3
    out = skiff.ok("system", "prune", "-f")
    sections = out.split("\n\n")
    assert sections[0].splitlines()[0] == "Deleted Containers:"
    assert sorted(sections[0].splitlines()[1:]) == sorted([stopped, anon])
    assert sections[1].splitlines() == [
        "Deleted Images:",
        f"deleted: {dangling}",
        *sections[1].splitlines()[2:],  # its layer
    ]
    assert re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?k?B\n", sections[2])
    assert [c.id for c in Engine(skiff.paths).containers.all()] == [running]
    assert skiff.ok("images", "-q", "--no-trunc").split() == [busybox]
    assert sorted(skiff.ok("volume", "ls", "-q").split()) == sorted(volumes_before)
    # --volumes: the anonymous volume no container uses; the named one stays
    out = skiff.ok("system", "prune", "-f", "--volumes")
    anonymous = [v for v in volumes_before if v != "named"]
    assert out == f"Deleted Volumes:\n{anonymous[0]}\n\nTotal reclaimed space: 6B\n"
    assert skiff.ok("volume", "ls", "-q").split() == ["named"]
    # -a: images no container uses; busybox stays while "running" exists
    assert skiff.ok("system", "prune", "-af") == "Total reclaimed space: 0B\n"
    skiff.ok("rm", "-f", "running")
    out = skiff.ok("system", "prune", "-af")
    assert out.startswith(f"Deleted Images:\nuntagged: busybox:latest\ndeleted: {busybox}\n")
    assert skiff.ok("images", "-q") == ""
    assert os.listdir(skiff.root / "containers") == []


def test_system_prune_label_filter(skiff: Skiff, busybox: str):
    skiff.ok("create", "--name", "web", "-l", "tier=web", "busybox")
    skiff.ok("create", "--name", "db", "busybox")
    prompt = skiff("system", "prune", "--filter", "label=tier=web", input="n\n").out
    assert "\n  Items to be pruned will be filtered with:\n  - label=tier=web\n\n" in prompt
    out = skiff.ok("system", "prune", "-f", "--filter", "label=tier=web")
    assert out.splitlines()[0] == "Deleted Containers:"
    assert [c.name for c in Engine(skiff.paths).containers.all()] == ["db"]
    assert skiff.ok("images", "-q") != ""  # busybox has no such label
    bad = skiff("system", "prune", "-f", "--filter", "dangling=true")
    assert (bad.code, bad.err) == (1, "Error: Invalid filter 'dangling'\n")


# --- completion -------------------------------------------------------------------------


def bash_complete(skiff: Skiff, words: list[str]) -> list[str]:
    """COMPREPLY of skiff's bash completion, run in a real bash with skiff on PATH."""
    script = skiff.ok("completion", "bash")
    program = (
        script
        + f"\nCOMP_WORDS=({' '.join(shlex.quote(w) for w in words)})"
        + f"\nCOMP_CWORD={len(words) - 1}\n"
        + '_skiff\nprintf "%s\\n" "${COMPREPLY[@]}"\n'
        + "complete -p skiff\n"
    )
    env = dict(skiff.env)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, ""), result
    lines = result.stdout.splitlines()
    assert lines[-1] == "complete -F _skiff skiff"
    return [line for line in lines[:-1] if line]


def test_completion_lists_containers_and_images(skiff: Skiff, busybox: str, tmp_path: Path):
    skiff.ok("create", "--name", "alpha", "busybox")
    skiff.ok("create", "--name", "beta", "busybox")
    skiff.ok("tag", "busybox", "example/box:1.0")
    assert sorted(bash_complete(skiff, ["skiff", "rm", ""])) == ["alpha", "beta"]
    assert bash_complete(skiff, ["skiff", "rm", "-f", "al"]) == ["alpha"]
    assert sorted(bash_complete(skiff, ["skiff", "container", "start", "alpha", ""])) == [
        "alpha",
        "beta",
    ]
    assert sorted(bash_complete(skiff, ["skiff", "run", "--rm", ""])) == [
        "busybox:latest",
        "example/box:1.0",
    ]
    # bash breaks words at ':': the tag completes after it
    assert bash_complete(skiff, ["skiff", "rmi", "example/box", ":", ""]) == ["1.0"]
    # a store named on the line is the one asked
    other = Skiff(tmp_path / "other")
    assert bash_complete(other, ["skiff", "rm", ""]) == []
    words = ["skiff", "--root", str(skiff.root), "--runroot", str(skiff.runroot), "rm", "b"]
    assert bash_complete(other, words) == ["beta"]
