"""send_notify_fd(): the container process state and an fd, to a listener over a real socket."""

import errno
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skiff.runtime.seccomp import send_notify_fd

STATE = {
    "ociVersion": "1.2.0",
    "id": "c1",
    "status": "created",
    "pid": 4422,
    "bundle": "/containers/c1",
    "annotations": {"k": "v"},
}


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "agent.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(1)
        server.settimeout(10)
        yield path, server


def receive(server: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """What an agent gets from one connection: the JSON up to EOF, and the fds."""
    conn, _ = server.accept()
    with conn:
        data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 4)
        while chunk := conn.recv(1 << 16):
            data += chunk
    return json.loads(data), fds


def test_sends_state_and_fd(listener: tuple[str, socket.socket]) -> None:
    path, server = listener
    read_end, write_end = os.pipe()
    try:
        send_notify_fd(path, write_end, 4423, "MKNOD=/dev/null", STATE)
        message, fds = receive(server)
        assert len(fds) == 1
        # The fd that arrived is the pipe's write end: what goes in comes out of ours.
        os.write(fds[0], b"through")
        os.close(fds[0])
        assert os.read(read_end, 100) == b"through"
    finally:
        os.close(read_end)
        os.close(write_end)
    assert message == {
        "ociVersion": "1.2.0",
        "fds": ["seccompFd"],
        "pid": 4423,
        "metadata": "MKNOD=/dev/null",
        "state": STATE,
    }


def test_leaves_out_empty_metadata(listener: tuple[str, socket.socket]) -> None:
    path, server = listener
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        send_notify_fd(path, fd, 1, "", STATE)
        message, fds = receive(server)
    finally:
        os.close(fd)
    for received in fds:
        os.close(received)
    assert "metadata" not in message


def test_a_state_larger_than_the_socket_buffer_arrives_whole(
    listener: tuple[str, socket.socket],
) -> None:
    path, server = listener
    state = {**STATE, "annotations": {f"key{i}": "v" * 100 for i in range(20000)}}
    got: list[tuple[dict[str, Any], list[int]]] = []
    agent = threading.Thread(target=lambda: got.append(receive(server)))
    agent.start()
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        send_notify_fd(path, fd, 1, "", state)
    finally:
        os.close(fd)
        agent.join(10)
    message, fds = got[0]
    for received in fds:
        os.close(received)
    assert len(fds) == 1
    assert message["state"] == state


def test_a_missing_listener_is_an_error_naming_it(tmp_path: Path) -> None:
    path = str(tmp_path / "nobody.sock")
    with pytest.raises(OSError) as raised:
        send_notify_fd(path, 0, 1, "", STATE)
    assert raised.value.errno == errno.ENOENT
    assert path in str(raised.value)
