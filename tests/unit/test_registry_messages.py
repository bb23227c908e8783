"""Docker's JSON progress messages and progress bar, as dockerd streams them to the docker CLI
(moby's pkg/jsonmessage: a 50-column bar, sizes in decimal units)."""

import io
import json

from skiff.registry.messages import JSONProgress, bar, human, message


def test_sizes_are_decimal_with_four_significant_digits():
    assert [human(n) for n in (0, 999, 1000, 1234567, 12_345_678_901)] == [
        "0B",
        "999B",
        "1kB",
        "1.235MB",
        "12.35GB",
    ]


def test_the_bar_is_fifty_columns_with_an_arrow_until_full():
    half = bar(50, 100)
    assert half.startswith("[" + "=" * 25 + ">" + " " * 24 + "]")
    assert half.endswith("     50B/100B")
    assert bar(100, 100).startswith("[" + "=" * 50 + "]")
    assert bar(0, 100).startswith("[>" + " " * 49 + "]")
    assert bar(7, 0) == "7B"  # no total: just the bytes


def test_a_message_has_progress_only_when_bytes_moved():
    assert message("abc", "Pull complete") == {"status": "Pull complete", "id": "abc"}
    moving = message("abc", "Downloading", 512, 1024)
    assert moving["progressDetail"] == {"current": 512, "total": 1024}
    assert moving["progress"] == bar(512, 1024)
    assert message("", "Digest: sha256:x") == {"status": "Digest: sha256:x"}


def test_json_progress_writes_one_json_document_a_line():
    out = io.BytesIO()
    progress = JSONProgress(out)
    progress.report("abc", "Pulling fs layer")
    progress.report("abc", "Downloading", 10, 20)
    progress.report("", "")  # the pull's start signal is not a message
    lines = out.getvalue().split(b"\r\n")
    assert lines[-1] == b""
    assert [json.loads(line) for line in lines[:-1]] == [
        {"status": "Pulling fs layer", "id": "abc"},
        {
            "status": "Downloading",
            "progressDetail": {"current": 10, "total": 20},
            "progress": bar(10, 20),
            "id": "abc",
        },
    ]
