"""Each Dockerfile instruction as a build step: the run config after it, its history
line (dockerd's ``created_by``), and for the instructions that change files, what to do.

Variables are expanded here, in the instructions Docker expands them in (ADD, ARG, COPY,
ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR), with the stage's
environment as it was before the instruction.
"""

from __future__ import annotations

from skiff import jsonio
from skiff.build.stage import Stage, deep_copy, set_env
from skiff.errors import InvalidArgument
from skiff.gotext import go_quote

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from skiff.build.dockerfile import Instruction
    from skiff.build.words import Lexer

# The flags each instruction takes; any other is "Unknown flag".
FLAGS: dict[str, tuple[str, ...]] = {
    "FROM": ("platform",),
    "COPY": ("from", "chown", "chmod", "link"),
    "ADD": ("chown", "chmod", "link", "checksum", "keep-git-dir"),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries"),
}


class StepError(InvalidArgument):
    """An instruction that cannot be applied."""


class FileChange:
    """What a step does to the files: ``kind`` "run", "copy", "add" or "workdir", with
    its details; ``checksum`` is what of its inputs the cache must compare."""

    def __init__(self, kind: str, **details: Any) -> None:
        self.kind = kind
        self.details = details
        self.checksum = ""


class Step:
    """The result of dispatching one instruction."""

    def __init__(
        self,
        created_by: str,
        config: dict[str, Any],
        change: FileChange | None = None,
        author: str | None = None,
    ) -> None:
        self.created_by = created_by
        self.config = config
        self.change = change
        self.author = author


def parse_flags(instruction: Instruction) -> dict[str, str]:
    """``--name=value`` flags, checked against those the instruction takes."""
    allowed = FLAGS.get(instruction.keyword, ())
    flags: dict[str, str] = {}
    for text in instruction.flags:
        name, equals, value = text.removeprefix("--").partition("=")
        if name not in allowed:
            raise StepError(f"Unknown flag: {name}")
        if name in flags:
            raise StepError(f"Duplicate flag specified: {name}")
        flags[name] = value if equals else "true"
    return flags


def _comment(stage: Stage, text: str) -> str:
    """dockerd's history line of a metadata instruction (two spaces: its "#(nop) "
    argument joined with the instruction's)."""
    return " ".join([*stage.shell, "#(nop) ", text])


def _text(instruction: Instruction) -> str:
    return " ".join(instruction.args)


class Expander:
    """Variable expansion with the stage's environment from before the instruction: a
    word stays one word (``expand(w)``), or splits at unquoted blanks (``words(w)``)."""

    def __init__(self, lexer: Lexer, env: dict[str, str]) -> None:
        self.lexer = lexer
        self.env = env

    def __call__(self, word: str) -> str:
        return self.lexer.process_word(word, self.env)

    def words(self, word: str) -> list[str]:
        return self.lexer.process_words(word, self.env)


def dispatch(instruction: Instruction, stage: Stage, lexer: Lexer) -> Step:
    """The step of ``instruction`` in ``stage`` (which it does not change)."""
    handler = _HANDLERS.get(instruction.keyword)
    if handler is None:
        raise StepError(f"{instruction.keyword} is not allowed here")
    flags = parse_flags(instruction)
    return handler(instruction, stage, flags, Expander(lexer, stage.expansion_env()))


# --- metadata ----------------------------------------------------------------------------


def _config(stage: Stage) -> dict[str, Any]:
    return deep_copy(stage.run)


def _cmd_form(instruction: Instruction, stage: Stage) -> list[str]:
    if instruction.json:
        return list(instruction.args)
    return [*stage.shell, _text(instruction)]


def _go_quoted_list(items: list[str]) -> str:
    """Go's ``%q`` of a string slice, as dockerd writes it in history: ``["a" "b c"]``."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def _go_list(items: list[str]) -> str:
    """Go's ``%v`` of a string slice: ``[a b c]``."""
    return "[" + " ".join(items) + "]"


