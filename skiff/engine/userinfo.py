"""``-u user[:group]`` and ``--group-add`` against an image's /etc/passwd and /etc/group.

The rules are runc's ``libcontainer/user`` (which Docker's daemon uses):

- a numeric user or group is an id, looked up only for its metadata: ``-u 1000`` works
  without a passwd entry (its group is then 0); a name must have an entry (``unable to
  find user foo: no matching entries in passwd file``);
- ``-u name`` takes the entry's group, and as supplementary groups every group whose
  member list names the user; ``-u name:group`` (or ``:group``) sets the group and no
  supplementary ones;
- ids must be in 0..2147483647;
- ``--group-add`` names or gids, looked up in /etc/group; a name that is not there fails.

Docker puts the primary group first in ``additionalGids`` too, then the supplementary
ones, then ``--group-add``'s.

HOME is the user's passwd home, ``/`` without an entry: Docker leaves HOME to runc,
which sets it so when the process environment has none.

The files are in a container's root filesystem, which the image controls: they are opened
with ``openat2(RESOLVE_IN_ROOT)`` so that a symlink (``/etc/passwd -> /etc/shadow`` of the
host, or ``../../..``) resolves inside the rootfs, never on the host; a file that is not
a regular file (a FIFO would block us) is taken as missing, and one larger than
``MAX_FILE_SIZE`` is refused.
"""

from __future__ import annotations

import errno
import os
import stat

from skiff.errors import EngineError, InvalidArgument
from skiff.linux.openat2 import open_in_root
from skiff.values import Value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

MIN_ID = 0
MAX_ID = (1 << 31) - 1
MAX_FILE_SIZE = 16 << 20
_RANGE_ERROR = f"uids and gids must be in range {MIN_ID}-{MAX_ID}"


class PasswdEntry(Value):
    FIELDS = ("name", "uid", "gid", "home")
    __slots__ = FIELDS

    def __init__(self, name: str, uid: int, gid: int, home: str) -> None:
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home


class GroupEntry(Value):
    FIELDS = ("name", "gid", "members")
    __slots__ = FIELDS

    def __init__(self, name: str, gid: int, members: tuple[str, ...]) -> None:
        self.name = name
        self.gid = gid
        self.members = members


class ExecUser(Value):
    """Who the process runs as: uid, gid, supplementary gids (``sgids``), home."""

    FIELDS = ("uid", "gid", "sgids", "home")
    __slots__ = FIELDS

    def __init__(self, uid: int, gid: int, sgids: tuple[int, ...], home: str) -> None:
        self.uid = uid
        self.gid = gid
        self.sgids = sgids
        self.home = home


def _atoi(text: str) -> int | None:
    """Go's ``strconv.Atoi``: an optional sign and decimal digits."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if not body or not body.isascii() or not body.isdigit():
        return None
    value = int(text)
    return value if -(1 << 63) <= value < (1 << 63) else None


def _fields(line: str, count: int) -> list[str]:
    parts = line.split(":")
    return (parts + [""] * count)[:count]


def parse_passwd(text: str) -> list[PasswdEntry]:
    """passwd lines (``name:pass:uid:gid:gecos:home:shell``); a bad number reads as 0,
    as runc reads it."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, uid, gid, _, home = _fields(line, 6)
        entries.append(PasswdEntry(name, _atoi(uid) or 0, _atoi(gid) or 0, home))
    return entries


def parse_group(text: str) -> list[GroupEntry]:
    """group lines (``name:pass:gid:member,member``); ``#`` comments skipped."""
    entries = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, gid, members = _fields(line, 4)
        entries.append(
            GroupEntry(name, _atoi(gid) or 0, tuple(members.split(",") if members else ()))
        )
    return entries


def read_rootfs_file(rootfs: str, path: str) -> str | None:
    """The text of ``path`` inside ``rootfs``, resolved as if ``rootfs`` were ``/``; None
    when it is missing or not a regular file."""
    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fd = open_in_root(root, path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV):
                return None
            raise
    finally:
        os.close(root)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_size > MAX_FILE_SIZE:
            raise EngineError(f"{path} in the container is too large ({st.st_size} bytes)")
        chunks = []
        total = 0
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
            if total > MAX_FILE_SIZE:
                raise EngineError(f"{path} in the container is too large")
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors="surrogateescape")


