"""Fixtures shared by tests/integration and tests/security: the skiff command with a store of
its own, busybox imported into it, and local registries."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Skiff, tar_dir
from tests.support.engine import remove_all_containers
from tests.support.registry import REGISTRY_PASSWORD, REGISTRY_USER, Registry


@pytest.fixture(scope="session")
def rootfs_tar(busybox_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Debian's busybox-static as a root filesystem tar."""
    return tar_dir(tmp_path_factory.mktemp("tars") / "busybox.tar", busybox_template)


@pytest.fixture
def skiff(tmp_path: Path) -> Iterator[Skiff]:
    """The skiff command with a store of its own; its containers are gone afterwards."""
    cli = Skiff(tmp_path)
    yield cli
    leftovers = remove_all_containers(cli)
    assert not leftovers, "\n".join(leftovers)


@pytest.fixture
def busybox(skiff: Skiff, rootfs_tar: Path) -> str:
    """busybox:latest, imported with a CMD; its image ID."""
    return skiff.ok("import", "-c", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest").strip()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry of its own on 127.0.0.1 (docker-registry, plain HTTP, no auth)."""
    with Registry(tmp_path / "registry") as running:
        yield running
        assert running.process.poll() is None, f"the registry died: {running.log()}"


@pytest.fixture
def auth_registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry that wants basic authentication (htpasswd): tester / s3cret."""
    with Registry(tmp_path / "auth-registry", REGISTRY_USER, REGISTRY_PASSWORD) as running:
        yield running
        assert running.process.poll() is None, f"the registry died: {running.log()}"
