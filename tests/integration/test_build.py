"""``skiff build`` with the real CLI, real containers for RUN and real snapshots for COPY:
what each instruction leaves in the image (config, files, history), the build's flags,
contexts and cache, and what a failed build leaves (nothing)."""

from __future__ import annotations

import functools
import http.server
import io
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.build import (
    DEFAULT_PATH,
    ID,
    SHORT_ID,
    built,
    failed,
    history,
    leftovers,
    repo_tags,
    run,
    sh,
    steps,
    tar_bytes,
    write_context,
)
from tests.support.cli import Skiff
from tests.support.registry import Registry

NOP = "/bin/sh -c #(nop)  "


@pytest.fixture
def http_files(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on 127.0.0.1 (only loopback); it and its base URL."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --- metadata instructions ---------------------------------------------------------------

METADATA = """\
FROM busybox
MAINTAINER Jane Doe <jane@example.com>
ENV A=1 B="two words" C=$A
ENV A=3 D=${A}
ENV LEGACY one two
LABEL org.a=1 "org.b"="x y" org.c=$B
EXPOSE 80 53/udp 8000-8002
VOLUME ["/data", "/logs"]
VOLUME /v1 /v2
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --timeout=3s --start-period=1m30s --retries=4 \\
  CMD test -e /etc/passwd || exit 1
USER nobody
RUN id -u
CMD echo "$B|$D|$LEGACY" && id -u
"""


def test_metadata_instructions_make_the_image_config(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": METADATA})
    out = built(skiff, "-t", "meta", str(ctx))
    run_step = steps(out)[12]
    assert run_step.startswith("Step 13/14 : RUN id -u\n")
    assert "\n65534\n" in run_step  # the RUN ran as USER nobody

    image = skiff.inspect("meta")
    assert image["Author"] == "Jane Doe <jane@example.com>"
    config = image["Config"]
    # Every ENV pair sees the values from before the instruction: C finds no A yet, D
    # finds A's old value.
    assert config["Env"] == [DEFAULT_PATH, "A=3", "B=two words", "C=", "D=1", "LEGACY=one two"]
    assert config["Labels"] == {"org.a": "1", "org.b": "x y", "org.c": "two words"}
    ports = ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
    assert config["ExposedPorts"] == {p: {} for p in ports}
    assert config["Volumes"] == {"/data": {}, "/logs": {}, "/v1": {}, "/v2": {}}
    assert config["StopSignal"] == "SIGUSR1"
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "test -e /etc/passwd || exit 1"],
        "Interval": 5_000_000_000,
        "Timeout": 3_000_000_000,
        "StartPeriod": 90_000_000_000,
        "Retries": 4,
    }
    assert config["User"] == "nobody"
    assert config["Cmd"] == ["/bin/sh", "-c", 'echo "$B|$D|$LEGACY" && id -u']
    assert config["Entrypoint"] is None
    assert skiff.ok("run", "--rm", "meta") == "two words|1|one two\n65534\n"

    lines = history(skiff, "meta")
    assert len(lines) == 14  # the base image's entry and one per instruction but FROM
    assert lines[0] == NOP + 'CMD ["/bin/sh" "-c" "echo \\"$B|$D|$LEGACY\\" && id -u"]'
    assert lines[1] == "/bin/sh -c id -u"
    assert lines[2] == NOP + "USER nobody"
    assert lines[3] == NOP + (
        """HEALTHCHECK &{["CMD-SHELL" "test -e /etc/passwd || exit 1"] "5s" "3s" "1m30s" '\\x04'}"""
    )
    assert lines[4] == NOP + "STOPSIGNAL SIGUSR1"
    assert lines[5] == NOP + "VOLUME [/v1 /v2]"
    assert lines[6] == NOP + "VOLUME [/data /logs]"
    assert lines[7] == NOP + "EXPOSE 53/udp 80 8000-8002"  # the words, sorted
    assert lines[9] == NOP + "ENV LEGACY=one two"
    assert lines[10] == NOP + "ENV A=3 D=1"
    assert lines[12] == NOP + "MAINTAINER Jane Doe <jane@example.com>"


