"""``--change`` instructions of ``import`` and ``commit``: Dockerfile lines applied to a
config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)."""

from __future__ import annotations

import json
import shlex

from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ALLOWED = (
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)


def _exec_or_shell(text: str) -> list[str]:
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(text: str, instruction: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"``, or the legacy ``key value with spaces`` form."""
    words = shlex.split(text)
    if words and "=" not in words[0]:
        if len(words) < 2 and instruction == "ENV":
            raise InvalidArgument(f"{instruction} needs a name and a value")
        key, _, value = text.strip().partition(" ")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{instruction}: {word!r}: expected KEY=VALUE")
        pairs.append((key, value))
    return pairs


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Return ``config`` (the image config's ``config`` object) with the changes applied."""
    result = dict(config)
    for change in changes:
        instruction, _, rest = change.strip().partition(" ")
        instruction = instruction.upper()
        rest = rest.strip()
        if instruction not in ALLOWED:
            raise InvalidArgument(f"{instruction} is not a valid change command")
        if instruction == "CMD":
            result["Cmd"] = _exec_or_shell(rest)
        elif instruction == "ENTRYPOINT":
            result["Entrypoint"] = _exec_or_shell(rest)
        elif instruction == "ENV":
            env = [e for e in result.get("Env") or []]
            for key, value in _pairs(rest, "ENV"):
                env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
            result["Env"] = env
        elif instruction == "EXPOSE":
            ports = dict(result.get("ExposedPorts") or {})
            for port in rest.split():
                ports[port if "/" in port else f"{port}/tcp"] = {}
            result["ExposedPorts"] = ports
        elif instruction == "LABEL":
            labels = dict(result.get("Labels") or {})
            labels.update(_pairs(rest, "LABEL"))
            result["Labels"] = labels
        elif instruction == "ONBUILD":
            result["OnBuild"] = [*(result.get("OnBuild") or []), rest]
        elif instruction == "STOPSIGNAL":
            result["StopSignal"] = rest
        elif instruction == "USER":
            result["User"] = rest
        elif instruction == "VOLUME":
            paths = _exec_or_shell(rest) if rest.startswith("[") else rest.split()
            if paths[:2] == ["/bin/sh", "-c"]:
                paths = rest.split()
            volumes = dict(result.get("Volumes") or {})
            volumes.update({path: {} for path in paths})
            result["Volumes"] = volumes
        elif instruction == "WORKDIR":
            result["WorkingDir"] = rest
    return result
