"""The registry verbs: ``pull``, ``login`` and ``logout``, with Docker's flags and output
(skiff.registry does the work)."""

from __future__ import annotations

import sys

from skiff.cli.main import Command, CommandFailed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from skiff.cli.main import Invocation, Options, Parser, Registry


# --- pull -------------------------------------------------------------------------------


def _setup_pull(p: Parser) -> None:
    p.flag("-a", "--all-tags", help="Download all tagged images in the repository")
    p.flag("--platform", kind="string", help="Set platform if server is multi-platform capable")
    p.flag("-q", "--quiet", help="Suppress verbose output")


def _pull(inv: Invocation, opts: Options) -> int:
    from skiff.images import reference
    from skiff.registry.pull import pull

    bare = reference.parse(opts.args[0], default_tag=False)
    ref = reference.parse(opts.args[0])
    if opts.all_tags:
        raise CommandFailed("--all-tags is not supported yet")
    quiet = opts.quiet

    def say(text: str) -> None:
        if not quiet:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()

    if bare.tag is None and bare.digest is None:
        say(f"Using default tag: {ref.tag}")
    started: list[bool] = []

    def report(layer: str, status: str) -> None:
        if not started:  # once the manifest is found, as dockerd streams it
            started.append(True)
            say(f"{ref.familiar() if ref.digest else ref.tag}: Pulling from {ref.path}")
        if layer:
            say(f"{layer}: {status}")

    pulled = pull(inv.images(), ref, opts.platform or "", report)
    say(f"Digest: {pulled.digest}")
    shown = ref.familiar()
    if pulled.fresh:
        say(f"Status: Downloaded newer image for {shown}")
    else:
        say(f"Status: Image is up to date for {shown}")
    sys.stdout.write(f"{str(ref) if ref.domain == 'docker.io' else shown}\n")
    return 0


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
    client.scope = ""
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
        ("login", "Log in to a registry", "[OPTIONS] [SERVER]", _setup_login, _login, (0, 1), ()),
        ("logout", "Log out from a registry", "[SERVER]", _setup_logout, _logout, (0, 1), ()),
    ):  # fmt: skip
        registry.add(Command(path, summary, usage, setup, run, args, aliases))
