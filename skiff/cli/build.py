"""``skiff build`` (``image build``): an image from a Dockerfile, with the docker CLI's
flags. The context is a directory, a tar archive (plain or compressed), an http(s) URL of
one (or of a Dockerfile alone), or ``-``: a tar archive on stdin, or a Dockerfile alone
(an empty context). ``-f`` is relative to the
current directory, as with the docker CLI, and may be ``-`` (the Dockerfile on stdin).
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

from skiff.cli.main import Command, CommandFailed
from skiff.errors import SkiffError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.build.context import BuildContext
    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.engine.engine import Engine


def _setup(p: Parser) -> None:
    p.flag("--build-arg", kind="list", help="Set build-time variables")
    p.flag(
        "-f", "--file", kind="string", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')"
    )
    p.flag("--force-rm", help="Always remove intermediate containers (skiff always does)")
    p.flag("--iidfile", kind="string", help="Write the image ID to the file")
    p.flag("--label", kind="list", help="Set metadata for an image")
    p.flag(
        "--network",
        kind="string",
        help='Set the networking mode for the RUN instructions during build (default "default")',
    )
    p.flag("--no-cache", help="Do not use cache when building the image")
    p.flag("--platform", kind="string", help="Set platform if server is multi-platform capable")
    p.flag("--pull", help="Always attempt to pull a newer version of the image")
    p.flag("-q", "--quiet", help="Suppress the build output and print image ID on success")
    p.flag(
        "--rm",
        default=True,
        help="Remove intermediate containers after a successful build (default true)",
    )
    p.flag("-t", "--tag", kind="list", help="Name and optionally a tag in the 'name:tag' format")
    p.flag("--target", kind="string", help="Set the target build stage to build.")  # fmt: skip


def _pairs(values: list[str], flag: str) -> dict[str, str | None]:
    """``--build-arg K=V`` (``K`` alone: from the environment, or unset) and ``--label``."""
    result: dict[str, str | None] = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not key:
            raise CommandFailed(f'invalid argument "{value}" for "{flag}"', 125)
        result[key] = text if equals else os.environ.get(key)
    return result


def _options(opts: Options) -> object:
    from skiff.build.builder import BuildOptions
    from skiff.images import reference

    for tag in opts.tag or []:
        try:
            reference.parse(tag)
        except Exception as e:
            raise CommandFailed(
                f'invalid argument "{tag}" for "-t, --tag" flag: {e}', 125
            ) from None
    labels = {k: v or "" for k, v in _pairs(opts.label or [], "--label").items()}
    return BuildOptions(
        tags=opts.tag or [],
        build_args=_pairs(opts.build_arg or [], "--build-arg"),
        target=opts.target or "",
        no_cache=opts.no_cache,
        pull=opts.pull,
        labels=labels,
        network=opts.network or "",
        platform=opts.platform or "",
        quiet=opts.quiet,
    )  # fmt: skip


def _context(inv: Invocation, opts: Options, held: ExitStack) -> tuple[BuildContext, str]:
    """The context and the Dockerfile's path in it (or outside it, absolute)."""
    from skiff.build.context import BuildContext, extract_context
    from skiff.build.files import is_archive
    from skiff.build.snapshot import workspace

    where = opts.args[0]
    dockerfile = opts.file or ""
    if where.startswith(("http://", "https://")):
        from skiff.build.files import fetch

        directory = held.enter_context(workspace(inv.paths, "context"))
        try:
            downloaded, _ = fetch(where, held.enter_context(workspace(inv.paths, "files")))
        except SkiffError as e:
            raise CommandFailed(
                f"unable to prepare context: unable to download remote context {where}: {e}"
            ) from None
        if is_archive(downloaded):
            with open(downloaded, "rb") as f:
                extract_context(f, directory)
        else:
            os.replace(downloaded, os.path.join(directory, "Dockerfile"))
        return BuildContext.open(directory), dockerfile or "Dockerfile"
    if where == "-":
        directory = held.enter_context(workspace(inv.paths, "context"))
        data = sys.stdin.buffer.read()
        stdin_file = os.path.join(directory, ".stdin")
        with open(stdin_file, "wb") as f:
            f.write(data)
        if is_archive(stdin_file):
            with open(stdin_file, "rb") as f:
                os.unlink(stdin_file)
                extract_context(f, directory)
        else:
            if dockerfile:
                raise CommandFailed(
                    "ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles"
                )
            os.replace(stdin_file, os.path.join(directory, "Dockerfile"))
        return BuildContext.open(directory), dockerfile or "Dockerfile"
    if os.path.isfile(where) and is_archive(where):
        directory = held.enter_context(workspace(inv.paths, "context"))
        with open(where, "rb") as f:
            extract_context(f, directory)
        return BuildContext.open(directory), dockerfile or "Dockerfile"
    if not os.path.isdir(where):
        raise CommandFailed(f'unable to prepare context: path "{where}" not found')
    if dockerfile == "-":
        directory = held.enter_context(workspace(inv.paths, "context"))
        path = os.path.join(directory, "Dockerfile")
        with open(path, "wb") as f:
            f.write(sys.stdin.buffer.read())
        return BuildContext.open(where), path
    if dockerfile:
        path = os.path.abspath(dockerfile)
        if not os.path.exists(path):
            raise CommandFailed(
                f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
                f"lstat {path}: no such file or directory"
            )
        return BuildContext.open(where), path
    path = os.path.join(os.path.abspath(where), "Dockerfile")
    if not os.path.exists(path):
        raise CommandFailed(
            f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: "
            f"lstat {path}: no such file or directory"
        )
    return BuildContext.open(where), path  # fmt: skip


def _engine(inv: Invocation) -> Engine:
    from skiff.engine.engine import Engine

    return Engine(inv.paths)


def _build(inv: Invocation, opts: Options) -> int:
    from skiff.build.builder import BuildOptions, build
    from skiff.build.run import RunFailed

    options = _options(opts)
    assert isinstance(options, BuildOptions)
    out = sys.stdout

    def say(text: str) -> None:
        if not options.quiet:
            out.write(text)
            out.flush()

    with ExitStack() as held:
        try:
            context, dockerfile = _context(inv, opts, held)
            options.dockerfile = dockerfile
            image_id = build(inv.images(), lambda: _engine(inv), context, options, say)
        except RunFailed as e:
            raise CommandFailed(str(e), e.exit_code) from None
        except CommandFailed:
            raise
        except SkiffError as e:
            raise CommandFailed(str(e)) from None
    if opts.iidfile:
        with open(opts.iidfile, "w") as f:
            f.write(image_id)
    if options.quiet:
        out.write(image_id + "\n")
    return 0


def register(registry: Registry) -> None:
    registry.add(
        Command(
            "image build",
            "Build an image from a Dockerfile",
            "[OPTIONS] PATH | URL | -",
            _setup,
            _build,
            (1, 1),
            aliases=("build",),
        )
    )