def test_healthcheck_none_and_maintainer_in_a_child_image(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "parent.df": (
                "FROM busybox\nMAINTAINER Jane Doe\nHEALTHCHECK --retries=2 CMD true\nUSER nobody\n"
            ),
            "child.df": "FROM parent\nHEALTHCHECK NONE\n",
            "other.df": "FROM parent\nMAINTAINER Someone Else\nLABEL a=b\n",
        },
    )
    for name in ("parent", "child", "other"):
        built(skiff, "-t", name, "-f", str(ctx / f"{name}.df"), str(ctx))
    parent = skiff.inspect("parent")
    assert parent["Author"] == "Jane Doe"
    assert parent["Config"]["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Retries": 2}
    child = skiff.inspect("child")
    # HEALTHCHECK NONE turns the inherited check off; as with dockerd 20.10, the zero
    # retries of NONE are the previous check's (see tests/interop/test_build_oracle.py).
    assert child["Config"]["Healthcheck"] == {"Test": ["NONE"], "Retries": 2}
    assert child["Config"]["User"] == "nobody"
    # Go's %q of dockerd 20.10's HealthConfig: test, interval, timeout, start period, retries.
    assert history(skiff, "child")[0] == NOP + """HEALTHCHECK &{["NONE"] "0s" "0s" "0s" '\\x00'}"""
    # MAINTAINER is the author of the images of its own stage only.
    assert skiff.inspect("other")["Author"] == "Someone Else"
    assert child["Author"] == ""


def test_run_shell_exec_and_heredoc_forms(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = """\
FROM busybox
RUN echo shell-form > /shell && echo "to the log"
RUN ["/bin/sh", "-c", "echo exec-form > /exec"]
RUN ["echo", "$HOME is not expanded"]
RUN <<EOF
echo heredoc line one > /heredoc
echo heredoc line two >> /heredoc
EOF
RUN sh <<EOF
echo via sh > /heredoc-sh
EOF
ARG A=b
RUN echo "A=$A" > /arg && env > /run-env
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    out = built(skiff, "-t", "runs", str(ctx))
    assert "\nto the log\n" in out
    assert "\n$HOME is not expanded\n" in out
    assert sh(skiff, "runs", "cat /shell /exec /heredoc /heredoc-sh /arg") == (
        "shell-form\nexec-form\nheredoc line one\nheredoc line two\nvia sh\nA=b\n"
    )
    assert "A=b" in sh(skiff, "runs", "cat /run-env").splitlines()
    config = skiff.inspect("runs")["Config"]
    assert config["Env"] == [DEFAULT_PATH]  # the build argument is not in the image
    assert config["Cmd"] == ["sh"]  # RUN does not change the command
    assert "A=b" not in run(skiff, "runs", "env").splitlines()
    lines = history(skiff, "runs")
    assert lines[0] == '|1 A=b /bin/sh -c echo "A=$A" > /arg && env > /run-env'
    assert lines[1] == NOP + "ARG A=b"
    assert lines[4] == "echo $HOME is not expanded"
    assert lines[5] == "/bin/sh -c echo exec-form > /exec"
    assert lines[6] == '/bin/sh -c echo shell-form > /shell && echo "to the log"'


def test_build_args_are_scoped_by_stage(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = """\
ARG BASE=busybox
ARG G=global
FROM ${BASE}:latest AS first
RUN echo "first:[$G] proxy:[$HTTP_PROXY]" > /g
ARG G
RUN echo "first-declared:[$G]" >> /g
FROM first
RUN echo "second:[$G]" >> /g
ARG G=local
ARG OVR=default
ARG NOVALUE
RUN echo "second-declared:[$G] ovr:[$OVR] novalue:[${NOVALUE-unset}]" >> /g
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    out = built(
        skiff,
        "-t", "args",
        "--build-arg", "OVR=cli",
        "--build-arg", "HTTP_PROXY=http://proxy.invalid:3128",
        "--build-arg", "UNUSED=1",
        str(ctx),
    )  # fmt: skip
    assert "[Warning] One or more build-args [UNUSED] were not consumed\n" in out
    assert run(skiff, "args", "cat", "/g") == (
        "first:[] proxy:[http://proxy.invalid:3128]\n"
        "first-declared:[global]\n"
        "second:[]\n"
        "second-declared:[local] ovr:[cli] novalue:[unset]\n"
    )
    assert skiff.inspect("args")["Config"]["Env"] == [DEFAULT_PATH]
    lines = history(skiff, "args")
    # The proxy arguments are used but kept out of history (|0: none shown).
    assert lines[0] == (
        '|2 G=local OVR=cli /bin/sh -c echo "second-declared:[$G] ovr:[$OVR] '
        'novalue:[${NOVALUE-unset}]" >> /g'
    )
    assert lines[4] == '|0 /bin/sh -c echo "second:[$G]" >> /g'
    assert lines[5] == '|1 G=global /bin/sh -c echo "first-declared:[$G]" >> /g'
    assert lines[7] == '|0 /bin/sh -c echo "first:[$G] proxy:[$HTTP_PROXY]" > /g'


def test_cmd_and_entrypoint(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "entry.df": 'FROM busybox\nENTRYPOINT ["echo", "entry"]\n',
            "cmd-first.df": 'FROM busybox\nCMD ["from-cmd"]\nENTRYPOINT ["echo"]\n',
            "child.df": 'FROM entry\nCMD ["child"]\n',
            "reset.df": 'FROM cmd-first\nENTRYPOINT ["echo", "again"]\n',
            "shell.df": 'FROM busybox\nENTRYPOINT echo shell-entry\nCMD ["ignored"]\n',
        },
    )
    for name in ("entry", "cmd-first", "child", "reset", "shell"):
        built(skiff, "-t", name, "-f", str(ctx / f"{name}.df"), str(ctx))

    def config(name: str) -> tuple[list[str] | None, list[str] | None]:
        c = skiff.inspect(name)["Config"]
        return c["Entrypoint"], c["Cmd"]

    # ENTRYPOINT drops the base image's CMD ["sh"]...
    assert config("entry") == (["echo", "entry"], None)
    assert skiff.ok("run", "--rm", "entry") == "entry\n"
    # ...but not a CMD of the same stage...
    assert config("cmd-first") == (["echo"], ["from-cmd"])
    assert skiff.ok("run", "--rm", "cmd-first") == "from-cmd\n"
    # ...nor one that comes after it.
    assert config("child") == (["echo", "entry"], ["child"])
    assert skiff.ok("run", "--rm", "child") == "entry child\n"
    # A CMD of the base image is dropped, even one a Dockerfile set.
    assert config("reset") == (["echo", "again"], None)
    assert skiff.ok("run", "--rm", "reset") == "again\n"
    assert config("shell") == (["/bin/sh", "-c", "echo shell-entry"], ["ignored"])
    assert skiff.ok("run", "--rm", "shell") == "shell-entry\n"

    assert history(skiff, "entry")[0] == NOP + 'ENTRYPOINT ["echo" "entry"]'
    assert history(skiff, "shell")[:2] == [
        NOP + 'CMD ["ignored"]',
        NOP + 'ENTRYPOINT ["/bin/sh" "-c" "echo shell-entry"]',
    ]


