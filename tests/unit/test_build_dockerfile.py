"""skiff.build.dockerfile against moby/buildkit's Dockerfile parser.

Expectations follow buildkit's ``frontend/dockerfile/parser`` (line splitting, directives,
heredocs) and the argument checks of ``frontend/dockerfile/instructions/parse.go``, with
error messages prefixed as dockerd 20.10 prints them ("dockerfile parse error line N: ").
"""

from __future__ import annotations

import pytest

from skiff.build.dockerfile import DockerfileError, Heredoc, Instruction, parse
from skiff.errors import InvalidArgument


def instructions(text: str) -> list[Instruction]:
    return parse(text).instructions


def last(text: str) -> Instruction:
    """The last instruction of ``FROM scratch`` followed by ``text``."""
    return instructions("FROM scratch\n" + text)[-1]


def error(text: str) -> str:
    with pytest.raises(DockerfileError) as caught:
        parse(text)
    return str(caught.value)


# ------------------------------------------------------------------------- directives


def test_syntax_directive_is_kept_and_escape_defaults_to_backslash() -> None:
    dockerfile = parse("# syntax=docker/dockerfile:1.4\nFROM scratch\n")
    assert dockerfile.syntax == "docker/dockerfile:1.4"
    assert dockerfile.escape == "\\"


def test_no_syntax_directive() -> None:
    assert parse("FROM scratch\n").syntax is None


def test_directive_keys_are_case_insensitive_and_blanks_are_allowed() -> None:
    dockerfile = parse("#  ESCAPE =  `  \n# Syntax=x/y\nFROM scratch\n")
    assert (dockerfile.escape, dockerfile.syntax) == ("`", "x/y")


def test_backtick_escape_continues_lines() -> None:
    dockerfile = parse("# escape=`\nFROM scratch\nRUN dir c:\\ `\n    && echo done\n")
    run_instruction = dockerfile.instructions[1]
    assert run_instruction.args == ["dir c:\\     && echo done"]
    assert (run_instruction.line, run_instruction.end_line) == (3, 4)


def test_backtick_escape_keeps_windows_paths_ending_in_backslash() -> None:
    dockerfile = parse(
        "# escape=`\nFROM mcr.microsoft.com/windows\nCOPY testfile.txt c:\\\nWORKDIR c:\\app\n"
    )
    copy, workdir = dockerfile.instructions[1:]
    assert copy.args == ["testfile.txt", "c:\\"]
    assert (copy.line, copy.end_line) == (3, 3)
    assert workdir.args == ["c:\\app"]


def test_backslash_continues_a_windows_path_without_the_escape_directive() -> None:
    found = instructions("FROM windows\nCOPY testfile.txt c:\\\nRUN dir c:\n")
    assert [i.keyword for i in found] == ["FROM", "COPY"]
    assert found[1].args == ["testfile.txt", "c:RUN", "dir", "c:"]


def test_invalid_escape_token() -> None:
    assert error("# escape=x\nFROM scratch\n") == (
        "dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"
    )


@pytest.mark.parametrize("key", ["escape", "syntax", "check"])
def test_repeated_directive(key: str) -> None:
    value = "`" if key == "escape" else "x"
    text = f"# {key}={value}\n# {key.upper()}={value}\nFROM scratch\n"
    assert error(text) == (
        f"dockerfile parse error line 2: only one {key} parser directive can be used"
    )


def test_directive_after_a_comment_is_a_comment() -> None:
    dockerfile = parse("# hello\n# escape=`\nFROM scratch\nRUN a \\\n b\n")
    assert dockerfile.escape == "\\"
    assert dockerfile.instructions[1].args == ["a  b"]


def test_directive_after_a_blank_line_is_a_comment() -> None:
    assert parse("\n# escape=`\nFROM scratch\n").escape == "\\"


def test_directive_after_an_instruction_is_a_comment() -> None:
    dockerfile = parse("FROM scratch\n# escape=`\n# syntax=x\n")
    assert (dockerfile.escape, dockerfile.syntax) == ("\\", None)


def test_unknown_directive_ends_the_directives() -> None:
    assert parse("# foo=bar\n# escape=`\nFROM scratch\n").escape == "\\"


def test_check_directive_is_accepted_and_ignored() -> None:
    dockerfile = parse("# check=skip=all\n# escape=`\nFROM scratch\n")
    assert (dockerfile.escape, dockerfile.syntax) == ("`", None)


