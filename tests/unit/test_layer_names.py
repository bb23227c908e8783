"""Layer member names: normalisation as Docker does it, refusal of escapes, whiteout names."""

import pytest

from skiff.errors import InvalidArgument
from skiff.images.layer import LayerError, normalize_name, whiteout_target


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (b"etc/passwd", b"etc/passwd"),
        (b"./etc/passwd", b"etc/passwd"),
        (b"/etc/passwd", b"etc/passwd"),  # Docker strips the leading slash
        (b"//etc//passwd", b"etc/passwd"),
        (b"etc/", b"etc"),
        (b"etc/./x/", b"etc/x"),
        (b"a/b/../c", b"a/c"),
        (b"a/..", b""),
        (b"./", b""),
        (b".", b""),
        (b"/", b""),
        (b".hidden/.wh.x", b".hidden/.wh.x"),
        (b"a/...", b"a/..."),
        (b"..foo/bar", b"..foo/bar"),
        (b"/../", None),
        (b"..", None),
        (b"../x", None),
        (b"a/../../x", None),
        (b"/a/../../etc/passwd", None),
        (b"./../x", None),
        (b"a/b/../../..", None),
        (b"a\0b", None),
    ],
)
def test_normalize_name(name, expected):
    if expected is None:
        with pytest.raises(ValueError):
            normalize_name(name)
    else:
        assert normalize_name(name) == expected


@pytest.mark.parametrize(
    ("base", "hidden"),
    [(b".wh.file", b"file"), (b".wh..hidden", b".hidden"), (b".wh..wh..opq", None)],
)
def test_whiteout_target(base, hidden):
    assert whiteout_target(base) == hidden


@pytest.mark.parametrize("base", [b".wh.", b".wh..", b".wh...", b".wh..wh.plnk", b".wh..wh..opqx"])
def test_invalid_whiteouts(base):
    with pytest.raises(ValueError):
        whiteout_target(base)


def test_layer_error_is_an_invalid_argument():
    assert issubclass(LayerError, InvalidArgument)
    assert LayerError.http_status == 400