def test_shell_changes_the_shell_forms(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = 'FROM busybox\nSHELL ["/bin/echo", "via-echo"]\nRUN hello world\nCMD hi there\n'
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    out = built(skiff, "-t", "shell", str(ctx))
    assert "\nvia-echo hello world\n" in out
    config = skiff.inspect("shell")["Config"]
    assert config["Shell"] == ["/bin/echo", "via-echo"]
    assert config["Cmd"] == ["/bin/echo", "via-echo", "hi there"]
    assert skiff.ok("run", "--rm", "shell") == "via-echo hi there\n"
    assert history(skiff, "shell")[:3] == [
        '/bin/echo via-echo #(nop)  CMD ["/bin/echo" "via-echo" "hi there"]',
        "/bin/echo via-echo hello world",
        "/bin/echo via-echo #(nop)  SHELL [/bin/echo via-echo]",
    ]


def test_onbuild_triggers_run_in_the_child_only(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "parent.df": (
                "FROM busybox\n"
                "ONBUILD RUN echo triggered > /trigger\n"
                "ONBUILD COPY a.txt /from-trigger.txt\n"
            ),
            "child.df": "FROM parent\nRUN cat /trigger\n",
            "grandchild.df": "FROM child\nRUN echo grandchild\n",
            "a.txt": "copied by a trigger\n",
        },
    )
    out = built(skiff, "-t", "parent", "-f", str(ctx / "parent.df"), str(ctx))
    assert "Executing" not in out
    triggers = ["RUN echo triggered > /trigger", "COPY a.txt /from-trigger.txt"]
    assert skiff.inspect("parent")["Config"]["OnBuild"] == triggers
    assert history(skiff, "parent")[0] == NOP + "ONBUILD COPY a.txt /from-trigger.txt"
    assert sh(skiff, "parent", "ls /trigger /from-trigger.txt 2>/dev/null; true") == ""

    out = built(skiff, "-t", "child", "-f", str(ctx / "child.df"), str(ctx))
    assert "# Executing 2 build triggers\n" in out
    assert "\ntriggered\n" in out  # the child's RUN saw the trigger's file
    assert (
        sh(skiff, "child", "cat /trigger /from-trigger.txt") == "triggered\ncopied by a trigger\n"
    )
    assert not skiff.inspect("child")["Config"]["OnBuild"]

    out = built(skiff, "-t", "grandchild", "-f", str(ctx / "grandchild.df"), str(ctx))
    assert "Executing" not in out
    assert out.count("Running in") == 1