def test_byte_order_mark_is_dropped() -> None:
    dockerfile = parse("\ufeff# escape=`\nFROM scratch\n")
    assert dockerfile.escape == "`"
    assert dockerfile.instructions[0].original == "FROM scratch"


# ------------------------------------------------------- comments, blanks and lines


def test_comments_and_blank_lines_are_skipped_with_line_numbers_kept() -> None:
    found = instructions("# top\n\nFROM scratch\n   # indented\n\n  RUN a\n")
    assert [(i.keyword, i.line, i.end_line) for i in found] == [("FROM", 3, 3), ("RUN", 6, 6)]
    assert found[1].original == "RUN a"


def test_comment_lines_inside_a_continuation_are_dropped() -> None:
    run = instructions("FROM scratch\nRUN echo a \\\n# one\n    # two\n  && echo b\n")[1]
    assert run.args == ["echo a   && echo b"]
    assert run.original == "RUN echo a   && echo b"
    assert (run.line, run.end_line) == (2, 5)


def test_hash_inside_an_instruction_is_not_a_comment() -> None:
    assert last("RUN echo # not a comment").args == ["echo # not a comment"]


def test_empty_continuation_lines_warn() -> None:
    dockerfile = parse("FROM scratch\nRUN a \\\n\n   \n  b\n")
    assert dockerfile.instructions[1].args == ["a   b"]
    assert dockerfile.instructions[1].end_line == 5
    assert dockerfile.warnings == [
        "[WARNING]: Empty continuation line found in:\n    RUN a   b",
        "[WARNING]: Empty continuation lines will become errors in a future release.",
    ]


def test_no_warnings_without_empty_continuation_lines() -> None:
    assert parse("FROM scratch\nRUN a \\\n  b\n").warnings == []


def test_blanks_after_the_continuation_token_are_allowed() -> None:
    assert last("RUN a \\ \t\n  b").args == ["a   b"]


def test_escaped_escape_token_does_not_continue() -> None:
    found = instructions("FROM scratch\nRUN echo foo\\\\\nUSER x\n")
    assert [i.args for i in found[1:]] == [["echo foo\\\\"], ["x"]]


def test_continuation_at_end_of_file() -> None:
    run = instructions("FROM scratch\nRUN a \\")[1]
    assert (run.args, run.line, run.end_line) == (["a"], 2, 2)


def test_crlf_line_endings() -> None:
    run = instructions("FROM scratch\r\nRUN a \\\r\n  b\r\n")[1]
    assert run.args == ["a   b"]
    assert run.original == "RUN a   b"


def test_original_is_stripped() -> None:
    assert last("   RUN   echo hi   ").original == "RUN   echo hi"


def test_file_with_no_instructions() -> None:
    assert error("# just a comment\n\n") == "file with no instructions"


def test_errors_are_invalid_arguments_with_the_line() -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse("FROM scratch\n\nBOGUS x\n")
    assert isinstance(caught.value, DockerfileError)
    assert caught.value.line == 3


# ---------------------------------------------------------------------------- keywords


def test_keywords_are_case_insensitive() -> None:
    found = instructions("from scratch\nRun echo\ncopy a b\n")
    assert [i.keyword for i in found] == ["FROM", "RUN", "COPY"]
    assert found[1].original == "Run echo"


def test_unknown_instruction_is_reported_upper_case() -> None:
    assert error("FROM scratch\n\nfoo bar\n") == (
        "dockerfile parse error line 3: unknown instruction: FOO"
    )


def test_unknown_instruction_line_is_its_first_line() -> None:
    assert error("FROM scratch\nRUN a \\\n  b\nCOPYY a b\n") == (
        "dockerfile parse error line 4: unknown instruction: COPYY"
    )


def test_line_errors_come_before_instruction_errors() -> None:
    # buildkit splits every line before it checks any instruction
    assert error("FROM scratch\nBOGUS\nENV x\n") == (
        "dockerfile parse error line 3: ENV must have two arguments"
    )


# ------------------------------------------------------------------------------- flags


def test_leading_flags_are_extracted() -> None:
    copy = last("COPY --from=build --chown=1:2 --link /src /dst")
    assert copy.flags == ["--from=build", "--chown=1:2", "--link"]
    assert copy.args == ["/src", "/dst"]
    assert copy.original == "COPY --from=build --chown=1:2 --link /src /dst"


