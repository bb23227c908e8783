"""``skiff completion bash|zsh|fish``: shell completion scripts generated from the command
registry, so they know every command, alias and flag there is when they are generated.

Each command's flags come from its own parser setup; what its arguments are comes from
its usage line (``CONTAINER``, ``IMAGE``, ``NAME|ID``, ``VOLUME``, a file): the scripts
complete container names, image names and volume names by asking skiff itself (``skiff
ps -a``, ``skiff images``, ``skiff volume ls``, with the ``--root``/``--runroot`` given on the
line), and files. A flag that takes a value completes files.

bash and zsh share one POSIX-shell walk over the words typed (``__skiff_context``, run
with zsh's ``KSH_ARRAYS`` so arrays count from 0 in both); fish has its own.
"""

from __future__ import annotations

import sys

from skiff.cli.main import GLOBAL_FLAGS, Command, Group, Parser, Registry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from skiff.cli.main import Invocation, Options

SHELLS = ("bash", "fish", "zsh")

# What to complete for an argument, by the words of a usage line.
ARGUMENT_KINDS = (
    ("NAME|ID", "any"),
    ("CONTAINER", "container"),
    ("IMAGE", "image"),
    ("REPOSITORY", "image"),
    ("VOLUME", "volume"),
    ("PATH", "file"),
    ("file", "file"),
)


class Spec:
    """What completion knows of one command: the paths it answers to, its flags (each
    ``(names, takes_value, help)``), the kinds of its arguments (the last one repeating
    when ``repeat``) and whether flags may follow its first argument."""

    def __init__(self, command: Command, paths: list[str]) -> None:
        parser = Parser(command.path)
        command.setup(parser)
        self.paths = paths
        self.summary = command.summary
        self.flags = [(flag.names, flag.kind != "bool", flag.help) for flag in parser.flags]
        taken = {name for names, _, _ in self.flags for name in names}
        help_names = tuple(name for name in ("-h", "--help") if name not in taken)
        self.flags.append((help_names, False, "Print usage"))
        self.kinds, self.repeat = argument_kinds(command.usage)
        self.interspersed = command.interspersed

    @property
    def value_flags(self) -> list[str]:
        return [name for names, takes, _ in self.flags if takes for name in names]

    @property
    def all_flags(self) -> list[str]:
        return [name for names, _, _ in self.flags for name in names]


def argument_kinds(usage: str) -> tuple[list[str], bool]:
    """The kinds of a usage line's arguments (``container``, ``image``, ``volume``, ``any``,
    ``file``, ``-`` for nothing to offer) and whether the last one repeats (``...``). Of
    a usage with several forms (``cp``), the first."""
    kinds: list[str] = []
    repeat = False
    for token in usage.partition("\n")[0].split():
        if token == "[OPTIONS]":
            continue
        repeats = "..." in token
        word = token.replace("...", "").strip("[]")
        kind = next((k for key, k in ARGUMENT_KINDS if key in word), "-")
        if repeats and kinds and kinds[-1] == kind:
            repeat = True
            continue
        kinds.append(kind)
        repeat = repeats
    return kinds, repeat


def specs(registry: Registry) -> list[Spec]:
    """One Spec per command, with every path and alias it answers to."""
    paths: dict[int, list[str]] = {}
    commands: dict[int, Command] = {}
    for name, command in registry.commands.items():
        paths.setdefault(id(command), []).append(name)
        commands[id(command)] = command
    for group in registry.groups.values():
        for name, command in group.commands.items():
            paths.setdefault(id(command), []).append(f"{group.name} {name}")
            commands[id(command)] = command
    return [Spec(commands[key], sorted(found)) for key, found in paths.items()]


# --- bash and zsh -----------------------------------------------------------------------


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _sh_case(entries: list[tuple[list[str], str]], default: str = "") -> str:
    """A ``case "$1"`` printing a word list for each set of paths."""
    lines = ['    case "$1" in']
    for patterns, words in entries:
        if words:
            labels = "|".join(_sh_quote(p) for p in patterns)
            lines.append(f"        {labels}) echo {_sh_quote(words)} ;;")
    if default:
        lines.append(f"        *) echo {_sh_quote(default)} ;;")
    lines.append("    esac")
    return "\n".join(lines)


