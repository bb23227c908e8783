"""Bad input: a one-line error, a non-zero exit, and nothing left behind."""

import json
import subprocess

import pytest

from tests.support.leaks import Snapshot


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_nothing_left(runtime, cid, before):
    assert not (runtime.root / cid).exists()
    assert not Snapshot.take().leaks_since(before)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda s: s["process"].__setitem__("args", "sh"), "process.args"),
        (lambda s: s["process"].__setitem__("cwd", 7), "process.cwd"),
        (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces"),
        (lambda s: s["mounts"][0].__setitem__("options", "ro"), "mounts[0].options"),
        (
            lambda s: s["process"]["capabilities"]["bounding"].append("CAP_FLY"),
            "process.capabilities.bounding",
        ),
        (
            lambda s: s["linux"]["resources"].__setitem__("memory", {"limit": "lots"}),
            "linux.resources.memory.limit",
        ),
    ],
)
def test_invalid_config_names_the_field(skiff_runtime, make_bundle, mutate, fragment):
    bundle = make_bundle("true")
    mutate(bundle.spec)
    before = Snapshot.take()
    result = skiff_runtime.run(bundle)
    assert_one_line_error(result, "config.json", fragment)
    assert_nothing_left(skiff_runtime, "c1", before)


def test_invalid_json(skiff_runtime, make_bundle):
    bundle = make_bundle("true")
    (bundle.path / "config.json").write_text("{not json")
    result = skiff_runtime("create", "--bundle", str(bundle.path), "c1")
    assert_one_line_error(result, "config.json", "invalid JSON")
    assert not (skiff_runtime.root / "c1").exists()


def test_missing_rootfs(runtime, make_bundle):
    bundle = make_bundle("true")
    bundle.spec["root"]["path"] = "no-such-rootfs"
    before = Snapshot.take()
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert "no-such-rootfs" in result.stderr
    assert_nothing_left(runtime, "c1", before)


def test_unknown_namespace(runtime, make_bundle):
    bundle = make_bundle("true")
    bundle.spec["linux"]["namespaces"].append({"type": "bogus"})
    before = Snapshot.take()
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert "bogus" in result.stderr
    assert_nothing_left(runtime, "c1", before)


def test_duplicate_id(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("create", "--bundle", str(bundle.path), "c1")
    pid = runtime.state("c1")["pid"]
    result = runtime("create", "--bundle", str(bundle.path), "c1")
    assert result.returncode != 0
    assert "exists" in result.stderr
    # the first container is untouched
    assert runtime.state("c1")["status"] == "created"
    assert runtime.state("c1")["pid"] == pid


def test_start_of_stopped_container(runtime, make_bundle):
    bundle = make_bundle("true").write()
    runtime.ok("run", "--keep", "--bundle", str(bundle.path), "c1")
    assert runtime.state("c1")["status"] == "stopped"
    result = runtime("start", "c1")
    assert result.returncode != 0
    assert "stopped" in result.stderr
    runtime.ok("delete", "c1")


def test_unknown_signal(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    result = runtime("kill", "c1", "SIGNOPE")
    assert result.returncode != 0
    assert "signal" in result.stderr.lower()
    assert runtime.state("c1")["status"] == "running"


def test_delete_running_without_force(runtime, make_bundle):
    bundle = make_bundle("sleep", "1000").write()
    runtime.ok("run", "-d", "--bundle", str(bundle.path), "c1")
    result = runtime("delete", "c1")
    assert result.returncode != 0
    assert "running" in result.stderr
    assert runtime.state("c1")["status"] == "running"


def test_rlimit_above_hard_limit(runtime, make_bundle):
    with open("/proc/self/limits") as f:
        hard = int(next(line for line in f if line.startswith("Max open files")).split()[4])
    bundle = make_bundle("true")
    bundle.spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard * 64}]
    before = Snapshot.take()
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert "RLIMIT_NOFILE" in result.stderr or "rlimit" in result.stderr
    assert_nothing_left(runtime, "c1", before)


def test_error_in_json_log(skiff_runtime, make_bundle, tmp_path):
    bundle = make_bundle("true")
    bundle.spec["linux"]["namespaces"].append({"type": "bogus"})
    bundle.write()
    log = tmp_path / "log.json"
    result = subprocess.run(
        [
            skiff_runtime.binary,
            "--root",
            str(skiff_runtime.root),
            "--log",
            str(log),
            "--log-format",
            "json",
            "create",
            "--bundle",
            str(bundle.path),
            "c1",
        ],
        capture_output=True,
        text=True,
    )
    line = assert_one_line_error(result, "bogus")
    entries = [json.loads(x) for x in log.read_text().splitlines()]
    assert entries[-1]["level"] == "error"
    assert "bogus" in entries[-1]["msg"]
    assert entries[-1]["msg"] in line
    assert "time" in entries[-1]


def test_failing_mount_cleans_up(runtime, make_bundle):
    bundle = make_bundle("true")
    bundle.spec["mounts"].append(
        {"destination": "/data", "type": "bind", "source": "/no/such/source", "options": ["rbind"]}
    )
    before = Snapshot.take()
    result = runtime.run(bundle)
    assert result.returncode != 0
    assert "/no/such/source" in result.stderr or "no such file" in result.stderr.lower()
    assert_nothing_left(runtime, "c1", before)