def test_flags_stop_at_the_first_other_word() -> None:
    run = last("RUN echo --not-a-flag -x")
    assert (run.flags, run.args) == ([], ["echo --not-a-flag -x"])


def test_double_dash_ends_the_flags() -> None:
    run = last("RUN --network=none -- --literal")
    assert (run.flags, run.args) == (["--network=none"], ["--literal"])


def test_single_dash_is_no_flag() -> None:
    assert last("RUN -x").flags == []


def test_flag_quotes_and_backslashes_are_resolved() -> None:
    copy = last('COPY --chown="a b" --chmod=7\\55 x y')
    assert copy.flags == ["--chown=a b", "--chmod=755"]
    assert copy.args == ["x", "y"]


# ---------------------------------------------------------------------------- ENV, LABEL


def test_env_pairs_keep_quotes_and_escapes() -> None:
    env = last("ENV A=1 B=\"two words\" C=x\\ y D='$HOME' E=")
    assert env.args == ["A", "1", "B", '"two words"', "C", "x\\ y", "D", "'$HOME'", "E", ""]
    assert env.json is False


def test_env_escape_token_escapes_nothing_in_single_quotes() -> None:
    assert last('ENV a=\'c:\\\' b="\\" c"').args == ["a", "'c:\\'", "b", '"\\" c"']


def test_env_legacy_form_takes_the_rest_as_the_value() -> None:
    assert last("ENV PATH  /usr/bin:/bin  and more").args == ["PATH", "/usr/bin:/bin  and more"]


def test_env_words_use_the_escape_directive() -> None:
    env = parse('# escape=`\nFROM scratch\nENV a=b` c d="e`"f"\n').instructions[1]
    assert env.args == ["a", "b` c", "d", '"e`"f"']


def test_env_pair_without_equals() -> None:
    assert error("FROM scratch\nENV a=1 b\n") == (
        'dockerfile parse error line 2: Syntax error - can\'t find = in "b". '
        "Must be of the form: name=value"
    )


def test_env_pair_error_quotes_the_word_as_go_does() -> None:
    assert error('FROM scratch\nLABEL a=1 "x\\"y"\n') == (
        "dockerfile parse error line 2: Syntax error - can't find = in "
        '"\\"x\\\\\\"y\\"". Must be of the form: name=value'
    )


@pytest.mark.parametrize("keyword", ["ENV", "LABEL"])
def test_name_value_needs_two_arguments(keyword: str) -> None:
    assert error(f"FROM scratch\n{keyword} lonely\n") == (
        f"dockerfile parse error line 2: {keyword} must have two arguments"
    )


@pytest.mark.parametrize("keyword", ["ENV", "LABEL"])
def test_name_value_needs_an_argument(keyword: str) -> None:
    assert error(f"FROM scratch\n{keyword}\n") == (
        f"dockerfile parse error line 2: {keyword} requires at least one argument"
    )


@pytest.mark.parametrize("keyword", ["ENV", "LABEL"])
def test_name_value_blank_name(keyword: str) -> None:
    assert error(f"FROM scratch\n{keyword} a=1 =2\n") == (
        f"dockerfile parse error line 2: {keyword} names can not be blank"
    )


def test_label_quoted_keys() -> None:
    label = last('LABEL "com.example.vendor"="ACME Inc" version=1.0')
    assert label.args == ['"com.example.vendor"', '"ACME Inc"', "version", "1.0"]


# --------------------------------------------------------------------------------- ARG


def test_arg_names_and_pairs() -> None:
    assert last('ARG a b=2 c="x y"').args == ["a", "b=2", 'c="x y"']


def test_arg_needs_an_argument() -> None:
    assert error("ARG\n") == "dockerfile parse error line 1: ARG requires at least one argument"


def test_arg_blank_name() -> None:
    assert error("ARG a =1\n") == "dockerfile parse error line 1: ARG names can not be blank"


# ---------------------------------------------------------------- whitespace-split words


def test_from_words_and_flags() -> None:
    from_ = instructions("FROM --platform=linux/amd64 alpine:3.20  AS\tbuild\n")[0]
    assert from_.flags == ["--platform=linux/amd64"]
    assert from_.args == ["alpine:3.20", "AS", "build"]


@pytest.mark.parametrize("text", ["FROM\n", "FROM a b\n", "FROM a as b c\n"])
def test_from_argument_count(text: str) -> None:
    assert error(text) == (
        "dockerfile parse error line 1: FROM requires either one or three arguments"
    )