def _data_functions(registry: Registry, found: list[Spec]) -> str:
    globals_ = [name for flag in GLOBAL_FLAGS for name in flag.names] + ["-h", "--help"]
    global_values = [name for flag in GLOBAL_FLAGS if flag.kind != "bool" for name in flag.names]
    top = sorted(set(registry.commands) | set(registry.groups))
    groups = [([name], " ".join(sorted(g.commands))) for name, g in sorted(registry.groups.items())]
    flags = [(s.paths, " ".join(s.all_flags)) for s in found]
    values = [(s.paths, " ".join(s.value_flags)) for s in found]
    args = [(s.paths, " ".join(s.kinds) + ("+" if s.repeat else "")) for s in found]
    positional = [(s.paths, "1") for s in found if not s.interspersed]
    return f"""__skiff_commands={_sh_quote(" ".join(top))}
__skiff_global_flags={_sh_quote(" ".join(globals_))}
__skiff_global_value_flags={_sh_quote(" ".join(global_values))}

# The commands of a management command.
__skiff_subcommands() {{
{_sh_case(groups)}
}}

# The flags of a command (by any of its paths).
__skiff_flags() {{
{_sh_case(flags)}
}}

# The flags of a command that take a value.
__skiff_value_flags() {{
{_sh_case(values)}
}}

# What each argument of a command is ("+": the last one repeats).
__skiff_arg_kinds() {{
{_sh_case(args)}
}}

# Commands whose flags end at their first argument (the rest is the container's command).
__skiff_flags_end_at_arg() {{
{_sh_case(positional)}
}}
"""


# Walks words[1..cword-1] (the words before the cursor; arrays from 0: bash, or zsh with
# KSH_ARRAYS). Sets __skiff_path (the command, "" or a group name when incomplete),
# __skiff_want (commands, subcommands, flags, globals, value, or an argument kind) and
# __skiff_cmd (skiff with the --root/--runroot given, to list names).
_WALK = r"""
__skiff_in() {  # __skiff_in WORD LIST: is WORD one of LIST's words?
    case " $2 " in *" $1 "*) return 0 ;; esac
    return 1
}

__skiff_context() {
    local i word group="" value="" nargs=0 ended="" kinds kind count
    __skiff_path=""
    __skiff_want=""
    __skiff_cmd=("${words[0]}")
    for ((i = 1; i < cword; i++)); do
        word="${words[i]}"
        if [[ -n $value ]]; then
            value=""
            [[ -z $__skiff_path ]] && __skiff_cmd+=("${word/#\~\//$HOME/}")
            continue
        fi
        if [[ -z $__skiff_path || $__skiff_path == "$group" ]]; then
            case "$word" in
                --root=* | --runroot=*) [[ -z $group ]] && __skiff_cmd+=("$word") ;;
                -*)
                    if [[ -z $group ]] && __skiff_in "$word" "$__skiff_global_value_flags"; then
                        __skiff_cmd+=("$word")
                        value=1
                    fi
                    ;;
                *)
                    if [[ -n $group ]]; then
                        __skiff_path="$group $word"
                    else
                        __skiff_path="$word"
                        [[ -n $(__skiff_subcommands "$word") ]] && group="$word"
                    fi
                    ;;
            esac
            continue
        fi
        if [[ -n $ended || $word != -?* ]]; then
            nargs=$((nargs + 1))
            [[ -n $(__skiff_flags_end_at_arg "$__skiff_path") ]] && ended=1
            continue
        fi
        if [[ $word == -- ]]; then
            ended=1
        elif [[ $word != *=* ]] && __skiff_in "$word" "$(__skiff_value_flags "$__skiff_path")"; then
            value=1
        elif [[ $word != --* && ${#word} -gt 2 && $word != *=* ]] &&
            __skiff_in "-${word: -1}" "$(__skiff_value_flags "$__skiff_path")"; then
            value=1  # -it... ending in a flag that takes the next word as its value
        fi
    done
    if [[ -n $value ]]; then
        __skiff_want=value
    elif [[ -z $__skiff_path ]]; then
        [[ $cur == -* ]] && __skiff_want=globals || __skiff_want=commands
    elif [[ $__skiff_path == "$group" ]]; then
        [[ $cur == -* ]] && __skiff_want=help || __skiff_want=subcommands
    elif [[ $cur == -* && -z $ended ]]; then
        __skiff_want=flags
    else
        kinds=($(__skiff_arg_kinds "$__skiff_path"))
        count=${#kinds[@]}
        kind=-
        if ((nargs < count)); then
            kind="${kinds[nargs]%+}"
        elif ((count > 0)) && [[ ${kinds[count - 1]} == *+ ]]; then
            kind="${kinds[count - 1]%+}"
        fi
        __skiff_want="$kind"
    fi
}

# The names skiff knows of a kind: container, image, volume, or any of them.
__skiff_names() {
    case "$1" in
        container) "${__skiff_cmd[@]}" ps -a --format '{{.Names}}' 2>/dev/null ;;
        image)
            "${__skiff_cmd[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null |
                while IFS= read -r name; do
                    [[ $name == *"<none>"* ]] || echo "$name"
                done
            ;;
        volume) "${__skiff_cmd[@]}" volume ls -q 2>/dev/null ;;
        any)
            __skiff_names container
            __skiff_names image
            __skiff_names volume
            ;;
    esac
}

# The words to offer for what __skiff_context found, one a line ("FILES": complete files).
__skiff_candidates() {
    case "$__skiff_want" in
        commands) printf '%s\n' $__skiff_commands ;;
        globals) printf '%s\n' $__skiff_global_flags ;;
        subcommands) printf '%s\n' $(__skiff_subcommands "$__skiff_path") ;;
        help) printf '%s\n' -h --help ;;
        flags) printf '%s\n' $(__skiff_flags "$__skiff_path") ;;
        value | file) echo FILES ;;
        container | image | volume | any) __skiff_names "$__skiff_want" ;;
    esac
}
"""

