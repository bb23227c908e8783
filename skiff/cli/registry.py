"""The registry verbs: ``pull``, ``push``, ``login`` and ``logout``, with Docker's flags and output
(skiff.registry does the work)."""

from __future__ import annotations

import sys

from skiff.cli.main import Command, CommandFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

    from skiff.cli.main import Invocation, Options, Parser, Registry
    from skiff.images.reference import Reference
    from skiff.images.service import ImageStore


# --- pull -------------------------------------------------------------------------------


def _setup_pull(p: Parser) -> None:
    p.flag("-a", "--all-tags", help="Download all tagged images in the repository")
    p.flag("--platform", kind="string", help="Set platform if server is multi-platform capable")
    p.flag("-q", "--quiet", help="Suppress verbose output")


def _pull(inv: Invocation, opts: Options) -> int:
    from skiff.images import reference
    from skiff.registry.pull import remote_tags

    if not opts.all_tags:
        ref, _ = pull_with_progress(
            inv.images(), opts.args[0], opts.platform or "", opts.quiet, sys.stdout
        )
        sys.stdout.write(f"{str(ref) if ref.domain == 'docker.io' else ref.familiar()}\n")
        return 0
    bare = reference.parse(opts.args[0], default_tag=False)
    if bare.tag or bare.digest:
        raise CommandFailed("tag can't be used with --all-tags/-a")
    fresh = False
    for name in remote_tags(bare):  # one Status line for the repository, as dockerd
        fresh |= pull_with_progress(
            inv.images(), name, opts.platform or "", opts.quiet, sys.stdout, status=False
        )[1]
    if not opts.quiet:
        verb = "Downloaded newer image" if fresh else "Image is up to date"
        sys.stdout.write(f"Status: {verb} for {bare.familiar_name}\n")
    sys.stdout.write(f"{bare.name if bare.domain == 'docker.io' else bare.familiar_name}\n")
    return 0


def pull_with_progress(
    store: ImageStore,
    name: str,
    platform: str,
    quiet: bool,
    out: TextIO,
    say_tag: bool = True,
    status: bool = True,
) -> tuple[Reference, bool]:
    """Pull ``name`` showing Docker's progress on ``out``: "Using default tag" when
    ``name`` has none (``say_tag``) and the "Status:" line (``status``); the reference line
    is the caller's. The reference pulled, and whether it names a new image."""
    from skiff.cli.progress import LayerProgress
    from skiff.images import reference
    from skiff.registry.pull import pull

    bare = reference.parse(name, default_tag=False)
    ref = reference.parse(name)
    progress = LayerProgress(out, quiet=quiet)
    if say_tag and bare.tag is None and bare.digest is None:
        progress.say(f"Using default tag: {ref.tag}")

    def report(layer: str, status: str, current: int = 0, total: int = 0) -> None:
        if not layer:  # the manifest is found, as dockerd streams it
            progress.say(f"{ref.familiar() if ref.digest else ref.tag}: Pulling from {ref.path}")
        progress.report(layer, status, current, total)

    try:
        pulled = pull(store, ref, platform, report)
    finally:
        progress.close()
    progress.say(f"Digest: {pulled.digest}")
    if status:
        verb = "Downloaded newer image" if pulled.fresh else "Image is up to date"
        progress.say(f"Status: {verb} for {ref.familiar()}")
    return ref, pulled.fresh


# --- push -------------------------------------------------------------------------------


def _setup_push(p: Parser) -> None:
    p.flag("-a", "--all-tags", help="Push all tags of an image to the repository")
    p.flag("-q", "--quiet", help="Suppress verbose output")


def _push(inv: Invocation, opts: Options) -> int:
    """docker push prints its errors bare, as they come in dockerd's progress stream."""
    from skiff.errors import SkiffError

    try:
        _push_refs(inv, opts)
    except SkiffError as e:
        sys.stdout.flush()
        sys.stderr.write(f"{e}\n")
        raise CommandFailed("", 1) from None
    return 0


