import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.leaks import Snapshot
from tests.support.oci import Bundle, Runtime, template_rootfs

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_rootfs(tmp_path_factory.mktemp("template"))


@pytest.fixture
def make_bundle(tmp_path: Path, busybox_template: Path) -> Callable[..., Bundle]:
    counter = iter(range(1000))

    def make(*args: str) -> Bundle:
        path = tmp_path / f"bundle{next(counter)}"
        path.mkdir()
        return Bundle(path, busybox_template, list(args) or ["true"])

    return make


@pytest.fixture
def skiff_runtime(tmp_path: Path) -> Iterator[Runtime]:
    runtime = Runtime("skiff", tmp_path / "state")
    yield runtime
    _delete_all(runtime)


@pytest.fixture(params=["skiff", "runc"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The runtime under test; runc runs the same test to show the expectation is runc's."""
    runtime = Runtime(request.param, tmp_path / f"state-{request.param}")
    yield runtime
    _delete_all(runtime)


def _delete_all(runtime: Runtime) -> None:
    if runtime.root.is_dir():
        for cid in os.listdir(runtime.root):
            runtime("delete", "--force", cid)


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it left a mount or a cgroup behind."""
    before = Snapshot.take()
    yield
    # The kernel removes a dead network namespace's veth pair in the background.
    deadline = time.monotonic() + 5
    while (leaks := Snapshot.take().leaks_since(before)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not leaks, "\n".join(leaks)
