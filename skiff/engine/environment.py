"""A process's environment as Docker builds it: the default PATH, the merge of the user's
variables with the image's, and overrides. Its own module, light to import: ``run`` and
``exec`` both need it, ``exec`` nothing else of the OCI spec's making."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def env_key(item: str) -> str:
    """The name of a ``NAME=value`` (or bare ``NAME``) entry."""
    return item.partition("=")[0]


def merge_env(user_env: Iterable[str], image_env: Iterable[str]) -> list[str]:
    """Docker's merge: the user's variables, then the image's whose name the user did not
    give (a bare ``NAME`` from the user hides the image's NAME)."""
    merged = list(user_env)
    keys = {env_key(e) for e in merged}
    return merged + [e for e in image_env if env_key(e) not in keys]


def replace_or_append_env(defaults: list[str], overrides: Iterable[str]) -> list[str]:
    """Docker's ``ReplaceOrAppendEnvValues``: an override replaces the default of its
    name in place or is appended; a bare ``NAME`` removes NAME's default."""
    result = list(defaults)
    index = {env_key(e): i for i, e in enumerate(result)}
    removed: set[int] = set()
    for value in overrides:
        key, sep, _ = value.partition("=")
        if not sep:
            if key in index:
                removed.add(index[key])
            continue
        if key in index:
            result[index[key]] = value
        else:
            result.append(value)
    return [e for i, e in enumerate(result) if i not in removed]
