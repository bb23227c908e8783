"""The handlers of ``skiff-runtime``'s commands: parsed flags in, exit code out."""

from __future__ import annotations

import os
import sys

from skiff.errors import InvalidArgument, NotFound
from skiff.linux import signals
from skiff.runtime import lifecycle
from skiff.runtime.cli import print_json
from skiff.runtime.state import SECCOMP_CACHE, ContainerDir, oci_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Flags = dict[str, Any]


def _container(root: str, args: list[str]) -> ContainerDir:
    return ContainerDir(root, args[0])


def _locked(root: str, args: list[str]) -> ContainerDir:
    container = _container(root, args)
    container.lock()
    return container


def _create_options(root: str, flags: Flags, args: list[str], own_terminal: bool = False) -> Any:
    from skiff.runtime.create import CreateOptions

    return CreateOptions(
        root=root,
        container_id=args[0],
        bundle=flags["bundle"],
        console_socket=flags["console_socket"],
        pid_file=flags["pid_file"],
        no_pivot=flags["no_pivot"],
        no_new_keyring=flags["no_new_keyring"],
        preserve_fds=flags["preserve_fds"],
        own_terminal=own_terminal,
    )


def cmd_create(root: str, flags: Flags, args: list[str]) -> int:
    from skiff.runtime.create import create

    create(_create_options(root, flags, args))
    return 0


def cmd_run(root: str, flags: Flags, args: list[str]) -> int:
    """create + start; in the foreground, wait for the process, then delete the container."""
    from skiff.runtime.create import create

    detach = flags["detach"]
    created = create(_create_options(root, flags, args, own_terminal=not detach))
    container, pid = created.directory, created.state.pid
    try:
        lifecycle.start(container)
    except BaseException:
        lifecycle.delete(container, force=True)
        raise
    if detach:
        return 0
    for sig in _FORWARDED:
        signals.signal(sig, lambda number, _frame: _forward(pid, number))
    if created.console >= 0:
        from skiff.runtime.console import proxy, receive_master

        master = receive_master(created.console)
        os.close(created.console)
        code = lifecycle.exit_code(proxy(master, pid))
    else:
        code = lifecycle.wait_for_exit(pid)
    if not flags["keep"]:
        lifecycle.delete(container, force=True)
    return code


_FORWARDED = (
    signals.SIGTERM,
    signals.SIGINT,
    signals.SIGHUP,
    signals.SIGQUIT,
    signals.SIGUSR1,
    signals.SIGUSR2,
    signals.SIGWINCH,
)


def _forward(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def cmd_start(root: str, flags: Flags, args: list[str]) -> int:
    lifecycle.start(_locked(root, args))
    return 0


def cmd_state(root: str, flags: Flags, args: list[str]) -> int:
    container = _container(root, args)
    state = container.load()
    print_json(oci_state(state, container.status(state)))
    return 0


def cmd_kill(root: str, flags: Flags, args: list[str]) -> int:
    sig = lifecycle.parse_signal(args[1]) if len(args) > 1 else signals.SIGTERM
    lifecycle.kill(_locked(root, args), sig, flags["all"])
    return 0


def cmd_delete(root: str, flags: Flags, args: list[str]) -> int:
    try:
        container = _locked(root, args)
    except NotFound:
        if flags["force"]:
            return 0
        raise
    lifecycle.delete(container, flags["force"])
    return 0


def cmd_pause(root: str, flags: Flags, args: list[str]) -> int:
    lifecycle.pause(_locked(root, args))
    return 0


def cmd_resume(root: str, flags: Flags, args: list[str]) -> int:
    lifecycle.resume(_locked(root, args))
    return 0


def cmd_exec(root: str, flags: Flags, args: list[str]) -> int:
    from skiff.runtime.exec import exec_process

    return exec_process(_container(root, args), flags, args[1:])


def cmd_ps(root: str, flags: Flags, args: list[str]) -> int:
    from skiff.cgroups import open_cgroup

    container = _container(root, args)
    state = container.load()
    pids = open_cgroup(state.cgroup_path).pids() if state.cgroup_path else []
    if flags["format"] == "json":
        print_json(pids)
        return 0
    if flags["format"] != "table":
        raise InvalidArgument(f"invalid format option {flags['format']!r}: use table or json")
    import subprocess

    output = subprocess.run(
        ["ps", *(args[1:] or ["-ef"])], capture_output=True, text=True, check=True
    ).stdout
    lines = output.splitlines()
    if not lines:
        return 0
    header = lines[0].split()
    try:
        column = header.index("PID")
    except ValueError:
        raise InvalidArgument("ps output has no PID column") from None
    wanted = set(pids)
    sys.stdout.write(lines[0] + "\n")
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            sys.stdout.write(line + "\n")
    return 0


def cmd_list(root: str, flags: Flags, args: list[str]) -> int:
    rows = []
    names = sorted(os.listdir(root)) if os.path.isdir(root) else []
    for name in names:
        if name == SECCOMP_CACHE:
            continue
        container = ContainerDir(root, name)
        try:
            state = container.load()
        except (NotFound, ValueError, TypeError):
            continue
        rows.append(oci_state(state, container.status(state)))
    if flags["quiet"]:
        for row in rows:
            print(row["id"])
    elif flags["format"] == "json":
        print_json(rows)
    elif flags["format"] == "table":
        table = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
        table += [
            [r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"] or "root"]
            for r in rows
        ]
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        for line in table:
            print(
                "   ".join(
                    cell.ljust(width) for cell, width in zip(line, widths, strict=True)
                ).rstrip()
            )
    else:
        raise InvalidArgument(f"invalid format option {flags['format']!r}: use table or json")
    return 0


def cmd_features(root: str, flags: Flags, args: list[str]) -> int:
    from skiff.runtime.features import features

    print_json(features())
    return 0


def cmd_spec(root: str, flags: Flags, args: list[str]) -> int:
    import json

    from skiff.runtime.specgen import default_spec

    path = os.path.join(flags["bundle"], "config.json")
    try:
        with open(path, "x") as f:
            json.dump(default_spec(), f, indent="\t")
            f.write("\n")
    except FileExistsError:
        raise InvalidArgument(f"{path} exists: remove it first or use another bundle") from None
    return 0


def cmd_update(root: str, flags: Flags, args: list[str]) -> int:
    from skiff.runtime.update import resources_from_flags

    lifecycle.update(_locked(root, args), resources_from_flags(flags))
    return 0


def cmd_events(root: str, flags: Flags, args: list[str]) -> int:
    import json
    import time

    container = _container(root, args)
    interval = _duration(flags["interval"])
    while True:
        event = {"type": "stats", "id": container.id, "data": lifecycle.stats(container)}
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()
        if flags["stats"]:
            return 0
        time.sleep(interval)


def _duration(text: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix):
            try:
                value = float(text[: -len(suffix)]) * units[suffix]
            except ValueError:
                break
            if value > 0:
                return value
    raise InvalidArgument(f"invalid interval {text!r}: use a duration like 5s")
