"""The state of one build stage: the image so far, its run config, its build arguments.

The run config is the image config's ``config`` object, changed instruction by
instruction. Build arguments follow Docker's scoping: the ARGs before the first FROM are
the global ones, usable in FROM lines; inside a stage an argument exists from its ARG on
(``ARG NAME`` takes the global default, if there is one); ``--build-arg`` gives values;
ENV wins over an argument of the same name. The proxy arguments need no ARG.
"""

from __future__ import annotations

from skiff import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHELL = ["/bin/sh", "-c"]
PROXY_ARGS = frozenset(
    name
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY")
    for name in (proxy, proxy.lower())
)


def empty_run_config() -> dict[str, Any]:
    """The run config of a stage from scratch, as dockerd starts it."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }


def deep_copy(value: Any) -> Any:
    """A copy of a JSON value (a config), without the ``copy`` module's import."""
    return jsonio.loads(jsonio.dumps(value))


def env_key(entry: str) -> str:
    return entry.partition("=")[0]


def set_env(env: list[str] | None, key: str, value: str) -> list[str]:
    """``env`` with ``key`` set, in place of an entry with the same key, else last."""
    entries = list(env or [])
    for i, entry in enumerate(entries):
        if env_key(entry) == key:
            entries[i] = f"{key}={value}"
            return entries
    return [*entries, f"{key}={value}"]


class Stage:
    """One stage being built."""

    def __init__(
        self,
        index: int,
        name: str,
        image_id: str | None,
        image_config: dict[str, Any] | None,
        build_args: dict[str, str | None],
        global_args: dict[str, str | None],
    ) -> None:
        self.index = index
        self.name = name
        self.image_id = image_id  # the image so far; None while it is scratch
        base = deep_copy(image_config or {})
        run = base.get("config") or empty_run_config()
        run["OpenStdin"] = False
        run["StdinOnce"] = False
        if not any(env_key(e) == "PATH" for e in run.get("Env") or []):
            run["Env"] = set_env(run.get("Env"), "PATH", DEFAULT_PATH)
        self.image_config = base  # the whole image config of image_id
        self.run = run
        self.build_args = build_args
        self.global_args = global_args
        self.args: dict[str, str | None] = {}  # declared in this stage, in order
        self.cmd_set = False  # a CMD came in this stage (ENTRYPOINT keeps it)
        self.author: str | None = None  # MAINTAINER of this stage (not inherited)
        self.used_args: set[str] = set()

    def declare(self, name: str, default: str | None) -> None:
        """``ARG name[=default]``: its value is the build argument's, else the default,
        else the global argument's."""
        if name in self.build_args:
            value = self.build_args[name]
            self.used_args.add(name)
        elif default is not None:
            value = default
        else:
            value = self.global_args.get(name)
        self.args[name] = value

    def arg_values(self) -> dict[str, str]:
        """The arguments with a value, and the proxy arguments given on the command line."""
        values = {k: v for k, v in self.args.items() if v is not None}
        for name in PROXY_ARGS:
            given = self.build_args.get(name)
            if given is not None and name not in values:
                values[name] = given
                self.used_args.add(name)
        return values

    def expansion_env(self) -> dict[str, str]:
        """What ``$NAME`` means in this stage's instructions: arguments, then ENV over
        them."""
        env = dict(self.arg_values())
        for entry in self.run.get("Env") or []:
            key, _, value = entry.partition("=")
            env[key] = value
        return env

    def run_args(self) -> tuple[list[str], list[str]]:
        """The arguments a RUN sees as environment variables (those ENV does not set),
        sorted, and those of them its history shows (dockerd's ``|N K=V ...`` prefix):
        the proxy arguments only if declared."""
        env_keys = {env_key(e) for e in self.run.get("Env") or []}
        env = sorted(f"{k}={v}" for k, v in self.arg_values().items() if k not in env_keys)
        shown = [e for e in env if env_key(e) not in PROXY_ARGS or env_key(e) in self.args]
        return env, shown

    @property
    def shell(self) -> list[str]:
        return list(self.run.get("Shell") or DEFAULT_SHELL)

    def adopt(self, image_id: str, image_config: dict[str, Any]) -> None:
        """The stage now stands on ``image_id``."""
        self.image_id = image_id
        self.image_config = image_config
        self.run = deep_copy(image_config.get("config") or empty_run_config())
