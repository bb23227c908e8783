"""``commit --change`` on a container's config (skiff.engine.commit)."""

from __future__ import annotations

import pytest

from skiff.engine.commit import apply_commit_changes
from skiff.errors import InvalidArgument

CONFIG = {"Cmd": ["sleep", "1"], "Entrypoint": None, "Env": ["A=1"], "Labels": {"x": "y"}}


def test_changes_apply_on_the_container_config():
    changed = apply_commit_changes(CONFIG, ['CMD ["cat", "/f"]', "ENV B=2", "LABEL z=w"])
    assert changed["Cmd"] == ["cat", "/f"]
    assert changed["Env"] == ["A=1", "B=2"]
    assert changed["Labels"] == {"x": "y", "z": "w"}
    assert CONFIG["Cmd"] == ["sleep", "1"]  # the input is left alone


def test_an_entrypoint_resets_the_cmd_unless_a_cmd_came_first():
    assert apply_commit_changes(CONFIG, ['ENTRYPOINT ["top"]'])["Cmd"] is None
    both = apply_commit_changes(CONFIG, ['CMD ["-b"]', 'ENTRYPOINT ["top"]'])
    assert (both["Entrypoint"], both["Cmd"]) == (["top"], ["-b"])
    after = apply_commit_changes(CONFIG, ['ENTRYPOINT ["top"]', 'CMD ["-b"]'])
    assert (after["Entrypoint"], after["Cmd"]) == (["top"], ["-b"])


def test_an_instruction_commit_does_not_take_is_refused():
    with pytest.raises(InvalidArgument, match="RUN is not a valid change command"):
        apply_commit_changes(CONFIG, ["RUN true"])
