"""Calling CNI plugins as the CNI specification (1.0) says: a network configuration list
runs plugin by plugin, each getting the previous one's result; DEL runs the list backwards
with the result ADD returned, so it can undo what ADD did even after a crash (the caller
keeps the configuration and the result: skiff.network.endpoints).

The plugins are Debian's containernetworking-plugins (/usr/lib/cni) or any in /opt/cni/bin;
skiff.toml's ``[network] cni_plugin_dirs`` replaces that list (podman's key of the same name).
"""

from __future__ import annotations

import os

from skiff import jsonio
from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CNI_VERSION = "1.0.0"
PLUGIN_DIRS = ("/usr/lib/cni", "/opt/cni/bin")


class PluginError(EngineError):
    """A plugin failed: its message (the CNI error's msg and details)."""


def plugin_dirs() -> list[str]:
    from skiff.config import load_config

    dirs = load_config().get("network", {}).get("cni_plugin_dirs", PLUGIN_DIRS)
    return [str(d) for d in dirs]


def find_plugin(name: str, dirs: list[str]) -> str:
    for directory in dirs:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    raise EngineError(
        f"CNI plugin {name} not found in {' or '.join(dirs)} (Debian's containernetworking-plugins)"
    )


def conflist(name: str, plugins: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "name": name, "plugins": plugins}


def add(
    config: dict[str, Any],
    container_id: str,
    netns: str,
    ifname: str,
    runtime_config: dict[str, Any],
) -> dict[str, Any]:
    """ADD the container's interface: each plugin in order; the last result."""
    dirs = plugin_dirs()
    result: dict[str, Any] | None = None
    for plugin in config["plugins"]:
        result = _run(
            "ADD", dirs, config, plugin, container_id, netns, ifname, runtime_config, result
        )
    return result or {}


def delete(
    config: dict[str, Any],
    container_id: str,
    netns: str,
    ifname: str,
    runtime_config: dict[str, Any],
    result: dict[str, Any] | None,
) -> None:
    """DEL: each plugin in reverse order, with ADD's result (None if ADD never finished:
    the plugins then release what they find). Every plugin runs; the first error is raised."""
    dirs = plugin_dirs()
    failure: PluginError | None = None
    for plugin in reversed(config["plugins"]):
        try:
            _run("DEL", dirs, config, plugin, container_id, netns, ifname, runtime_config, result)
        except PluginError as e:
            failure = failure or e
    if failure is not None:
        raise failure


def _run(
    command: str,
    dirs: list[str],
    config: dict[str, Any],
    plugin: dict[str, Any],
    container_id: str,
    netns: str,
    ifname: str,
    runtime_config: dict[str, Any],
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    import subprocess

    stdin = {"cniVersion": config["cniVersion"], "name": config["name"], **plugin}
    wanted = {k: v for k, v in runtime_config.items() if plugin.get("capabilities", {}).get(k)}
    if wanted:
        stdin["runtimeConfig"] = wanted
    if previous is not None:
        stdin["prevResult"] = previous
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns if os.path.exists(netns) else "",
        "CNI_IFNAME": ifname,
        "CNI_PATH": os.pathsep.join(dirs),
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
    }
    ran = subprocess.run(
        [find_plugin(plugin["type"], dirs)],
        input=jsonio.dumps(stdin).encode(),
        capture_output=True,
        env=env,
    )
    if ran.returncode != 0:
        raise PluginError(_error_message(plugin["type"], ran.stdout, ran.stderr))
    if command == "DEL" or not ran.stdout.strip():
        return previous or {}
    return dict(jsonio.loads(ran.stdout.decode()))


def _error_message(plugin: str, stdout: bytes, stderr: bytes) -> str:
    """The CNI error's ``msg: details``, else what the plugin wrote."""
    try:
        error = jsonio.loads(stdout.decode(errors="replace"))
        message = str(error.get("msg") or "")
        if error.get("details"):
            message += f": {error['details']}"
    except (ValueError, AttributeError):
        message = (stdout or stderr).decode(errors="replace").strip()
    return f"plugin type={plugin!r} failed: {message or 'no message'}"
