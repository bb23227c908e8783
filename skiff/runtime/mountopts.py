"""Mount options of the OCI spec, parsed into mount(2) flags, propagation and data."""

from __future__ import annotations

from skiff.linux import mount as m

# option -> (clear?, flag)
_FLAGS: dict[str, tuple[bool, int]] = {
    "acl": (False, m.MS_POSIXACL),
    "async": (True, m.MS_SYNCHRONOUS),
    "atime": (True, m.MS_NOATIME),
    "bind": (False, m.MS_BIND),
    "defaults": (False, 0),
    "dev": (True, m.MS_NODEV),
    "diratime": (True, m.MS_NODIRATIME),
    "dirsync": (False, m.MS_DIRSYNC),
    "exec": (True, m.MS_NOEXEC),
    "iversion": (False, m.MS_I_VERSION),
    "lazytime": (False, m.MS_LAZYTIME),
    "loud": (True, m.MS_SILENT),
    "mand": (False, m.MS_MANDLOCK),
    "noacl": (True, m.MS_POSIXACL),
    "noatime": (False, m.MS_NOATIME),
    "nodev": (False, m.MS_NODEV),
    "nodiratime": (False, m.MS_NODIRATIME),
    "noexec": (False, m.MS_NOEXEC),
    "noiversion": (True, m.MS_I_VERSION),
    "nolazytime": (True, m.MS_LAZYTIME),
    "nomand": (True, m.MS_MANDLOCK),
    "norelatime": (True, m.MS_RELATIME),
    "nostrictatime": (True, m.MS_STRICTATIME),
    "nosuid": (False, m.MS_NOSUID),
    "nosymfollow": (False, m.MS_NOSYMFOLLOW),
    "rbind": (False, m.MS_BIND | m.MS_REC),
    "relatime": (False, m.MS_RELATIME),
    "remount": (False, m.MS_REMOUNT),
    "ro": (False, m.MS_RDONLY),
    "rw": (True, m.MS_RDONLY),
    "silent": (False, m.MS_SILENT),
    "strictatime": (False, m.MS_STRICTATIME),
    "suid": (True, m.MS_NOSUID),
    "sync": (False, m.MS_SYNCHRONOUS),
    "symfollow": (True, m.MS_NOSYMFOLLOW),
}

PROPAGATION: dict[str, int] = {
    "private": m.MS_PRIVATE,
    "rprivate": m.MS_PRIVATE | m.MS_REC,
    "shared": m.MS_SHARED,
    "rshared": m.MS_SHARED | m.MS_REC,
    "slave": m.MS_SLAVE,
    "rslave": m.MS_SLAVE | m.MS_REC,
    "unbindable": m.MS_UNBINDABLE,
    "runbindable": m.MS_UNBINDABLE | m.MS_REC,
}

# Recursive mount attributes (mount_setattr with AT_RECURSIVE): option -> (clear?, attr)
_RECURSIVE: dict[str, tuple[bool, int]] = {
    "rro": (False, m.MOUNT_ATTR_RDONLY),
    "rrw": (True, m.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, m.MOUNT_ATTR_NOSUID),
    "rsuid": (True, m.MOUNT_ATTR_NOSUID),
    "rnodev": (False, m.MOUNT_ATTR_NODEV),
    "rdev": (True, m.MOUNT_ATTR_NODEV),
    "rnoexec": (False, m.MOUNT_ATTR_NOEXEC),
    "rexec": (True, m.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, m.MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, m.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, m.MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, m.MOUNT_ATTR_NOSYMFOLLOW),
}
# The atime options are one field: setting one clears the others.
_RECURSIVE_ATIME = {
    "rrelatime": m.MOUNT_ATTR_RELATIME,
    "rnorelatime": m.MOUNT_ATTR_RELATIME,  # relatime is the kernel default when cleared
    "rnoatime": m.MOUNT_ATTR_NOATIME,
    "ratime": m.MOUNT_ATTR_RELATIME,
    "rstrictatime": m.MOUNT_ATTR_STRICTATIME,
    "rnostrictatime": m.MOUNT_ATTR_RELATIME,
}


class MountOptions:
    """An OCI mount's options: mount(2) flags and data, propagation, recursive attributes."""

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.data: list[str] = []
        self.attr_set = 0
        self.attr_clr = 0
        self.tmpcopyup = False

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & m.MS_BIND)

    @property
    def data_string(self) -> str | None:
        return ",".join(self.data) or None


def parse(options: list[str]) -> MountOptions:
    result = MountOptions()
    for option in options:
        if option in _FLAGS:
            clear, flag = _FLAGS[option]
            if clear:
                result.flags &= ~flag
            else:
                result.flags |= flag
        elif option in PROPAGATION:
            result.propagation.append(PROPAGATION[option])
        elif option in _RECURSIVE:
            clear, attr = _RECURSIVE[option]
            if clear:
                result.attr_clr |= attr
                result.attr_set &= ~attr
            else:
                result.attr_set |= attr
                result.attr_clr &= ~attr
        elif option in _RECURSIVE_ATIME:
            result.attr_clr |= m.MOUNT_ATTR__ATIME
            result.attr_set = (result.attr_set & ~m.MOUNT_ATTR__ATIME) | _RECURSIVE_ATIME[option]
        elif option == "tmpcopyup":
            result.tmpcopyup = True
        else:
            result.data.append(option)
    return result


def known_options() -> set[str]:
    """Every option this parser gives a meaning (others pass through as mount data)."""
    return set(_FLAGS) | set(PROPAGATION) | set(_RECURSIVE) | set(_RECURSIVE_ATIME) | {"tmpcopyup"}