def _go_quoted_rune(value: int) -> str:
    """Go's ``%q`` of an integer: a character literal (``'\\x03'``, ``'A'``)."""
    named = {7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r", 39: "'", 92: "\\"}
    if value in named:
        return f"'\\{named[value]}'"
    if 32 <= value < 127:
        return f"'{chr(value)}'"
    if value < 256:
        return f"'\\x{value:02x}'"
    return f"'\\u{value:04x}'" if value < 0x10000 else f"'\\U{value:08x}'"


def _cmd(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    config = _config(stage)
    config["Cmd"] = _cmd_form(instruction, stage)
    stage.cmd_set = True
    return Step(_comment(stage, f"CMD {_go_quoted_list(config['Cmd'])}"), config)


def _entrypoint(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    config = _config(stage)
    config["Entrypoint"] = _cmd_form(instruction, stage)
    if not stage.cmd_set:
        config["Cmd"] = None
    return Step(_comment(stage, f"ENTRYPOINT {_go_quoted_list(config['Entrypoint'])}"), config)


def _pairs(instruction: Instruction, expand: Expander) -> list[tuple[str, str]]:
    args = instruction.args
    return [(expand(args[i]), expand(args[i + 1])) for i in range(0, len(args) - 1, 2)]


def _env(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    config = _config(stage)
    shown = []
    for key, value in _pairs(instruction, expand):
        config["Env"] = set_env(config.get("Env"), key, value)
        shown.append(f"{key}={value}")
    return Step(_comment(stage, "ENV " + " ".join(shown)), config)


def _label(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    config = _config(stage)
    labels = dict(config.get("Labels") or {})
    shown = []
    for key, value in _pairs(instruction, expand):
        labels[key] = value
        shown.append(f"{key}={value}")
    config["Labels"] = labels
    return Step(_comment(stage, "LABEL " + " ".join(shown)), config)


def _expose_ports(words: list[str]) -> list[str]:
    """``80``, ``53/udp``, ``8000-8002`` as ``80/tcp``... (dockerd's ParsePortSpecs)."""
    ports: list[str] = []
    for word in words:
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise StepError(f"invalid proto: {proto}")
        start, dash, end = port.partition("-")
        if not start.isdigit() or (dash and not end.isdigit()):
            raise StepError(f"Invalid containerPort: {port}")
        first, last = int(start), int(end) if dash else int(start)
        if last < first or last > 65535:
            raise StepError(f"Invalid range specified for the Port: {port}")
        ports.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return ports


def _expose(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    """The words sorted as written, then expanded (a variable may hold several), and so
    in the history."""
    config = _config(stage)
    exposed = dict(config.get("ExposedPorts") or {})
    words = [w for raw in sorted(instruction.args) for w in expand.words(raw)]
    for port in _expose_ports(words):
        exposed[port] = {}
    config["ExposedPorts"] = exposed
    return Step(_comment(stage, "EXPOSE " + " ".join(words)), config)


def _volume(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    config = _config(stage)
    volumes = dict(config.get("Volumes") or {})
    paths = [expand(w) for w in instruction.args]
    for path in paths:
        if not path.strip():
            raise StepError("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes
    return Step(_comment(stage, f"VOLUME {_go_list(paths)}"), config)


def _user(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    config = _config(stage)
    config["User"] = expand(_text(instruction))
    return Step(_comment(stage, f"USER {config['User']}"), config)


def _stopsignal(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    from skiff.engine.options import parse_signal

    config = _config(stage)
    signal = expand(_text(instruction))
    parse_signal(signal)
    config["StopSignal"] = signal
    return Step(_comment(stage, f"STOPSIGNAL {signal}"), config)


def _shell(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    if not instruction.json:
        raise StepError("SHELL requires the arguments to be in JSON form")
    config = _config(stage)
    config["Shell"] = list(instruction.args)
    comment = f"SHELL {_go_list(config['Shell'])}"
    return Step(" ".join([*config["Shell"], "#(nop) ", comment]), config)  # the new shell


def _onbuild(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    config = _config(stage)
    trigger = instruction.args[0]
    config["OnBuild"] = [*(config.get("OnBuild") or []), trigger]
    return Step(_comment(stage, f"ONBUILD {trigger}"), config)


def _maintainer(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    author = _text(instruction)
    return Step(_comment(stage, f"MAINTAINER {author}"), _config(stage), author=author)


def _arg(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    shown = []
    for word in instruction.args:
        name, equals, default = word.partition("=")
        value = expand(default) if equals else None
        stage.declare(name, value)
        shown.append(f"{name}={value}" if equals else name)
    return Step(_comment(stage, "ARG " + " ".join(shown)), _config(stage))


def _duration(flags: dict[str, str], name: str) -> int:
    from skiff.engine.timestamps import go_duration

    text = flags.get(name)
    if text is None:
        return 0
    nanos = go_duration(text)
    if nanos is None:
        raise StepError(f"time: invalid duration {jsonio.dumps(text)}")
    if nanos < 0:
        raise StepError(f"Interval {jsonio.dumps(name)} cannot be negative")
    if 0 < nanos < 1_000_000:
        raise StepError(f"Interval {jsonio.dumps(name)} cannot be less than 1ms")
    return nanos


def _healthcheck(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    """The history shows the instruction's own check (Go's ``%q`` of dockerd 20.10's
    HealthConfig); the config keeps the durations and retries it leaves at 0 from the
    check before it, as dockerd's merge of the image's config does."""
    config = _config(stage)
    kind, *rest = instruction.args
    if kind.upper() == "NONE":
        if rest or flags:
            raise StepError("HEALTHCHECK NONE takes no arguments")
        test = ["NONE"]
    else:
        test = ["CMD", *rest] if instruction.json else ["CMD-SHELL", " ".join(rest)]
    own: dict[str, Any] = {"Test": test}
    for flag, key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ):
        own[key] = _duration(flags, flag)
    own["Retries"] = _retries(flags)
    from skiff.engine.health import go_duration

    before = config.get("Healthcheck") or {}
    config["Healthcheck"] = {
        key: value or before.get(key) for key, value in own.items() if value or before.get(key)
    }
    shown = " ".join(
        [_go_quoted_list(test)]
        + [f'"{go_duration(own[key])}"' for key in ("Interval", "Timeout", "StartPeriod")]
        + [_go_quoted_rune(own["Retries"])]
    )
    return Step(_comment(stage, f"HEALTHCHECK &{{{shown}}}"), config)


def _retries(flags: dict[str, str]) -> int:
    if "retries" not in flags:
        return 0
    try:
        retries = int(flags["retries"])
    except ValueError:
        raise StepError(
            f"strconv.ParseInt: parsing {jsonio.dumps(flags['retries'])}: invalid syntax"
        ) from None
    if retries < 0:
        raise StepError("--retries cannot be negative")
    return retries


# --- files -------------------------------------------------------------------------------


def _workdir(
    instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    from skiff.engine.copy_paths import join

    config = _config(stage)
    path = expand(_text(instruction))
    workdir = join(config.get("WorkingDir") or "/", path) if not path.startswith("/") else path
    workdir = join(workdir)
    config["WorkingDir"] = workdir
    created_by = " ".join([*stage.shell, f"#(nop) WORKDIR {workdir}"])  # one space here
    return Step(created_by, config, FileChange("workdir", path=workdir))


def _run(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    command = _run_command(instruction, stage)
    env, args = stage.run_args()
    shown = [f"|{len(args)}", *args, *command] if env else command
    change = FileChange("run", command=command, env=env)
    return Step(" ".join(shown), _config(stage), change)


def _run_command(instruction: Instruction, stage: Stage) -> list[str]:
    """The command of a RUN. A heredoc that is the whole command is the script; other
    heredocs are given to the shell as heredocs, which it reads itself."""
    if instruction.json:
        return list(instruction.args)
    text = _text(instruction)
    docs = instruction.heredocs
    if docs and len(docs) == 1 and text.strip().lstrip("<-").strip("'\"") == docs[0].name:
        return [*stage.shell, docs[0].content]
    for doc in docs:
        text += "\n" + doc.content + doc.name
    return [*stage.shell, text]


def _copy(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    return _files("copy", instruction, stage, flags, expand)


def _add(instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander) -> Step:
    return _files("add", instruction, stage, flags, expand)


def _files(
    kind: str, instruction: Instruction, stage: Stage, flags: dict[str, str], expand: Expander
) -> Step:
    name = instruction.keyword
    words = [expand(w) for w in instruction.args]
    if len(words) < 2:
        raise StepError(f"{name} requires at least two arguments, but only one was provided. "
                        "Destination could not be determined.")  # fmt: skip
    *sources, dest = words
    chmod = None
    if flags.get("chmod"):
        try:
            chmod = int(flags["chmod"], 8)
        except ValueError:
            raise StepError(f"invalid chmod parameter: {flags['chmod']}") from None
        if not 0 <= chmod <= 0o7777:
            raise StepError(f"invalid chmod parameter: {flags['chmod']}")
    heredocs = {doc.name: doc for doc in instruction.heredocs}
    change = FileChange(
        kind,
        sources=sources,
        dest=dest,
        workdir=stage.run.get("WorkingDir") or "",
        chown=expand(flags.get("chown", "")),
        chmod=chmod,
        source_stage=expand(flags.get("from", "")),
        heredocs={key: doc.content for key, doc in heredocs.items()},
    )
    return Step("", _config(stage), change)


_HANDLERS = {
    "ADD": _add,
    "ARG": _arg,
    "CMD": _cmd,
    "COPY": _copy,
    "ENTRYPOINT": _entrypoint,
    "ENV": _env,
    "EXPOSE": _expose,
    "HEALTHCHECK": _healthcheck,
    "LABEL": _label,
    "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild,
    "RUN": _run,
    "SHELL": _shell,
    "STOPSIGNAL": _stopsignal,
    "USER": _user,
    "VOLUME": _volume,
    "WORKDIR": _workdir,
}
