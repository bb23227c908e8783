"""``--detach-keys`` (Docker's syntax), the detach-key watcher of attached sessions, and
the runtime's exec errors in Docker's words."""

import pytest

from skiff.engine.attach import DetachKeys, parse_detach_keys
from skiff.engine.exec import docker_message
from skiff.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        (None, b"\x10\x11"),
        ("", b"\x10\x11"),
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a,x", b"\x01x"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x00\x1b\x1c\x1d\x1e\x1f"),
        ("DEL", b"\x7f"),
        ("x,y", b"xy"),
    ],
)
def test_parse(text: str | None, keys: bytes) -> None:
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["foo", "ctrl-A", "ctrl-", "ctrl-pq", "é", "a,,"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(InvalidArgument) as failure:
        parse_detach_keys(text)
    assert str(failure.value) == f"Invalid escape keys ({text}) provided"


def test_the_sequence_detaches_and_what_follows_is_dropped() -> None:
    keys = DetachKeys(b"\x10\x11")
    assert keys.feed(b"ls\r\x10\x11after") == (b"ls\r", True)


def test_the_sequence_split_across_reads() -> None:
    keys = DetachKeys(b"\x10\x11")
    assert keys.feed(b"a\x10") == (b"a", False)  # held back
    assert keys.feed(b"\x11") == (b"", True)


def test_a_broken_sequence_sends_the_held_keys_on() -> None:
    keys = DetachKeys(b"\x10\x11")
    assert keys.feed(b"\x10") == (b"", False)
    assert keys.feed(b"x") == (b"\x10x", False)
    # as moby/term: the breaking key is not the start of a new match
    assert keys.feed(b"\x10\x10\x11") == (b"\x10\x10\x11", False)
    assert keys.feed(b"\x10\x11") == (b"", True)


@pytest.mark.parametrize(
    ("command", "error", "docker"),
    [
        (
            "nope",
            'exec: "nope": executable file not found in $PATH',
            'exec: "nope": executable file not found in $PATH',
        ),
        (
            "/nope",
            'exec: "/nope": no such file or directory',
            'exec: "/nope": stat /nope: no such file or directory',
        ),
        ("/etc", "Permission denied: /etc", 'exec: "/etc": permission denied'),
        (
            "pwd",
            "No such file or directory: /work",
            'chdir to cwd ("/work") set in config.json failed: no such file or directory',
        ),
    ],
)
def test_runtime_errors_in_dockers_words(command: str, error: str, docker: str) -> None:
    """skiff-runtime's messages become runc's, which Docker wraps."""
    process = {"args": [command], "cwd": "/work"}
    prefix = "OCI runtime exec failed: exec failed: unable to start container process: "
    assert docker_message(error, process) == f"{prefix}{docker}: unknown"
    runc = 'exec failed: unable to start container process: exec: "x": permission denied'
    assert docker_message(runc, process) == f"OCI runtime exec failed: {runc}: unknown"