def test_from_stage_name() -> None:
    assert error("FROM a AS 1st\n") == (
        'dockerfile parse error line 1: invalid name for build stage: "1st", '
        "name can't start with a number or contain symbols"
    )


def test_from_stage_name_may_be_upper_case() -> None:
    assert instructions("FROM a as Build.1\n")[0].args == ["a", "as", "Build.1"]


def test_expose_words() -> None:
    assert last("EXPOSE 80/tcp  443 \t 53/udp").args == ["80/tcp", "443", "53/udp"]


def test_expose_needs_an_argument() -> None:
    assert error("FROM scratch\nEXPOSE\n") == (
        "dockerfile parse error line 2: EXPOSE requires at least one argument"
    )


@pytest.mark.parametrize("keyword", ["USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"])
def test_single_string_instructions_keep_the_rest_whole(keyword: str) -> None:
    assert last(f'{keyword} a  b "c"').args == ['a  b "c"']


@pytest.mark.parametrize("keyword", ["USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER"])
def test_single_string_instructions_need_their_argument(keyword: str) -> None:
    assert error(f"FROM scratch\n{keyword}\n") == (
        f"dockerfile parse error line 2: {keyword} requires exactly one argument"
    )


# ------------------------------------------------------------------- ADD, COPY, VOLUME


def test_copy_json_form() -> None:
    copy = last('COPY ["a b", "c", "/d e/"]')
    assert (copy.args, copy.json) == (["a b", "c", "/d e/"], True)


def test_add_shell_form_splits_on_blanks() -> None:
    add = last("ADD  http://x/a.tgz \t /opt/")
    assert (add.args, add.json) == (["http://x/a.tgz", "/opt/"], False)


@pytest.mark.parametrize("keyword", ["ADD", "COPY"])
def test_sources_need_a_destination(keyword: str) -> None:
    assert error(f"FROM scratch\n{keyword} only\n") == (
        f"dockerfile parse error line 2: {keyword} requires at least two arguments, "
        "but only one was provided. Destination could not be determined."
    )


def test_volume_forms() -> None:
    assert last('VOLUME ["/a", "/b c"]').args == ["/a", "/b c"]
    assert last("VOLUME /a /b").args == ["/a", "/b"]


def test_volume_empty_string() -> None:
    assert error('FROM scratch\nVOLUME ["/a", " "]\n') == (
        "dockerfile parse error line 2: VOLUME specified can not be an empty string"
    )


def test_volume_needs_an_argument() -> None:
    assert error("FROM scratch\nVOLUME\n") == (
        "dockerfile parse error line 2: VOLUME requires at least one argument"
    )


# ---------------------------------------------------- RUN, CMD, ENTRYPOINT and SHELL


def test_shell_form_is_one_string() -> None:
    run = last("RUN  apt-get update &&   apt-get install -y x  ")
    assert (run.args, run.json) == (["apt-get update &&   apt-get install -y x"], False)


@pytest.mark.parametrize("keyword", ["RUN", "CMD", "ENTRYPOINT"])
def test_exec_form(keyword: str) -> None:
    instruction = last(f'{keyword} [ "sh", "-c", "echo \\"hi\\" \\u00e9" ]')
    assert (instruction.args, instruction.json) == (["sh", "-c", 'echo "hi" é'], True)


def test_empty_exec_form() -> None:
    cmd = last("CMD []")
    assert (cmd.args, cmd.json) == ([], True)


@pytest.mark.parametrize(
    "rest", ["[bad", "['single']", '["a"] trailing', '["a",]', "[NaN]", "echo [x]"]
)
def test_anything_but_a_json_array_is_shell_form(rest: str) -> None:
    cmd = last(f"CMD {rest}")
    assert (cmd.args, cmd.json) == ([rest], False)


def test_json_array_of_non_strings() -> None:
    assert error('FROM scratch\nCMD ["a", 1]\n') == (
        "dockerfile parse error line 2: "
        "when using JSON array syntax, arrays must be comprised of strings only"
    )


def test_run_without_arguments_is_accepted() -> None:
    run = last("RUN")
    assert (run.keyword, run.args) == ("RUN", [])


def test_shell_needs_json() -> None:
    assert last('SHELL ["powershell", "-command"]').args == ["powershell", "-command"]
    assert error("FROM scratch\nSHELL powershell -command\n") == (
        "dockerfile parse error line 2: SHELL requires the arguments to be in JSON form"
    )