def get_exec_user(
    spec: str,
    passwd: list[PasswdEntry] | None,
    group: list[GroupEntry] | None,
    default_home: str = "",
) -> ExecUser:
    """runc's ``GetExecUser``: ``spec`` is "", ``user``, ``uid``, ``user:group``, ... ;
    None for a file that is missing."""
    user_arg, _, rest = spec.partition(":")
    group_arg = rest.split(":", 1)[0]
    uid_arg, gid_arg = _atoi(user_arg), _atoi(group_arg)
    uid, gid, home = 0, 0, default_home
    sgids: tuple[int, ...] = ()

    matched = None
    for entry in passwd or []:
        if (
            (not user_arg and entry.uid == uid)
            or (user_arg and uid_arg is not None and entry.uid == uid_arg)
            or (user_arg and uid_arg is None and entry.name == user_arg)
        ):
            matched = entry
            break
    if matched is not None:
        uid, gid, home = matched.uid, matched.gid, matched.home
    elif user_arg:
        if uid_arg is None:
            raise InvalidArgument(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        uid = uid_arg
        if not MIN_ID <= uid <= MAX_ID:
            raise InvalidArgument(_RANGE_ERROR)

    if group_arg or matched is not None:
        if group_arg:
            found = next(
                (
                    g
                    for g in group or []
                    if (g.gid == gid_arg if gid_arg is not None else g.name == group_arg)
                ),
                None,
            )
            if found is not None:
                gid = found.gid
            else:
                if gid_arg is None:
                    raise InvalidArgument(
                        f"unable to find group {group_arg}: no matching entries in group file"
                    )
                gid = gid_arg
                if not MIN_ID <= gid <= MAX_ID:
                    raise InvalidArgument(_RANGE_ERROR)
        else:
            assert matched is not None
            sgids = tuple(g.gid for g in group or [] if matched.name in g.members)
    return ExecUser(uid, gid, sgids, home)


def get_additional_groups(names: Iterable[str], group: list[GroupEntry] | None) -> list[int]:
    """``--group-add``: gids in the order asked, each once. runc returns them in a Go
    map's (random) order; a fixed order is as correct and testable."""
    gids: list[int] = []
    for name in names:
        found = next((g for g in group or [] if g.name == name or str(g.gid) == name), None)
        if found is not None:
            gid = found.gid
        else:
            parsed = _atoi(name)
            if parsed is None:
                raise InvalidArgument(
                    f"Unable to find group {name}: no matching entries in group file"
                )
            if not MIN_ID <= parsed <= MAX_ID:
                raise InvalidArgument(_RANGE_ERROR)
            gid = parsed
        if gid not in gids:
            gids.append(gid)
    return gids


class ResolvedUser(Value):
    """The OCI ``process.user`` fields and the HOME of a container's process."""

    FIELDS = ("uid", "gid", "additional_gids", "home")
    __slots__ = FIELDS

    def __init__(self, uid: int, gid: int, additional_gids: list[int], home: str) -> None:
        self.uid = uid
        self.gid = gid
        self.additional_gids = additional_gids
        self.home = home

    def __hash__(self) -> int:
        return hash((self.uid, self.gid, tuple(self.additional_gids), self.home))

    def oci(self) -> dict[str, object]:
        return {"uid": self.uid, "gid": self.gid, "additionalGids": list(self.additional_gids)}


def resolve_user(
    spec: str,
    group_add: Iterable[str] = (),
    passwd_text: str | None = None,
    group_text: str | None = None,
) -> ResolvedUser:
    """Docker's ``getUser`` on the given file contents (None: missing file)."""
    passwd = parse_passwd(passwd_text) if passwd_text is not None else None
    group = parse_group(group_text) if group_text is not None else None
    user = get_exec_user(spec, passwd, group)
    extra = get_additional_groups(list(group_add), group) if group_add else []
    # HOME as runc sets it: the passwd home of the uid, "/" without an entry.
    home = next((e.home for e in passwd or [] if e.uid == user.uid), "/")
    return ResolvedUser(user.uid, user.gid, [user.gid, *user.sgids, *extra], home)


def resolve_user_in_rootfs(rootfs: str, spec: str, group_add: Iterable[str] = ()) -> ResolvedUser:
    """``resolve_user`` against the rootfs's /etc/passwd and /etc/group, read safely."""
    return resolve_user(
        spec,
        group_add,
        read_rootfs_file(rootfs, "/etc/passwd"),
        read_rootfs_file(rootfs, "/etc/group"),
    )