def test_workdir_and_variable_substitution(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = """\
FROM busybox
ARG UNSET
ENV SET=value EMPTY=
ENV A=${SET:-default} B=${UNSET:-default} C=${SET:+alt} D=${UNSET:+alt} \
    E=${EMPTY:-dflt} F=${EMPTY:+x}
WORKDIR /created/deep
WORKDIR /app
WORKDIR sub
WORKDIR ${SET:+yes}${UNSET:-no}
RUN pwd > /pwd
COPY a.txt rel/
COPY a.txt .
COPY a.txt /c/${SET}/${UNSET:-u}.txt
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "a\n"})
    built(skiff, "-t", "wd", str(ctx))
    config = skiff.inspect("wd")["Config"]
    assert config["Env"] == [
        DEFAULT_PATH, "SET=value", "EMPTY=",
        "A=value", "B=default", "C=alt", "D=", "E=dflt", "F=",
    ]  # fmt: skip
    assert config["WorkingDir"] == "/app/sub/yesno"
    assert run(skiff, "wd", "pwd") == "/app/sub/yesno\n"
    assert sh(
        skiff,
        "wd",
        "cat /pwd rel/a.txt a.txt /c/value/u.txt; stat -c '%n %F %u:%g %a' /created/deep",
    ) == ("/app/sub/yesno\na\na\na\n/created/deep directory 0:0 755\n")
    assert "/bin/sh -c #(nop) WORKDIR /app/sub/yesno" in history(skiff, "wd")  # one space


def test_escape_and_syntax_directives(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = (
        "# escape=`\n"
        "# syntax=docker/dockerfile:1\n"
        "FROM busybox\n"
        "ENV WINPATH=C:\\Windows\\System32\n"
        "RUN echo one `\n"
        "    two > /joined\n"
        'LABEL multi="con`\n'
        'tinued"\n'
    )
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    built(skiff, "-t", "escaped", str(ctx))
    config = skiff.inspect("escaped")["Config"]
    assert config["Env"] == [DEFAULT_PATH, "WINPATH=C:\\Windows\\System32"]
    assert config["Labels"] == {"multi": "continued"}
    assert run(skiff, "escaped", "cat", "/joined") == "one two\n"


# --- COPY and ADD ----------------------------------------------------------------------------

COPIES = """\
FROM busybox
RUN echo 'app:x:1234:1234::/home/app:/bin/sh' >> /etc/passwd \\
 && echo 'app:x:1234:' >> /etc/group && echo 'grp:x:2345:' >> /etc/group
COPY a.txt /file-no-slash
COPY a.txt /newdir/
COPY *.txt /globbed/
COPY dir /dircopy
COPY a.txt b.txt /multi/
COPY --chown=app:grp a.txt /owned/byname
COPY --chown=1001:1002 a.txt /owned/bynumber
COPY --chown=app dir /owned/dir/
COPY --chmod=0751 a.txt /modes/a.txt
COPY exec.sh /modes/
COPY --link a.txt /linked/
"""

COPIED = """\
/dircopy directory 0:0 755
/dircopy/one regular file 0:0 644
/dircopy/sub directory 0:0 755
/dircopy/sub/two regular file 0:0 644
/file-no-slash regular file 0:0 644
/globbed directory 0:0 755
/globbed/a.txt regular file 0:0 644
/globbed/b.txt regular file 0:0 644
/linked directory 0:0 755
/linked/a.txt regular file 0:0 644
/modes directory 0:0 755
/modes/a.txt regular file 0:0 751
/modes/exec.sh regular file 0:0 755
/multi directory 0:0 755
/multi/a.txt regular file 0:0 644
/multi/b.txt regular file 0:0 644
/newdir directory 0:0 755
/newdir/a.txt regular file 0:0 644
/owned directory 1234:2345 755
/owned/byname regular file 1234:2345 644
/owned/bynumber regular file 1001:1002 644
/owned/dir directory 1234:1234 755
/owned/dir/one regular file 1234:1234 644
/owned/dir/sub directory 1234:1234 755
/owned/dir/sub/two regular file 1234:1234 644
"""


def test_copy_sources_destinations_owners_and_modes(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": COPIES,
            "a.txt": "a\n",
            "b.txt": "b\n",
            "c.md": "c\n",
            "dir/one": "1\n",
            "dir/sub/two": "2\n",
        },
    )
    write_context(ctx, {"exec.sh": "#!/bin/sh\necho exec\n"}, mode=0o755)
    built(skiff, "-t", "copies", str(ctx))
    paths = "/file-no-slash /newdir /globbed /dircopy /multi /owned /modes /linked"
    listing = sh(skiff, "copies", f"find {paths} | sort | xargs stat -c '%n %F %u:%g %a'")
    assert listing == COPIED
    assert (
        sh(skiff, "copies", "cat /file-no-slash /multi/b.txt /dircopy/sub/two /owned/dir/one")
        == "a\nb\n2\n1\n"
    )
    assert run(skiff, "copies", "/modes/exec.sh") == "exec\n"
    # History: "COPY [--chown=X]<kind>:<hash of the sources> in <dest> " (dockerd's, no
    # space after the owner), the kind by the sources.
    kinds = ["file", "file", "file", "--chown=appdir", "--chown=1001:1002file"]
    kinds += ["--chown=app:grpfile", "multi", "dir", "multi", "file", "file"]
    dests = ["/linked/", "/modes/", "/modes/a.txt", "/owned/dir/", "/owned/bynumber"]
    dests += ["/owned/byname", "/multi/", "/dircopy", "/globbed/", "/newdir/", "/file-no-slash"]
    lines = history(skiff, "copies")
    assert len(lines) == 13
    for line, kind, dest in zip(lines, kinds, dests, strict=False):
        assert re.fullmatch(rf"/bin/sh -c #\(nop\) COPY {kind}:[0-9a-f]{{64}} in {dest} ", line)


def test_copy_from_stages_and_images(skiff: Skiff, busybox: str, tmp_path: Path):
    arch = skiff.inspect("busybox")["Architecture"]
    dockerfile = f"""\
FROM busybox AS builder
RUN mkdir /out && echo built > /out/artifact && echo second > /out/other \\
 && chown -R 1234:2345 /out
FROM scratch AS files
COPY a.txt /a.txt
COPY dir /d/
FROM --platform=linux/{arch} busybox
COPY --from=builder /out/artifact /by-name/
COPY --from=0 /out /by-index/
COPY --from=busybox:latest /bin/busybox /by-image/busybox
COPY --from=files / /from-scratch/
COPY --from=builder --chown=7:8 /out/artifact /chowned/
"""
    ctx = write_context(
        tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "a\n", "dir/one": "1\n"}
    )
    out = built(skiff, "-t", "multi", str(ctx))
    assert out.count("Successfully tagged") == 1
    # The last images of the other stages are untagged leaves: dangling, as with dockerd.
    assert repo_tags(skiff) == ["<none>:<none>", "<none>:<none>", "busybox:latest", "multi:latest"]
    script = (
        "cat /by-name/artifact /by-index/artifact /by-index/other"
        " /from-scratch/a.txt /from-scratch/d/one;"
        " stat -c '%a' /by-image/busybox; cmp /by-image/busybox /bin/busybox && echo same"
    )
    assert sh(skiff, "multi", script) == "built\nbuilt\nsecond\na\n1\n755\nsame\n"
    # COPY --from keeps the other image's owners, unless --chown says otherwise.
    owners = "stat -c '%n %u:%g' /by-name/artifact /by-index/other /chowned/artifact"
    assert sh(skiff, "multi", owners) == (
        "/by-name/artifact 1234:2345\n/by-index/other 1234:2345\n/chowned/artifact 7:8\n"
    )

    # The scratch stage alone: its two layers and nothing else.
    built(skiff, "-t", "files", "--target", "files", str(ctx))
    files = skiff.inspect("files")
    assert len(files["RootFS"]["Layers"]) == 2
    assert files["Config"]["Cmd"] is None
    assert files["Config"]["Env"] == [DEFAULT_PATH]
    assert len(history(skiff, "files")) == 2


def test_add_archives_plain_files_and_urls(
    skiff: Skiff, busybox: str, tmp_path: Path, http_files: tuple[Path, str]
):
    served, url = http_files
    (served / "remote.txt").write_text("remote content\n")
    os.utime(served / "remote.txt", (1_600_000_000, 1_600_000_000))
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        directory = tarfile.TarInfo("pkg")
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        tar.addfile(directory)
        inner = tarfile.TarInfo("pkg/inner.txt")
        inner.size, inner.mode, inner.uid, inner.gid = 6, 0o640, 1234, 2345
        tar.addfile(inner, io.BytesIO(b"inner\n"))
    dockerfile = f"""\
FROM busybox
ADD archive.tar.gz /unpacked/
ADD fake.tar.gz /not-unpacked/
ADD plain.txt /plain/
ADD {url}/remote.txt /remote/
ADD {url}/remote.txt /remote-named.txt
"""
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": dockerfile,
            "archive.tar.gz": archive.getvalue(),
            "fake.tar.gz": "just text\n",
            "plain.txt": "plain\n",
        },
    )
    built(skiff, "-t", "adds", str(ctx))
    listing = sh(
        skiff,
        "adds",
        "find /unpacked /not-unpacked /plain /remote /remote-named.txt | sort"
        " | xargs stat -c '%n %F %u:%g %a'",
    )
    assert listing == (
        "/not-unpacked directory 0:0 755\n"
        "/not-unpacked/fake.tar.gz regular file 0:0 644\n"
        "/plain directory 0:0 755\n"
        "/plain/plain.txt regular file 0:0 644\n"
        "/remote directory 0:0 755\n"
        "/remote-named.txt regular file 0:0 600\n"
        "/remote/remote.txt regular file 0:0 600\n"
        "/unpacked directory 0:0 755\n"
        "/unpacked/pkg directory 0:0 755\n"
        "/unpacked/pkg/inner.txt regular file 1234:2345 640\n"
    )
    script = (
        "cat /unpacked/pkg/inner.txt /not-unpacked/fake.tar.gz /remote/remote.txt /remote-named.txt"
    )
    assert sh(skiff, "adds", script) == "inner\njust text\nremote content\nremote content\n"
    assert run(skiff, "adds", "stat", "-c", "%Y", "/remote/remote.txt") == "1600000000\n"


def test_dockerignore_patterns_and_exceptions(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nCOPY . /ctx/\nCOPY *.log /logs/\nCOPY sub /sub/\n",
            ".dockerignore": "# comment\n**/*.log\n!keep.log\nsecret*\n!secret-ok\n",
            "a.log": "a\n",
            "keep.log": "keep\n",
            "sub/deep/b.log": "b\n",
            "sub/deep/c.txt": "c\n",
            "secret.txt": "secret\n",
            "secret-ok": "ok\n",
            "plain.txt": "plain\n",
        },
    )
    built(skiff, "-t", "ignoring", str(ctx))
    assert sh(skiff, "ignoring", "cd / && find ctx logs sub -type f | sort") == (
        "ctx/.dockerignore\nctx/Dockerfile\nctx/keep.log\nctx/plain.txt\nctx/secret-ok\n"
        "ctx/sub/deep/c.txt\nlogs/keep.log\nsub/deep/c.txt\n"
    )
    # An ignored file named as a source is not in the context at all.
    for source in ("a.log", "sub/deep/b.log", "secret.txt"):
        (tmp_path / "named.df").write_text(f"FROM busybox\nCOPY {source} /\n")
        result = skiff("build", "-t", "named", "-f", str(tmp_path / "named.df"), str(ctx))
        assert (
            "COPY failed: file not found in build context or excluded by .dockerignore: "
            f"stat {source}: file does not exist"
        ) in failed(result)
    (tmp_path / "named.df").write_text("FROM busybox\nCOPY secret-ok keep.log /named/\n")
    built(skiff, "-t", "named", "-f", str(tmp_path / "named.df"), str(ctx))
    assert sh(skiff, "named", "cat /named/secret-ok /named/keep.log") == "ok\nkeep\n"
    assert leftovers(skiff) == []


def test_dockerignore_exception_inside_an_ignored_directory(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    dockerfile = "FROM busybox\nCOPY . /ctx/\nCOPY build /dir/\nCOPY build/keep.txt /file/\n"
    ctx = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": dockerfile,
            ".dockerignore": "build\n!build/keep.txt\n",
            "build/keep.txt": "kept\n",
            "build/other.txt": "other\n",
        },
    )
    built(skiff, "-t", "excepted", str(ctx))
    assert sh(skiff, "excepted", "cd / && find ctx dir file -type f | sort") == (
        "ctx/.dockerignore\nctx/Dockerfile\nctx/build/keep.txt\ndir/keep.txt\nfile/keep.txt\n"
    )


# --- the build's flags and contexts ---------------------------------------------------------


def test_target_tags_iidfile_and_label(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = """\
FROM busybox AS unrelated
RUN echo unrelated-stage
FROM busybox AS base
RUN echo base > /base
FROM base AS mid
RUN echo mid > /mid
FROM busybox AS later
RUN echo later-stage > /later
FROM mid
RUN echo never > /never
"""
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    iidfile = tmp_path / "iid"
    out = built(
        skiff,
        "--target", "mid", "-t", "one", "-t", "two:v2", "--iidfile", str(iidfile),
        "--label", "org.test=yes", str(ctx),
    )  # fmt: skip
    assert "\nunrelated-stage\n" in out  # stages before the target are built
    assert "later-stage" not in out and "never" not in out
    assert "Successfully tagged one:latest\n" in out and "Successfully tagged two:v2\n" in out
    image_id = iidfile.read_text()
    assert ID.fullmatch(image_id)
    assert skiff.inspect("one")["Id"] == skiff.inspect("two:v2")["Id"] == image_id
    assert out.endswith(
        f"Successfully built {image_id[7:19]}\n"
        "Successfully tagged one:latest\nSuccessfully tagged two:v2\n"
    )
    # The unrelated stage's image is a dangling leaf; base's has a child (mid's).
    assert repo_tags(skiff) == ["<none>:<none>", "busybox:latest", "one:latest", "two:v2"]
    assert skiff.inspect("one")["Config"]["Labels"] == {"org.test": "yes"}
    assert sh(skiff, "one", "cat /base /mid; ls /later /never 2>/dev/null; true") == "base\nmid\n"


def test_quiet_prints_only_the_image_id(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo noisy\n"})
    out = built(skiff, "-q", "-t", "quiet", str(ctx))
    assert ID.fullmatch(out.removesuffix("\n")) and out.endswith("\n")
    assert out.strip() == skiff.inspect("quiet")["Id"]


def test_cache_hits_misses_and_no_cache(skiff: Skiff, busybox: str, tmp_path: Path):
    dockerfile = """\
FROM busybox
RUN echo first-run-$((1+1))
COPY a.txt /a.txt
RUN echo second-run
COPY b.txt /b.txt
"""
    ctx = write_context(
        tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "a\n", "b.txt": "b\n"}
    )

    def cached(out: str) -> list[bool]:
        return [" ---> Using cache\n" in step for step in steps(out)[1:]]

    first = built(skiff, "-t", "cached", str(ctx))
    assert cached(first) == [False] * 4
    assert "\nfirst-run-2\n" in first and "\nsecond-run\n" in first
    image_id = skiff.inspect("cached")["Id"]

    again = built(skiff, "-t", "cached", str(ctx))
    assert cached(again) == [True] * 4
    assert "Running in" not in again and "first-run-2" not in again
    assert skiff.inspect("cached")["Id"] == image_id

    # A new modification time alone changes nothing.
    os.utime(ctx / "a.txt", (1_000_000_000, 1_000_000_000))
    touched = built(skiff, "-t", "cached", str(ctx))
    assert cached(touched) == [True] * 4
    assert skiff.inspect("cached")["Id"] == image_id

    # New content: its COPY and what follows run again, what precedes it does not.
    (ctx / "a.txt").write_text("changed\n")
    changed = built(skiff, "-t", "cached", str(ctx))
    assert cached(changed) == [True, False, False, False]
    assert changed.count("Running in") == 1 and "\nsecond-run\n" in changed
    assert skiff.inspect("cached")["Id"] != image_id
    assert run(skiff, "cached", "cat", "/a.txt") == "changed\n"

    fresh = built(skiff, "--no-cache", "-t", "cached", str(ctx))
    assert "Using cache" not in fresh
    assert fresh.count("Running in") == 2 and "\nfirst-run-2\n" in fresh


def test_context_directory_with_other_dockerfiles(skiff: Skiff, busybox: str, tmp_path: Path):
    ctx = write_context(
        tmp_path / "ctx",
        {
            "docker/Other.df": "FROM busybox\nCOPY data.txt /named.txt\n",
            "data.txt": "from the directory\n",
        },
    )
    # -f is relative to the current directory, not to the context.
    built(skiff, "-t", "named", "-f", "docker/Other.df", ".", cwd=ctx)
    assert run(skiff, "named", "cat", "/named.txt") == "from the directory\n"
    built(skiff, "-t", "dash", "-f", "-", str(ctx), input="FROM busybox\nCOPY data.txt /dash.txt\n")
    assert run(skiff, "dash", "cat", "/dash.txt") == "from the directory\n"
    # A Dockerfile alone on stdin: an empty context.
    built(skiff, "-t", "alone", "-", input="FROM busybox\nRUN echo alone > /alone\n")
    assert run(skiff, "alone", "cat", "/alone") == "alone\n"
    result = skiff("build", "-", input="FROM busybox\nCOPY data.txt /\n")
    assert "COPY failed: file not found in build context" in failed(result)
    assert leftovers(skiff) == []


def test_context_from_a_tar_on_stdin_or_a_tarball(skiff: Skiff, busybox: str, tmp_path: Path):
    files = {
        "Dockerfile": "FROM busybox\nCOPY data.txt /data.txt\n",
        "docker/Build.df": "FROM busybox\nCOPY data.txt /other.txt\n",
        "data.txt": "from the tar\n",
    }
    tar = tar_bytes(files)
    built(skiff, "-t", "stdin-tar", "-", input=tar)
    assert run(skiff, "stdin-tar", "cat", "/data.txt") == "from the tar\n"
    # -f names a Dockerfile inside the tar.
    built(skiff, "-t", "stdin-tar-f", "-f", "docker/Build.df", "-", input=tar)
    assert run(skiff, "stdin-tar-f", "cat", "/other.txt") == "from the tar\n"

    gzipped = tmp_path / "ctx.tar.gz"
    gzipped.write_bytes(tar_bytes({**files, "data.txt": "from the tarball\n"}, "gz"))
    built(skiff, "-t", "tarball", str(gzipped))
    assert run(skiff, "tarball", "cat", "/data.txt") == "from the tarball\n"
    assert leftovers(skiff) == []


# --- failures ------------------------------------------------------------------------------

BAD = {
    "syntax": (
        "FROM busybox\nRUN true\n\nENV foo\n",
        "dockerfile parse error line 4: ENV must have two arguments",
        1,
    ),
    "unknown": (
        "FROM busybox\nFOO bar\n",
        "dockerfile parse error line 2: unknown instruction: FOO",
        1,
    ),
    "outside": (
        "FROM busybox\nRUN echo partial > /partial\nCOPY ../outside.txt /\n",
        "COPY failed: forbidden path outside the build context: ../outside.txt ()",
        1,
    ),
    "missing": (
        "FROM busybox\nRUN echo partial > /partial\nCOPY nope.txt /\n",
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat nope.txt: file does not exist",
        1,
    ),
    "run": (
        "FROM busybox\nCOPY ok.txt /\nRUN echo boom; exit 3\n",
        "The command '/bin/sh -c echo boom; exit 3' returned a non-zero code: 3",
        3,
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_a_failed_build_leaves_nothing(skiff: Skiff, busybox: str, tmp_path: Path, case: str):
    dockerfile, message, code = BAD[case]
    (tmp_path / "outside.txt").write_text("outside\n")
    ctx = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM busybox\nRUN echo good > /good\n", "ok.txt": "ok\n"},
    )
    built(skiff, "-t", "app", str(ctx))
    good = skiff.inspect("app")["Id"]
    images = skiff.ok("images", "-a", "-q", "--no-trunc")

    (ctx / "Dockerfile").write_text(dockerfile)
    result = skiff("build", "-t", "app", "-t", "fresh", str(ctx))
    line = failed(result, code)
    assert message in line
    if case == "run":
        assert "\nboom\n" in result.out
    assert skiff.inspect("app")["Id"] == good
    assert skiff("image", "inspect", "fresh").code != 0
    assert [t for t in repo_tags(skiff) if t != "<none>:<none>"] == ["app:latest", "busybox:latest"]
    assert leftovers(skiff) == []
    # What the failed build committed before failing stays (a cache for the next build).
    assert set(images.split()) <= set(skiff.ok("images", "-a", "-q", "--no-trunc").split())


def test_intermediate_images_are_hidden_and_removed_with_the_image(
    skiff: Skiff, busybox: str, tmp_path: Path
):
    dockerfile = (
        'FROM busybox\nENV A=1\nRUN echo layer > /layer\nCOPY a.txt /\nCMD ["cat", "/layer"]\n'
    )
    ctx = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile, "a.txt": "a\n"})
    out = built(skiff, "-t", "app", str(ctx))
    shown = SHORT_ID.findall(out)
    assert len(shown) == 5 and shown[0] == busybox[7:19]
    final = skiff.inspect("app")["Id"]
    assert shown[-1] == final[7:19]

    assert repo_tags(skiff) == ["app:latest", "busybox:latest"]
    assert repo_tags(skiff, "-a") == ["<none>:<none>"] * 3 + ["app:latest", "busybox:latest"]
    listed = set(skiff.ok("images", "-a", "-q").split())
    assert listed == set(shown)
    assert skiff.ok("run", "--rm", "app") == "layer\n"

    removed = skiff.ok("rmi", "app").splitlines()
    assert removed[0] == "Untagged: app:latest"
    deleted = [
        line.removeprefix("Deleted: sha256:")[:12]
        for line in removed
        if line.startswith("Deleted:")
    ]
    assert set(shown[1:]) <= set(deleted)
    assert shown[0] not in deleted
    assert repo_tags(skiff, "-a") == ["busybox:latest"]
    assert skiff.ok("images", "-a", "-q").split() == [busybox[7:19]]
    assert len(history(skiff, "busybox")) == 1
    assert run(skiff, "busybox", "echo", "still here") == "still here\n"


def test_from_pulls_a_missing_image_and_pull_fetches_it_again(
    skiff: Skiff, busybox: str, registry: Registry, tmp_path: Path
) -> None:
    """A FROM of an image the store lacks pulls it (dockerd's lines in the output); with
    --pull, a present image is pulled again, and the cache still holds."""
    base = f"{registry.address}/team/base:1"
    skiff.ok("tag", "busybox", base)
    skiff("push", base)
    skiff.ok("rmi", base)
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": f"FROM {base}\nCOPY --from={base} /bin/busybox /copied\n"},
    )
    out = built(skiff, "-t", "pulled", str(context))
    assert "1: Pulling from team/base" in out
    assert f"Status: Downloaded newer image for {base}" in out
    assert skiff.inspect(base)["Id"] == busybox
    assert run(skiff, "pulled", "ls", "/copied").strip() == "/copied"

    again = built(skiff, "--pull", "-t", "pulled", str(context))
    assert f"Status: Image is up to date for {base}" in again
    assert "Using cache" in again
