"""A container's log: conmon's k8s-file format on disk, read the way ``docker logs`` reads.

conmon writes one record a line, ``<RFC 3339 local time with nanoseconds> <stdout|stderr>
<F|P> <text>``: ``P`` marks a piece of a line (conmon read it without its newline), ``F``
the piece that ends it. skiff keeps that format on disk; ``--log-driver json-file`` (the
default) means it, ``--log-driver none`` means no log at all (conmon's ``none`` driver).

Reading, as Docker's json-file reader does:

- pieces of one line are joined; the line's time is its last piece's (Docker stamps a
  line when its copier has it whole);
- ``since``/``until`` (nanoseconds, both inclusive) *seek*: records are in time order, so a
  binary search over byte offsets finds the first line at or after ``since`` in a few
  reads, however big the file;
- ``tail`` reads backwards from the end, a block at a time;
- ``follow`` reads on until the container stops, then drains what is left. It waits with
  inotify on the log's directory (and on the directory where the exit file appears), so
  a new line or the exit is seen at once, and it reopens the file when conmon rotates it.

Rotation: conmon's ``--log-size-max`` starts the file afresh (truncating it) when the next
record would pass the limit; it keeps no older files. ``--log-opt max-size`` sets that
limit; ``max-file N`` is accepted and gives the one file N times max-size (the disk budget
Docker's N files would have). Without options the cap is :data:`DEFAULT_MAX_SIZE` times
:data:`DEFAULT_MAX_FILE` (Docker's ``local`` driver defaults: 5 files of 20 MB), so no
container fills a disk.
"""

from __future__ import annotations

import os
import time

from skiff.errors import EngineError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator, Sequence
    from typing import Any, BinaryIO

    from skiff.engine.containers import Container
    from skiff.engine.engine import Engine
    from skiff.linux.inotify import Watcher

BLOCK = 64 * 1024
DEFAULT_MAX_SIZE = 20_000_000
DEFAULT_MAX_FILE = 5
NOT_READABLE = "configured logging driver does not support reading"


# --- records and lines --------------------------------------------------------------------


class Record:
    """One line of the file: a whole line of output (F) or a piece of one (P)."""

    __slots__ = ("offset", "partial", "stream", "text", "time")

    def __init__(self, time: bytes, stream: str, partial: bool, text: bytes, offset: int = 0):
        self.time = time
        self.stream = stream
        self.partial = partial
        self.text = text
        self.offset = offset  # where the record starts in its file


def parse_line(line: bytes, offset: int = 0) -> Record | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[2] not in (b"F", b"P"):
        return None
    text = parts[3] if len(parts) == 4 else b""
    return Record(parts[0], parts[1].decode(), parts[2] == b"P", text, offset)


def nanos(stamp: bytes) -> int:
    """Unix time in nanoseconds of an RFC 3339 time (``2024-01-02T03:04:05.123+01:00``)."""
    from skiff.engine.timestamps import unix_seconds

    text = stamp.decode()
    date = (int(text[0:4]), int(text[5:7]), int(text[8:10]))
    seconds = unix_seconds(*date, int(text[11:13]), int(text[14:16]), int(text[17:19]))
    rest = text[19:]
    fraction = 0
    if rest[:1] == ".":
        end = 1
        while end < len(rest) and rest[end].isdigit():
            end += 1
        fraction = int(rest[1:end][:9].ljust(9, "0"))
        rest = rest[end:]
    if rest[:1] in ("+", "-"):
        offset = (int(rest[1:3]) * 60 + int(rest[4:6])) * 60
        seconds -= offset if rest[0] == "+" else -offset
    return seconds * 1_000_000_000 + fraction


def _nanos_or_none(stamp: bytes) -> int | None:
    try:
        return nanos(stamp)
    except (ValueError, IndexError, UnicodeDecodeError):
        return None


class Line:
    """A line of a container's output: its pieces joined, with a newline unless the output
    ended without one; the time of its last piece."""

    __slots__ = ("stream", "text", "time")

    def __init__(self, stream: str, text: bytes, time: bytes) -> None:
        self.stream = stream
        self.text = text
        self.time = time

    def nanos(self) -> int:
        return nanos(self.time)

    def timestamp(self) -> str:
        """Docker's ``-t``: RFC 3339 in UTC with nine fraction digits."""
        stamp = self.time.decode()
        if stamp.endswith("+00:00") and len(stamp) == 35:  # conmon's form, already UTC
            return stamp[:-6] + "Z"
        from skiff.engine.timestamps import rfc3339_nano

        return rfc3339_nano(self.nanos())


