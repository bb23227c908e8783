"""The control files of one cgroup directory: read and write them; failures name the OCI field."""

import os

from skiff.errors import InvalidArgument


class WriteError(InvalidArgument):
    """A control file refused a value; ``errno`` says why (some writes are retried on EINVAL)."""

    def __init__(self, message: str, errno: int | None) -> None:
        super().__init__(message)
        self.errno = errno


class CgroupDir:
    """One cgroup's directory in one hierarchy."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"CgroupDir({self.path!r})"

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def has(self, name: str) -> bool:
        return os.path.exists(self.file(name))

    def read(self, name: str) -> str:
        with open(self.file(name)) as f:
            return f.read().strip()

    def read_int(self, name: str) -> int:
        """An integer file; ``max`` (no limit) reads as 0, as runc reports it; missing as 0."""
        try:
            value = self.read(name)
        except FileNotFoundError:
            return 0
        return 0 if value in ("max", "") else int(value)

    def read_keyed(self, name: str) -> dict[str, int]:
        """A flat keyed file (``key value`` lines, e.g. memory.stat); missing reads as {}."""
        try:
            text = self.read(name)
        except FileNotFoundError:
            return {}
        result: dict[str, int] = {}
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                result[key] = int(value)
        return result

    def write(self, name: str, value: str, field: str) -> None:
        self._write(name, [value], field)

    def write_lines(self, name: str, lines: list[str], field: str) -> None:
        """One write(2) per line: files such as io.max or rdma.max take one entry a call."""
        self._write(name, [line + "\n" for line in lines], field)

    def _write(self, name: str, chunks: list[str], field: str) -> None:
        try:
            fd = os.open(self.file(name), os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except FileNotFoundError:
            raise WriteError(f"{field}: {name} not available in {self.path}", None) from None
        except OSError as e:
            raise WriteError(f"{field}: open {self.file(name)}: {e.strerror}", e.errno) from None
        try:
            for chunk in chunks:
                try:
                    os.write(fd, chunk.encode())
                except OSError as e:
                    value = chunk.strip()
                    message = f"{field}: write {value!r} to {self.file(name)}: {e.strerror}"
                    raise WriteError(message, e.errno) from None
        finally:
            os.close(fd)