_BASH_MAIN = r"""
# bash breaks words at ':' (image:tag): join them back, as bash-completion does.
__skiff_join_colons() {
    local i w joining=""
    words=() cword=0
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w="${COMP_WORDS[i]}"
        if ((i > 0)) && [[ $w == : ]]; then
            words[${#words[@]} - 1]+=":"
            joining=1
        elif [[ -n $joining ]]; then
            words[${#words[@]} - 1]+="$w"
            joining=""
        else
            words+=("$w")
        fi
        ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
    done
    return 0
}

_skiff() {
    local words cword cur candidates line prefix i
    local __skiff_path __skiff_want
    local -a __skiff_cmd
    __skiff_join_colons
    cur="${words[cword]}"
    COMPREPLY=()
    __skiff_context
    candidates="$(__skiff_candidates)"
    if [[ $candidates == FILES ]]; then
        COMPREPLY=($(compgen -f -- "$cur"))
        compopt -o filenames 2>/dev/null
        return 0
    fi
    while IFS= read -r line; do
        [[ -n $line && $line == "$cur"* ]] && COMPREPLY+=("$line")
    done <<<"$candidates"
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        prefix="${cur%"${cur##*:}"}"
        for i in "${!COMPREPLY[@]}"; do
            COMPREPLY[i]="${COMPREPLY[i]#"$prefix"}"
        done
    fi
    return 0
}

complete -F _skiff skiff
"""

_ZSH_MAIN = r"""
_skiff() {
    emulate -L zsh
    setopt ksharrays shwordsplit
    local cword=$((CURRENT - 1)) cur="${words[CURRENT - 1]}" candidates
    local __skiff_path __skiff_want
    local -a __skiff_cmd
    __skiff_context
    candidates="$(__skiff_candidates)"
    if [[ $candidates == FILES ]]; then
        _files
        return
    fi
    compadd -- ${(f)candidates}
}

if [[ $funcstack[1] == _skiff ]]; then
    _skiff "$@"
else
    compdef _skiff skiff
fi
"""