def _push_refs(inv: Invocation, opts: Options) -> None:
    from skiff.cli.progress import LayerProgress
    from skiff.images import reference
    from skiff.registry.push import push

    bare = reference.parse(opts.args[0], default_tag=False)
    if bare.digest:
        raise CommandFailed("cannot push a digest reference")
    store = inv.images()
    if opts.all_tags:
        if bare.tag:
            raise CommandFailed("tag can't be used with --all-tags/-a")
        refs = [reference.parse(tag) for tag in store.tags_in(bare.name)]
        if not refs:
            raise CommandFailed(
                f"An image does not exist locally with the tag: {bare.familiar_name}"
            )
    else:
        refs = [reference.parse(opts.args[0])]
    progress = LayerProgress(quiet=opts.quiet)
    if bare.tag is None and not opts.all_tags:
        progress.say(f"Using default tag: {refs[0].tag}")
    progress.say(f"The push refers to repository [{refs[0].name}]")
    try:
        for ref in refs:
            pushed = push(store, ref, progress.report)
            progress.close()
            progress.say(f"{ref.tag}: digest: {pushed.digest} size: {pushed.size}")
    finally:
        progress.close()
    if opts.quiet:
        sys.stdout.write(f"{bare.name if opts.all_tags else refs[0]}\n")


# --- login / logout ---------------------------------------------------------------------


def _setup_login(p: Parser) -> None:
    p.flag("-p", "--password", kind="string", help="Password")
    p.flag("--password-stdin", help="Take the password from stdin")
    p.flag("-u", "--username", kind="string", help="Username")


def _server(args: list[str]) -> str:
    from skiff.registry.credentials import DOCKER_HUB_KEY

    if not args or args[0] in (DOCKER_HUB_KEY, "docker.io", "index.docker.io"):
        return "docker.io"
    server = args[0]
    for scheme in ("https://", "http://"):
        server = server.removeprefix(scheme)
    return server.rstrip("/")


def _login(inv: Invocation, opts: Options) -> int:
    from skiff.registry import credentials
    from skiff.registry.client import Client

    if opts.password and opts.password_stdin:
        raise CommandFailed("--password and --password-stdin are mutually exclusive")
    password = opts.password or ""
    if opts.password_stdin:
        if not opts.username:
            raise CommandFailed("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    if opts.password:
        sys.stderr.write(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n"
        )
    if not opts.username or not password:
        raise CommandFailed("Username and password are required (-u and -p or --password-stdin)")
    server = _server(opts.args)
    client = Client(server, "", actions="")
    client.credentials = (opts.username, password)
    response = client.request("GET", "/v2/")
    response.read()
    if response.status >= 400:
        raise CommandFailed(f'Get "{response.url}": {response.status} {response.raw.reason}', 1)
    credentials.store(server, opts.username, password)
    sys.stdout.write("Login Succeeded\n")
    return 0


def _setup_logout(p: Parser) -> None:
    pass


def _logout(inv: Invocation, opts: Options) -> int:
    from skiff.registry import credentials

    server = _server(opts.args)
    shown = credentials.server_key(server)
    credentials.erase(server)  # docker 28 says the same when nothing was stored
    sys.stdout.write(f"Removing login credentials for {shown}\n")
    return 0


# --- registration -----------------------------------------------------------------------


def register(registry: Registry) -> None:
    registry.group("image", "Manage images")
    for path, summary, usage, setup, run, args, aliases in (
        ("pull", "Download an image from a registry", "[OPTIONS] NAME[:TAG|@DIGEST]",
         _setup_pull, _pull, (1, 1), ("image pull",)),
        ("push", "Upload an image to a registry", "[OPTIONS] NAME[:TAG]",
         _setup_push, _push, (1, 1), ("image push",)),
        ("login", "Log in to a registry", "[OPTIONS] [SERVER]", _setup_login, _login, (0, 1), ()),
        ("logout", "Log out from a registry", "[SERVER]", _setup_logout, _logout, (0, 1), ()),
    ):  # fmt: skip
        registry.add(Command(path, summary, usage, setup, run, args, aliases))