def test_shell_needs_an_argument() -> None:
    assert error("FROM scratch\nSHELL []\n") == (
        "dockerfile parse error line 2: SHELL requires at least one argument"
    )


# -------------------------------------------------------------------------- HEALTHCHECK


def test_healthcheck_none() -> None:
    assert last("HEALTHCHECK none").args == ["NONE"]


def test_healthcheck_shell_command_with_flags() -> None:
    check = last("HEALTHCHECK --interval=5s --retries=3 cmd  curl -f http://localhost/ ")
    assert check.flags == ["--interval=5s", "--retries=3"]
    assert (check.args, check.json) == (["CMD", "curl -f http://localhost/"], False)


def test_healthcheck_exec_command() -> None:
    check = last('HEALTHCHECK CMD ["curl", "-f", "x"]')
    assert (check.args, check.json) == (["CMD", "curl", "-f", "x"], True)


@pytest.mark.parametrize(
    ("rest", "message"),
    [
        ("", "HEALTHCHECK requires at least one argument"),
        (" NONE now", "HEALTHCHECK NONE takes no arguments"),
        (" CMD", "Missing command after HEALTHCHECK CMD"),
        (" CMD []", "Missing command after HEALTHCHECK CMD"),
        (" foo bar", 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ],
)
def test_healthcheck_errors(rest: str, message: str) -> None:
    assert error(f"FROM scratch\nHEALTHCHECK{rest}\n") == (
        f"dockerfile parse error line 2: {message}"
    )


# ------------------------------------------------------------------------------ ONBUILD


def test_onbuild_parses_its_trigger() -> None:
    onbuild = last("ONBUILD  RUN echo hi")
    assert (onbuild.keyword, onbuild.args, onbuild.heredocs) == ("ONBUILD", ["RUN echo hi"], [])
    assert onbuild.original == "ONBUILD  RUN echo hi"
    trigger = onbuild.next
    assert trigger is not None
    assert (trigger.keyword, trigger.args, trigger.original) == ("RUN", ["echo hi"], "RUN echo hi")
    assert (trigger.line, trigger.end_line, trigger.next) == (2, 2, None)


def test_onbuild_trigger_keeps_its_flags_and_json() -> None:
    onbuild = last('onbuild COPY --from=x ["a", "b"]')
    assert onbuild.args == ['COPY --from=x ["a", "b"]']
    assert onbuild.next is not None
    assert (onbuild.next.flags, onbuild.next.args, onbuild.next.json) == (
        ["--from=x"],
        ["a", "b"],
        True,
    )


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("from alpine", "FROM isn't allowed as an ONBUILD trigger"),
        ("MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ],
)
def test_onbuild_refused_triggers(trigger: str, message: str) -> None:
    assert error(f"FROM scratch\nONBUILD {trigger}\n") == (
        f"dockerfile parse error line 2: {message}"
    )


def test_onbuild_needs_a_trigger() -> None:
    assert error("FROM scratch\nONBUILD\n") == (
        "dockerfile parse error line 2: ONBUILD requires at least one argument"
    )


def test_onbuild_trigger_line_errors_are_reported() -> None:
    assert error("FROM scratch\nONBUILD ENV x\n") == (
        "dockerfile parse error line 2: ENV must have two arguments"
    )


def test_onbuild_unknown_trigger_waits_until_it_triggers() -> None:
    onbuild = last("ONBUILD BOGUS x")
    assert onbuild.next is not None
    assert onbuild.next.keyword == "BOGUS"


def test_onbuild_heredoc_goes_into_the_trigger() -> None:
    onbuild = instructions("FROM scratch\nONBUILD RUN <<EOF\n\techo hi\nEOF\nUSER x\n")[1]
    assert onbuild.args == ["RUN <<EOF\n\techo hi\nEOF"]
    assert (onbuild.line, onbuild.end_line) == (2, 4)
    assert onbuild.next is not None
    assert onbuild.next.heredocs == [Heredoc("EOF", "\techo hi\n", expand=True, chomp=False)]


# ----------------------------------------------------------------------------- heredocs


def test_run_heredoc() -> None:
    found = instructions("FROM scratch\nRUN <<EOF\n# kept\necho $HOME\n\nEOF\nUSER x\n")
    run = found[1]
    assert run.args == ["<<EOF"]
    assert run.original == "RUN <<EOF"
    assert run.heredocs == [Heredoc("EOF", "# kept\necho $HOME\n\n", expand=True, chomp=False)]
    assert (run.line, run.end_line) == (2, 6)
    assert (found[2].keyword, found[2].line) == ("USER", 7)


def test_heredoc_with_a_command_after_it() -> None:
    run = last("RUN --mount=type=cache,target=/c <<EOT python3\nprint(1)\nEOT")
    assert run.flags == ["--mount=type=cache,target=/c"]
    assert run.args == ["<<EOT python3"]
    assert run.heredocs == [Heredoc("EOT", "print(1)\n", expand=True, chomp=False)]


@pytest.mark.parametrize(
    ("opener", "name", "expand"),
    [
        ("<<'EOF'", "EOF", False),
        ('<<"EOF"', "EOF", False),
        ("<<E'O'F", "EOF", False),
        ("<<eo\\'f", "eo'f", True),
        ("<<'e'o\\'f", "eo'f", False),
        ("<<  EOF", "EOF", True),
        ("3<<EOF", "EOF", True),
        ("<<$EOF", "$EOF", True),
        ("<<'one two'", "one two", False),
    ],
)
def test_heredoc_delimiters(opener: str, name: str, expand: bool) -> None:
    run = last(f"RUN {opener}\nbody\n{name}")
    assert run.heredocs == [Heredoc(name, "body\n", expand=expand, chomp=False)]


def test_chomped_heredoc_strips_leading_tabs() -> None:
    run = last("RUN <<-EOF\n\t\techo a\n  \tb\n\tEOF")
    assert run.heredocs == [Heredoc("EOF", "echo a\n  \tb\n", expand=True, chomp=True)]


def test_tabbed_delimiter_ends_only_a_chomped_heredoc() -> None:
    assert error("FROM scratch\nRUN <<EOF\n\tEOF\n") == (
        "dockerfile parse error line 2: unterminated heredoc"
    )


def test_several_heredocs_are_read_in_order() -> None:
    copy = last("COPY <<X <<Y /dest/\nY\nX\nX\nY")
    assert copy.args == ["<<X", "<<Y", "/dest/"]
    assert copy.heredocs == [
        Heredoc("X", "Y\n", expand=True, chomp=False),
        Heredoc("Y", "X\n", expand=True, chomp=False),
    ]
    assert copy.end_line == 6


def test_add_heredoc() -> None:
    add = last("ADD <<data.txt /data.txt\nhello\ndata.txt")
    assert add.heredocs == [Heredoc("data.txt", "hello\n", expand=True, chomp=False)]


def test_heredoc_after_a_continuation() -> None:
    run = last("RUN cat \\\n  <<EOF\nhi\nEOF")
    assert run.args == ["cat   <<EOF"]
    assert run.heredocs == [Heredoc("EOF", "hi\n", expand=True, chomp=False)]
    assert (run.line, run.end_line) == (2, 5)


def test_heredoc_keeps_crlf_in_its_body() -> None:
    run = instructions("FROM scratch\r\nRUN <<EOF\r\nhi\r\nEOF\r\n")[1]
    assert run.heredocs == [Heredoc("EOF", "hi\r\n", expand=True, chomp=False)]


@pytest.mark.parametrize(
    "text",
    ['RUN ["<<EOF"]', 'RUN echo "<<EOF"', "RUN echo '<<EOF'", "RUN cat <<<EOF", "RUN a<<EOF"],
)
def test_no_heredoc(text: str) -> None:
    found = instructions(f"FROM scratch\n{text}\nUSER x\n")
    assert [i.heredocs for i in found] == [[], [], []]
    assert found[2].line == 3


def test_heredocs_only_in_run_copy_and_add() -> None:
    assert error("FROM scratch\nCMD <<EOF\nEOF\n") == (
        "dockerfile parse error line 3: unknown instruction: EOF"
    )


def test_unterminated_heredoc() -> None:
    assert error("FROM scratch\nRUN <<EOF\necho hi\n") == (
        "dockerfile parse error line 2: unterminated heredoc"
    )


def test_heredoc_destination() -> None:
    assert error("FROM scratch\nCOPY <<A <<B\na\nA\nb\nB\n") == (
        "dockerfile parse error line 2: COPY cannot accept a heredoc as a destination"
    )
