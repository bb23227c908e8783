import os

import pytest

if os.geteuid() != 0:
    raise pytest.UsageError("tests/security needs root: it attacks real containers")


@pytest.fixture(autouse=True)
def _no_leaks(no_leaks: None) -> None:
    """Every attempt must leave no mount and no cgroup behind."""
