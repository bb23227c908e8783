"""The layer tar reader and writer against Python's tarfile (producer and reader)."""

import hashlib
import io
import os
import tarfile

import pytest

from skiff.images import tarstream
from skiff.images.tarstream import TarFormatError, TarReader, TarWriter


def build(members, fmt=tarfile.PAX_FORMAT, tail=b""):
    """A tar made by tarfile from (TarInfo, data) pairs, plus ``tail`` bytes."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue() + tail


def info(name, kind=tarfile.REGTYPE, data=None, **attrs):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    if data is not None:
        ti.size = len(data)
    for key, value in attrs.items():
        setattr(ti, key, value)
    return ti, data


def read_all(data, **kwargs):
    reader = TarReader(io.BytesIO(data), **kwargs)
    members = []
    while (m := reader.next()) is not None:
        body = reader.read_data(m) if m.type in (b"0", b"\0") else None
        members.append((m, body))
    return members, reader


# -- numbers and records -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (b"0000644\0", 0o644),
        (b"0000644 ", 0o644),
        (b" 644 \0\0\0", 0o644),
        (b"00000000017\0", 15),
        (b"\0\0\0\0\0\0\0\0", 0),
        (b"", 0),
        (b"\x80\0\0\0\0\0\0\x01\0\0\0\0", 1 << 32),  # GNU base-256, positive
        (b"\x80" + (3_000_000).to_bytes(7, "big"), 3_000_000),
        (b"\xff" * 11 + b"\xfe", -2),  # base-256, two's complement negative
    ],
)
def test_parse_number(field, value):
    assert tarstream.parse_number(field) == value


def test_parse_number_rejects_garbage():
    with pytest.raises(TarFormatError):
        tarstream.parse_number(b"12x4\0")


def test_parse_pax_records():
    data = b"".join(
        tarstream._pax_record(k, v)
        for k, v in [(b"path", b"a" * 200), (b"SCHILY.xattr.user.x", b"line1\nline2=\0")]
    )
    assert tarstream.parse_pax(data) == {
        b"path": b"a" * 200,
        b"SCHILY.xattr.user.x": b"line1\nline2=\0",
    }


@pytest.mark.parametrize(
    "data", [b"8 path=x\n", b"30 path=x\n", b"x path=abc\n", b"6 pathx\n", b"8 path=x"]
)
def test_parse_pax_rejects_bad_records(data):
    with pytest.raises(TarFormatError):
        tarstream.parse_pax(data)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        (b"1700000000", 1_700_000_000_000_000_000),
        (b"1700000000.5", 1_700_000_000_500_000_000),
        (b"1.123456789123", 1_123_456_789),
        (b"-1.5", -1_500_000_000),
        (b"0", 0),
    ],
)
def test_parse_pax_time(text, ns):
    assert tarstream.parse_pax_time(text) == ns


@pytest.mark.parametrize("text", [b"", b"abc", b"1.x", b"1.-5"])
def test_parse_pax_time_rejects(text):
    with pytest.raises(TarFormatError):
        tarstream.parse_pax_time(text)


# -- headers -----------------------------------------------------------------------------


def test_ustar_header_with_prefix():
    name = "d" * 90 + "/" + "f" * 90  # needs the ustar prefix field, no PAX
    data = build(
        [info(name, data=b"x", mode=0o4755, uid=7, gid=8, mtime=1234)], tarfile.USTAR_FORMAT
    )
    m = tarstream.parse_header(data)
    assert (m.name, m.type, m.mode, m.uid, m.gid, m.size) == (name.encode(), b"0", 0o4755, 7, 8, 1)
    assert m.mtime == 1234 * 10**9


def test_header_checksum_is_checked():
    data = bytearray(build([info("file", data=b"x")], tarfile.USTAR_FORMAT))
    data[10] ^= 1
    with pytest.raises(TarFormatError, match="checksum"):
        tarstream.parse_header(data)


def test_signed_checksum_accepted():
    """Old tars summed the header as signed chars: a name byte >= 0x80 makes them differ."""
    data = bytearray(build([info("caf\xe9", data=b"")], tarfile.USTAR_FORMAT))
    header = data[:512]
    signed = sum(b - 256 if b > 127 else b for b in header[:148] + b" " * 8 + header[156:])
    data[148:156] = b"%06o\0 " % signed
    assert tarstream.parse_header(data).name == "café".encode()


def test_device_numbers():
    data = build([info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=1)], tarfile.USTAR_FORMAT)
    m = tarstream.parse_header(data)
    assert (m.type, m.devmajor, m.devminor) == (b"4", 8, 1)


# -- the reader ----------------------------------------------------------------------------


def test_reader_pax_extensions():
    long_name = "/".join(["directory-" + str(i) * 20 for i in range(12)])  # > 256 bytes
    long_link = "target/" + "t" * 150
    ti, _ = info(long_name, data=b"hello", uid=5_000_000, gid=6_000_000)
    ti.pax_headers = {
        "mtime": "1700000000.25",
        "atime": "1700000100.5",
        "SCHILY.xattr.user.comment": "hi",
        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
    }
    members, _ = read_all(build([(ti, b"hello"), info("sym", tarfile.SYMTYPE, linkname=long_link)]))
    (m, body), (s, _) = members
    assert m.name == long_name.encode() and body == b"hello"
    assert (m.uid, m.gid) == (5_000_000, 6_000_000)
    assert m.mtime == 1_700_000_000_250_000_000
    assert m.atime == 1_700_000_100_500_000_000
    assert m.xattrs == {b"user.comment": b"hi", b"security.capability": b"\x01\x00\x00\x02"}
    assert s.type == b"2" and s.linkname == long_link.encode()


def test_reader_gnu_longname_longlink_and_base256():
    long_name = "n" * 150 + "/file"
    long_link = "l" * 150
    members, _ = read_all(
        build(
            [
                info(long_name, data=b"data", uid=3_000_000, gid=2**31),
                info("hard", tarfile.LNKTYPE, linkname=long_link),
            ],
            tarfile.GNU_FORMAT,
        )
    )
    (m, body), (h, _) = members
    assert m.name == long_name.encode() and body == b"data"
    assert (m.uid, m.gid) == (3_000_000, 2**31)  # base-256 fields
    assert h.type == b"1" and h.linkname == long_link.encode()


def test_reader_matches_tarfile_on_a_mixed_archive():
    members = [
        info("dir/", tarfile.DIRTYPE, mode=0o1777),
        info("dir/a", data=os.urandom(70000), mode=0o600),
        info("dir/empty", data=b""),
        info("dir/link", tarfile.LNKTYPE, linkname="dir/a"),
        info("fifo", tarfile.FIFOTYPE),
        info("chr", tarfile.CHRTYPE, devmajor=1, devminor=3),
        info("big", data=os.urandom(3 << 20)),
    ]
    data = build(members)
    ours, reader = read_all(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        theirs = tf.getmembers()
        bodies = [tf.extractfile(t).read() if t.isreg() else None for t in theirs]
    assert [m.name.decode().rstrip("/") for m, _ in ours] == [t.name for t in theirs]
    assert [m.mode for m, _ in ours] == [t.mode for t in theirs]
    assert [m.size for m, _ in ours] == [t.size for t in theirs]
    assert [b for _, b in ours] == bodies
    last = theirs[-1]
    assert reader.drain() == last.offset_data + (last.size + 511) // 512 * 512 + 1024


def test_reader_copies_to_a_file_and_skips_unread_data(tmp_path):
    payload = os.urandom(300_000)
    data = build([info("a", data=payload), info("b", data=b"bbb"), info("c", data=b"ccc")])
    reader = TarReader(io.BytesIO(data), buffer_size=4096)
    a = reader.next()
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        reader.copy_data(a, fd)
    finally:
        os.close(fd)
    assert (tmp_path / "out").read_bytes() == payload
    assert reader.next().name == b"b"  # data of b not read: skipped
    c = reader.next()
    assert reader.read_data(c) == b"ccc"
    assert reader.next() is None


@pytest.mark.parametrize("buffer_size", [512, 4096, 1 << 20])
def test_reader_source_fd_mode(tmp_path, buffer_size):
    payload = os.urandom(200_000)
    tar = build([info("x", data=b"small"), info("y", data=payload), info("z", data=b"zz")])
    path = tmp_path / "blob"
    path.write_bytes(b"J" * 1000 + tar)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.lseek(fd, 17, os.SEEK_SET)
        reader = TarReader(None, source_fd=fd, source_offset=1000, buffer_size=buffer_size)
        got = {}
        while (m := reader.next()) is not None:
            out = tmp_path / m.name.decode()
            wfd = os.open(out, os.O_WRONLY | os.O_CREAT)
            try:
                reader.copy_data(m, wfd)
            finally:
                os.close(wfd)
            got[m.name] = out.read_bytes()
        assert os.lseek(fd, 0, os.SEEK_CUR) == 17  # position neither used nor moved
    finally:
        os.close(fd)
    assert got == {b"x": b"small", b"y": payload, b"z": b"zz"}


def test_reader_drains_the_stream_for_the_callers_hash():
    data = build([info("a", data=b"a")], tail=b"\0" * 10240 + b"trailing")
    stream = io.BytesIO(data)
    reader = TarReader(stream)
    while reader.next() is not None:
        pass
    end = reader.drain()
    assert stream.read() == b""  # everything read, trailing bytes included
    assert end == 4 * 512  # header, data block, the two zero blocks


def test_reader_accepts_missing_end_marker():
    data = build([info("a", data=b"a")])[:1024]  # header + data, no zero blocks
    members, _ = read_all(data)
    assert [m.name for m, _ in members] == [b"a"]


def test_reader_global_header_ignored():
    ti, _ = info("a", data=b"")
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}
    ) as tf:
        tf.addfile(ti, io.BytesIO(b""))
    members, _ = read_all(buf.getvalue())
    assert [m.name for m, _ in members] == [b"a"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b\x08" + b"\0" * 1021, "checksum"),  # a gzip stream, not decompressed
        (None, "unexpected end"),
    ],
)
def test_reader_errors(data, message):
    if data is None:
        data = build([info("a", data=b"x" * 5000)])[:2048]  # truncated inside the data
    with pytest.raises(TarFormatError, match=message):
        read_all(data)


def test_reader_refuses_sparse_files():
    ti, _ = info("sparse", data=b"")
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0"}
    with pytest.raises(TarFormatError, match="sparse"):
        read_all(build([(ti, b"")]))


# -- the writer ----------------------------------------------------------------------------


def write(entries):
    out = io.BytesIO()
    h = hashlib.sha256()
    w = TarWriter(out, on_write=h.update)
    for name, kind, kwargs, data in entries:
        w.add(name, kind, **kwargs)
        if data:
            w.write_data(data)
            w.end_data(len(data))
    w.close()
    assert h.hexdigest() == hashlib.sha256(out.getvalue()).hexdigest()
    assert w.size == len(out.getvalue())
    return out.getvalue()


def test_writer_output_reads_back_with_tarfile():
    long_name = b"x/" * 80 + b"leaf"
    entries = [
        (b"dir/", b"5", {"mode": 0o755, "mtime": 1700000000}, None),
        (b"dir/f", b"0", {"mode": 0o4755, "uid": 1000, "gid": 1000, "size": 3}, b"abc"),
        (long_name, b"0", {"size": 1, "uid": 3_000_000}, b"z"),
        (b"ln", b"2", {"linkname": b"t" * 300}, None),
        (b"hl", b"1", {"linkname": b"dir/f"}, None),
        (b"c", b"3", {"devmajor": 5, "devminor": 1}, None),
        (b"x", b"0", {"xattrs": {b"user.a": b"1", b"security.capability": b"\x00\x01"}}, None),
        (b"old", b"0", {"mtime": -100}, None),
    ]
    data = write(entries)
    assert len(data) % 512 == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {t.name: t for t in tf.getmembers()}
        assert tf.extractfile("dir/f").read() == b"abc"
    assert got["dir"].isdir() and got["dir"].mtime == 1700000000
    assert got["dir/f"].mode == 0o4755 and (got["dir/f"].uid, got["dir/f"].uname) == (1000, "")
    assert got[long_name.decode()].uid == 3_000_000
    assert got["ln"].linkname == "t" * 300
    assert got["hl"].islnk() and got["hl"].linkname == "dir/f"
    assert got["c"].ischr() and (got["c"].devmajor, got["c"].devminor) == (5, 1)
    assert got["x"].pax_headers["SCHILY.xattr.user.a"] == "1"
    assert got["old"].mtime == -100
    # our reader agrees
    members, _ = read_all(data)
    assert [m.name for m, _ in members] == [e[0] for e in entries]
    assert members[6][0].xattrs == {b"user.a": b"1", b"security.capability": b"\x00\x01"}


def test_writer_is_deterministic():
    entries = [(b"a", b"0", {"xattrs": {b"user.b": b"2", b"user.a": b"1"}, "size": 1}, b"q")]
    assert write(entries) == write(entries)


class Trickle(io.RawIOBase):
    """A stream that returns a few bytes at a time, as decompressors may."""

    def __init__(self, data, seed):
        self.data = memoryview(data)
        self.pos = 0
        self.rnd = __import__("random").Random(seed)

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.rnd.randint(1, 700), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos : self.pos + n]
        self.pos += n
        return n


@pytest.mark.parametrize("buffer_size", [512, 1536, 65536])
@pytest.mark.parametrize("source", ["trickle", "fd"])
def test_reader_random_archive_any_buffer(tmp_path, buffer_size, source):
    import random

    rnd = random.Random(buffer_size)
    members = []
    for i in range(150):
        size = rnd.choice([0, 1, 511, 512, 513, rnd.randint(0, 5000), rnd.randint(60000, 200000)])
        name = f"d{i % 7}/" + "n" * rnd.choice([1, 99, 150, 300]) + str(i)
        ti, data = info(name, data=rnd.randbytes(size))
        if i % 5 == 0:
            ti.pax_headers = {"SCHILY.xattr.user.i": str(i) * rnd.randint(1, 900)}
        members.append((ti, data))
    fmt = tarfile.PAX_FORMAT if buffer_size != 1536 else tarfile.GNU_FORMAT  # GNU: no xattrs
    data = build(members, fmt)
    if source == "trickle":
        reader = TarReader(Trickle(data, buffer_size), buffer_size=buffer_size)
    else:
        (tmp_path / "blob").write_bytes(b"x" * 7 + data)
        fd = os.open(tmp_path / "blob", os.O_RDONLY)
        reader = TarReader(None, source_fd=fd, source_offset=7, buffer_size=buffer_size)
    try:
        for i, (ti, body) in enumerate(members):
            m = reader.next()
            assert m.name == ti.name.encode()
            if i % 3 == 0:
                continue  # leave the data unread: next() skips it
            out = tmp_path / "out"
            wfd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            try:
                reader.copy_data(m, wfd)
            finally:
                os.close(wfd)
            assert out.read_bytes() == body
            if i % 5 == 0 and fmt == tarfile.PAX_FORMAT:
                assert m.xattrs == {b"user.i": ti.pax_headers["SCHILY.xattr.user.i"].encode()}
        assert reader.next() is None
    finally:
        if source == "fd":
            os.close(fd)


def test_reader_libarchive_xattrs():
    ti, _ = info("f", data=b"")
    ti.pax_headers = {"LIBARCHIVE.xattr.user.a%3Db": "dmFsdWU"}  # base64 "value", unpadded
    ((m, _),) = read_all(build([(ti, b"")]))[0]
    assert m.xattrs == {b"user.a=b": b"value"}


def test_reader_accepts_a_stream_that_ends_right_after_the_last_data():
    """No padding and no end marker after the last member's data (the docker CLI's build
    context with a Dockerfile from outside it): the archive ends there, as Go reads it;
    a stream that ends inside the padding is truncated."""
    whole = build([info("a", data=b"x" * 600), info("b", data=b"tail")])
    cut = whole[: 512 + 1024 + 512 + 4]  # a's header, data and padding; b's header and data
    members, _ = read_all(cut)
    assert [(m.name, data) for m, data in members] == [(b"a", b"x" * 600), (b"b", b"tail")]
    reader = TarReader(io.BytesIO(cut))
    assert [m.name for m in iter(reader.next, None)] == [b"a", b"b"]  # data skipped
    assert reader.drain() == len(cut)
    with pytest.raises(TarFormatError, match="unexpected end"):
        read_all(cut + b"\0" * 10)