# --- finding where to start -----------------------------------------------------------------


def _first_line(fd: int, pos: int, limit: int) -> tuple[int, bytes] | None:
    """The first complete line that starts in ``[pos, limit)``: its offset and bytes."""
    at = pos - 1 if pos > 0 else 0  # a line starts at 0 or just after a newline
    data = b""
    start = 0 if pos == 0 else -1
    while True:
        chunk = os.pread(fd, 32768, at + len(data))
        if not chunk:
            return None  # no line starts there, or the last record is still being written
        data += chunk
        if start < 0:
            newline = data.find(b"\n")
            if newline < 0:
                at, data = at + len(data), b""
                continue
            start, data = at + newline + 1, data[newline + 1 :]
            at = start
            if start >= limit:
                return None
        end = data.find(b"\n")
        if end >= 0:
            return start, data[:end]


def since_offset(fd: int, size: int, since: int) -> int:
    """Where the first record at or after ``since`` starts (``size`` if none): a binary
    search over offsets, then a scan of at most one block."""
    lo, hi = 0, size
    while hi - lo > BLOCK:
        mid = (lo + hi) // 2
        found = _first_line(fd, mid, hi)
        if found is None:
            hi = mid
            continue
        start, line = found
        record = parse_line(line)
        stamp = _nanos_or_none(record.time) if record else None
        if stamp is None or stamp < since:
            lo = start + len(line) + 1
        else:
            hi = mid
    position = lo
    if lo > 0:
        found = _first_line(fd, lo, size)
        if found is None:
            return size
        position = found[0]
    while position < size:
        data = os.pread(fd, BLOCK, position)
        end = data.rfind(b"\n") + 1
        if end == 0:
            found = _first_line(fd, position, size)  # one line longer than a block
            if found is None:
                return size
            data = found[1] + b"\n"
            end = len(data)
        for line in data[:end].split(b"\n")[:-1]:
            record = parse_line(line)
            stamp = _nanos_or_none(record.time) if record else None
            if stamp is not None and stamp >= since:
                return position
            position += len(line) + 1
    return size


def _lines_backward(fd: int, end: int) -> Iterator[tuple[int, bytes]]:
    """The complete lines before ``end``, last first, with their offsets."""
    pos = end
    carry = b""  # the start of a line cut by the previous (later) block, with its newline
    first = True
    while pos > 0:
        lo = max(0, pos - BLOCK)
        data = os.pread(fd, pos - lo, lo) + carry
        if first:
            data = data[: data.rfind(b"\n") + 1]  # drop a record still being written
            first = False
        parts = data.split(b"\n")
        lines = parts[1:-1] if lo > 0 else parts[:-1]
        carry = parts[0] + b"\n" if lo > 0 else b""
        at = lo + len(data)
        for line in reversed(lines):
            at -= len(line) + 1
            yield at, line
        pos = lo


def tail_offset(fd: int, size: int, count: int) -> int:
    """Where the last ``count`` lines start: after the (count+1)-th line end from the end
    (a record marked F ends a line; pieces at the very end count as one line)."""
    if count == 0:
        return size
    seen = 0
    last = True
    for start, line in _lines_backward(fd, size):
        record = parse_line(line)
        if record is None:
            continue
        if last:
            last = False
            if record.partial:
                seen = 1
        if not record.partial:
            if seen == count:
                return start + len(line) + 1
            seen += 1
    return 0


def _group_start(fd: int, start: int) -> int:
    """Back from ``start`` to the first piece of any line that ``start`` cuts (a stream
    whose last record before ``start`` is a P piece), looking back one block at most."""
    if start == 0:
        return 0
    begin = start
    open_streams: dict[str, bool] = {}
    for offset, line in _lines_backward(fd, start):
        if start - offset > BLOCK:
            break
        record = parse_line(line)
        if record is None:
            continue
        state = open_streams.get(record.stream)
        if state is None or state:
            open_streams[record.stream] = record.partial
            if record.partial:
                begin = offset
        if len(open_streams) >= 2 and not any(open_streams.values()):
            break
    return begin


# --- reading --------------------------------------------------------------------------------