def bash_script(registry: Registry) -> str:
    header = (
        "# bash completion for skiff (generated by `skiff completion bash`; generate it\n"
        "# again after an upgrade). In this shell: source <(skiff completion bash)\n"
        "# For every session: skiff completion bash > /etc/bash_completion.d/skiff\n"
    )
    return header + _data_functions(registry, specs(registry)) + _WALK + _BASH_MAIN


def zsh_script(registry: Registry) -> str:
    header = (
        "#compdef skiff\n"
        "# zsh completion for skiff (generated by `skiff completion zsh`; generate it\n"
        "# again after an upgrade). In this shell: source <(skiff completion zsh)\n"
        '# For every session: skiff completion zsh > "${fpath[1]}/_skiff"\n'
    )
    return header + _data_functions(registry, specs(registry)) + _WALK + _ZSH_MAIN


# --- fish -------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fish_switch(entries: list[tuple[list[str], str]]) -> str:
    lines = ["    switch $argv[1]"]
    for patterns, words in entries:
        if words:
            lines.append("        case " + " ".join(_fish_quote(p) for p in patterns))
            lines.append(f"            echo {_fish_quote(words)}")
    lines.append("    end")
    return "\n".join(lines)


_FISH_WALK = r"""
# Three lines: "=" and the command on the line ("" or a group when incomplete); what to
# complete next (value: a flag's value, or an argument kind); skiff with the --root and
# --runroot given.
function __skiff_context
    set -l words (commandline -opc)
    set -l cmd $words[1]
    set -e words[1]
    set -l path ''
    set -l group ''
    set -l value 0
    set -l ended 0
    set -l nargs 0
    for word in $words
        if test $value = 1
            set value 0
            test -z "$path"; and set -a cmd $word
            continue
        end
        if test -z "$path"; or test "$path" = "$group"
            switch $word
                case '--root=*' '--runroot=*'
                    test -z "$group"; and set -a cmd $word
                case '-*'
                    set -l takes (string split ' ' -- $__skiff_global_value_flags)
                    if test -z "$group"; and contains -- $word $takes
                        set -a cmd $word
                        set value 1
                    end
                case '*'
                    if test -n "$group"
                        set path "$group $word"
                    else
                        set path $word
                        set -l subcommands (__skiff_subcommands $word)
                        test -n "$subcommands"; and set group $word
                    end
            end
            continue
        end
        if test $ended = 1; or not string match -qr -- '^-.' $word
            set nargs (math $nargs + 1)
            set -l flags_end (__skiff_flags_end_at_arg $path)
            test -n "$flags_end"; and set ended 1
            continue
        end
        set -l takes (string split ' ' -- (__skiff_value_flags $path))
        if test "$word" = --
            set ended 1
        else if not string match -q -- '*=*' $word; and contains -- $word $takes
            set value 1
        else if not string match -q -- '--*' $word; and not string match -q -- '*=*' $word
            # -it... ending in a flag that takes the next word as its value
            contains -- -(string sub -s -1 -- $word) $takes; and set value 1
        end
    end
    set -l want -
    if test $value = 1
        set want value
    else if test -n "$path"; and test "$path" != "$group"
        set -l kinds (string split ' ' -- (__skiff_arg_kinds $path))
        set -l count (count $kinds)
        if test $nargs -lt $count
            set want (string replace '+' '' -- $kinds[(math $nargs + 1)])
        else if test $count -gt 0; and string match -q -- '*+' $kinds[-1]
            set want (string replace '+' '' -- $kinds[-1])
        end
        # after "--" or the first argument of run: no more skiff flags
        test $ended = 1; and set path "$path --"
    end
    echo "=$path"
    echo $want
    string join ' ' -- $cmd
end

function __skiff_path_is
    set -l context (__skiff_context)
    test "$context[1]" = "=$argv[1]"
end

function __skiff_wants
    set -l context (__skiff_context)
    contains -- $context[2] $argv
end

function __skiff_names
    set -l context (__skiff_context)
    set -l cmd (string split ' ' -- $context[3])
    switch $argv[1]
        case container
            $cmd ps -a --format '{{.Names}}' 2>/dev/null
        case image
            $cmd images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | string match -v '*<none>*'
        case volume
            $cmd volume ls -q 2>/dev/null
    end
end

complete -c skiff -f
complete -c skiff -n '__skiff_wants value file' -F
for kind in container image volume
    complete -c skiff -n "__skiff_wants $kind any" -a "(__skiff_names $kind)"
end
"""


