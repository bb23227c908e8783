import os

import pytest

if os.geteuid() != 0:
    raise pytest.UsageError("tests/integration needs root: real namespaces, mounts and cgroups")


@pytest.fixture(autouse=True)
def _no_leaks(no_leaks: None) -> None:
    """Every integration test must leave no mount and no cgroup behind."""