def records(
    path: str,
    offset: int = 0,
    follow: Callable[[], bool] | None = None,
    wake: Sequence[str] = (),
) -> Iterator[Record]:
    """The records of a log from ``offset``. With ``follow``, keep reading while
    ``follow()`` is true, then drain; changes in the log's directory and in the ``wake``
    directories (where the exit file appears) end each wait at once."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by _read)
    except FileNotFoundError:
        return iter(())
    return _read(f, path, offset, follow, wake)


def _read(
    f: BinaryIO,
    path: str,
    offset: int,
    follow: Callable[[], bool] | None,
    wake: Sequence[str],
) -> Generator[Record, None, None]:
    """``records`` from an open file, which it closes."""
    watcher = None
    try:
        fd = f.fileno()
        os.lseek(fd, offset, os.SEEK_SET)
        position = offset
        buffer = b""
        draining = False
        while True:
            chunk = os.read(fd, 1 << 20)
            if chunk:
                data = buffer + chunk
                end = data.rfind(b"\n") + 1
                buffer = data[end:]
                for line in data[:end].split(b"\n")[:-1]:
                    record = parse_line(line, position)
                    position += len(line) + 1
                    if record is not None:
                        yield record
                continue
            if follow is None:
                return
            replacement = _rotated(path, fd)
            if replacement is not None:
                f.close()
                f, fd, position, buffer = replacement, replacement.fileno(), 0, b""
                continue
            if draining:
                return
            if not follow():
                draining = True
                continue
            if watcher is None:
                watcher = _watch([os.path.dirname(path), *wake])
            # Without a directory where the end shows, ``follow()`` is asked 50 times a second.
            timeout = 1.0 if wake else 0.02
            if watcher is None:
                time.sleep(timeout)
            else:
                watcher.wait(timeout)
    finally:
        f.close()
        if watcher is not None:
            watcher.close()


def _rotated(path: str, fd: int) -> BinaryIO | None:
    """The log's new file if conmon replaced it since ``fd`` was opened, else None."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return None
    if current.st_ino == os.fstat(fd).st_ino:
        return None
    try:
        return open(path, "rb")
    except FileNotFoundError:
        return None


def _watch(directories: Sequence[str]) -> Watcher | None:
    """An inotify watcher of the directories, or None where inotify is not available."""
    from skiff.linux import inotify

    try:
        watcher = inotify.Watcher()
    except OSError:
        return None
    mask = inotify.IN_MODIFY | inotify.IN_CREATE | inotify.IN_MOVED_TO | inotify.IN_DELETE
    mask |= inotify.IN_CLOSE_WRITE | inotify.IN_DELETE_SELF
    for directory in directories:
        try:
            watcher.watch(directory, mask)
        except OSError:
            continue
    return watcher


def lines(
    path: str,
    since: int | None = None,
    until: int | None = None,
    tail: int | None = None,
    follow: Callable[[], bool] | None = None,
    wake: Sequence[str] = (),
) -> Iterator[Line]:
    """The lines of a log, as ``docker logs`` gives them: from the last ``tail`` lines
    (None or negative: all) and from ``since``, up to ``until`` (nanoseconds, inclusive);
    with ``follow``, on until ``follow()`` is false (and ``until`` passes)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed by _read)
    except FileNotFoundError:
        return
    try:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        start = 0
        if tail is not None and tail >= 0:
            start = tail_offset(fd, size, tail)
        if since is not None:
            start = max(start, since_offset(fd, size, since))
        begin = _group_start(fd, start)
    except BaseException:
        f.close()
        raise
    keep_following = follow
    if follow is not None and until is not None:

        def keep_following() -> bool:
            return follow() and time.time_ns() <= until

    pending: dict[str, list[bytes]] = {}
    checking_since = since is not None
    skipping = begin < start  # records before start: only pieces of lines cut by it
    last_time = b""
    reader = _read(f, path, begin, keep_following, wake)
    for record in reader:
        if record.partial:
            pending.setdefault(record.stream, []).append(record.text)
            last_time = record.time
            continue
        pieces = pending.pop(record.stream, None)
        if skipping:
            if record.offset < start:
                continue  # a line that ended before the start
            skipping = False
        text = b"".join(pieces) + record.text if pieces else record.text
        if checking_since or until is not None:
            stamp = _nanos_or_none(record.time)
            if stamp is not None:
                if checking_since and since is not None and stamp < since:
                    continue
                checking_since = False
                if until is not None and stamp > until:
                    reader.close()
                    return
        yield Line(record.stream, text + b"\n", record.time)
    for stream, pieces in pending.items():
        yield Line(stream, b"".join(pieces), last_time)


# --- a container's log ----------------------------------------------------------------------


def size_limit(options: dict[str, Any]) -> int:
    """The size at which conmon starts the log afresh (see the module doc)."""
    from skiff.engine.options import from_human_size

    opts = options.get("log_opts") or {}
    if options.get("log_driver") == "k8s-file" and "max-size" not in opts:
        return 0  # the kubelet rotates a CRI log
    if "max-size" in opts:
        size, files = from_human_size(opts["max-size"]), 1
    else:
        size, files = DEFAULT_MAX_SIZE, DEFAULT_MAX_FILE
    if "max-file" in opts:
        files = int(opts["max-file"])
    return size * max(files, 1)


def file_path(options: dict[str, Any]) -> str:
    """Where the log is when it is not in the container's directory (``k8s-file``'s
    ``path``: the kubelet's LogPath), else ""."""
    return str((options.get("log_opts") or {}).get("path", ""))