def fish_script(registry: Registry) -> str:
    found = specs(registry)
    positional = [(s.paths, "1") for s in found if not s.interspersed]
    lines = [
        "# fish completion for skiff (generated by `skiff completion fish`; generate it",
        "# again after an upgrade). In this shell: skiff completion fish | source",
        "# For every session: skiff completion fish > ~/.config/fish/completions/skiff.fish",
        "",
        "set -g __skiff_global_value_flags "
        + _fish_quote(
            " ".join(name for flag in GLOBAL_FLAGS if flag.kind != "bool" for name in flag.names)
        ),
        "",
        "function __skiff_subcommands",
        _fish_switch(
            [([name], " ".join(sorted(g.commands))) for name, g in registry.groups.items()]
        ),
        "end",
        "",
        "function __skiff_value_flags",
        _fish_switch([(s.paths, " ".join(s.value_flags)) for s in found]),
        "end",
        "",
        "function __skiff_arg_kinds",
        _fish_switch([(s.paths, " ".join(s.kinds) + ("+" if s.repeat else "")) for s in found]),
        "end",
        "",
        "function __skiff_flags_end_at_arg",
        _fish_switch(positional),
        "end",
        _FISH_WALK,
    ]
    for flag in GLOBAL_FLAGS:
        lines.append(_fish_flag("__skiff_path_is ''", flag.names, flag.kind != "bool", flag.help))
    top: dict[str, Command | Group] = {**registry.commands, **registry.groups}
    for name in sorted(top):
        lines.append(
            f"complete -c skiff -n \"__skiff_path_is ''\" -a {_fish_quote(name)}"
            f" -d {_fish_quote(top[name].summary)}"
        )
    for group_name, group in sorted(registry.groups.items()):
        for name, command in sorted(group.commands.items()):
            lines.append(
                f"complete -c skiff -n {_fish_quote('__skiff_path_is ' + group_name)}"
                f" -a {_fish_quote(name)} -d {_fish_quote(command.summary)}"
            )
    for spec in found:
        for path in spec.paths:
            condition = "__skiff_path_is " + _fish_quote(path)
            for names, takes, help_text in spec.flags:
                lines.append(_fish_flag(condition, names, takes, help_text))
    return "\n".join(lines) + "\n"


def _fish_flag(condition: str, names: tuple[str, ...], takes: bool, help_text: str) -> str:
    parts = [f"complete -c skiff -n {_fish_quote(condition)}"]
    for name in names:
        if name.startswith("--"):
            parts.append(f"-l {name[2:]}")
        else:
            parts.append(f"-s {name[1:]}")
    if takes:
        parts.append("-r")
    summary = help_text.split("\n")[0]
    if summary:
        parts.append(f"-d {_fish_quote(summary)}")
    return " ".join(parts)


# --- the commands -----------------------------------------------------------------------


def _no_flags(parser: Parser) -> None:
    del parser


def register(registry: Registry) -> None:
    """``completion bash|zsh|fish``; each prints its script for every command there is (a
    command line loads only its own command's module: these load them all)."""
    generators = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}

    def runner(shell: str) -> Callable[[Invocation, Options], int]:
        def run(inv: Invocation, opts: Options) -> int:
            from skiff.cli.main import _load_commands

            sys.stdout.write(generators[shell](_load_commands()))
            return 0

        return run

    registry.group("completion", "Generate the autocompletion script for the specified shell")
    for shell in SHELLS:
        summary = f"Generate the autocompletion script for {shell}"
        registry.add(Command(f"completion {shell}", summary, "", _no_flags, runner(shell)))