def enabled(options: dict[str, Any]) -> bool:
    """Whether the container has a log (``--log-driver none`` has none)."""
    return options.get("log_driver") != "none"


class ContainerLog:
    """What ``logs`` reads for one container: its log file, whether it still runs, and
    the attributes ``--details`` shows."""

    def __init__(self, engine: Engine, container: Container) -> None:
        from skiff.engine.filesystem import ContainerFiles

        if not enabled(container.options):
            raise EngineError(NOT_READABLE)
        self.engine = engine
        self.container = container
        self.directory = ContainerFiles(engine.paths, container.id).dir
        paths = engine.monitor_paths(container)
        self.path = paths.log
        self.exit_file = paths.exit_file

    def running(self) -> bool:
        """Until the monitor records the exit (or the container is removed)."""
        return not os.path.exists(self.exit_file) and os.path.isdir(self.directory)

    def lines(
        self,
        since: int | None = None,
        until: int | None = None,
        tail: int | None = None,
        follow: bool = False,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> Iterator[Line]:
        """The log's lines (see :func:`lines`); ``follow`` goes on while the container runs
        and, once it stopped, until the engine has recorded it (a ``logs -f`` that ended
        leaves a container that ``rm`` and ``ps`` see as exited), or until ``cancelled()``
        (its reader went away)."""
        following = follow and bool(self.container.state.get("Running")) and self.running()

        def go_on() -> bool:
            return self.running() and not cancelled()

        yield from lines(
            self.path,
            since,
            until,
            tail,
            go_on if following else None,
            wake=(os.path.dirname(self.exit_file),),
        )
        if following and not self.running():
            try:
                self.engine.wait(self.container.id, timeout=10)
            except EngineError:
                pass

    def attributes(self) -> dict[str, str]:
        """The ``labels``/``env`` (and ``-regex``) log options' values: what ``--details``
        prints before each line."""
        import re

        opts = self.container.options.get("log_opts") or {}
        labels: dict[str, str] = self.container.options.get("labels") or {}
        found: dict[str, str] = {}
        for key in filter(None, opts.get("labels", "").split(",")):
            if key in labels:
                found[key] = labels[key]
        if opts.get("labels-regex"):
            pattern = re.compile(opts["labels-regex"])
            found |= {k: v for k, v in labels.items() if pattern.search(k)}
        if opts.get("env") or opts.get("env-regex"):
            env = self._env()
            for key in filter(None, opts.get("env", "").split(",")):
                if key in env:
                    found[key] = env[key]
            if opts.get("env-regex"):
                pattern = re.compile(opts["env-regex"])
                found |= {k: v for k, v in env.items() if pattern.search(k)}
        return found

    def _env(self) -> dict[str, str]:
        image = self.engine.images.get(self.container.image_id)
        env: dict[str, str] = {}
        for item in [*(image.config.get("Env") or []), *self.container.options.get("env", [])]:
            key, sep, value = item.partition("=")
            if sep:
                env[key] = value
        return env


def details_prefix(attributes: dict[str, str]) -> bytes:
    """``k=v,k2=v2 `` (keys sorted, query-escaped) as ``logs --details`` prints it."""
    from urllib.parse import quote_plus

    pairs = [f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted(attributes.items())]
    return (",".join(pairs) + " ").encode()
