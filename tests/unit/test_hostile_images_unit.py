"""The checks skiff makes on hostile images without touching the disk: image config field
types (Docker's Go types), the layer limit, deep JSON, and data after a layer's end
(tests/security/test_hostile_images.py feeds the same through load and pull)."""

import io
import json
import tarfile

import pytest

from skiff.errors import InvalidArgument
from skiff.images import manifest as manifests
from skiff.images.layer import TRAILING_LIMIT, LayerError, apply_layer

DIFF_ID = "sha256:" + "0" * 64


def config(**fields: object) -> bytes:
    value = {"architecture": "amd64", "os": "linux"}
    value.update(fields)  # type: ignore[arg-type]
    value.setdefault("rootfs", {"type": "layers", "diff_ids": [DIFF_ID]})
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"config": {"User": 0}}, "config.User: expected a string, got a number"),
        ({"config": {"Env": "A=b"}}, "config.Env: expected an array of strings, got a string"),
        ({"config": {"Env": ["A=b", None]}}, "config.Env: expected an array of strings"),
        ({"config": {"Cmd": {"a": 1}}}, "config.Cmd: expected an array of strings, got an object"),
        ({"config": {"Labels": {"a": True}}}, "config.Labels: expected an object of strings"),
        ({"config": {"Volumes": {"/v": 1}}}, "config.Volumes: expected an object of objects"),
        ({"config": {"ExposedPorts": {"65536": {}}}}, "invalid port '65536'"),
        ({"config": {"ExposedPorts": {"80/icmp": {}}}}, "invalid port '80/icmp'"),
        ({"config": {"ExposedPorts": {"-1/tcp": {}}}}, "invalid port '-1/tcp'"),
        ({"config": {"Healthcheck": {"Retries": 1.5}}}, "config.Healthcheck.Retries: expected an"),
        ({"config": {"Tty": 1}}, "config.Tty: expected a boolean, got a number"),
        ({"container_config": {"Env": 5}}, "container_config.Env"),
        ({"config": "x"}, "config: expected an object, got a string"),
        ({"history": [{"empty_layer": "yes"}]}, "history[0].empty_layer: expected a boolean"),
        ({"history": {}}, "history: expected an array, got an object"),
        ({"os.features": "x"}, "os.features: expected an array of strings"),
    ],
)
def test_config_fields_of_the_wrong_type_are_named(fields: dict, message: str):
    with pytest.raises(InvalidArgument) as error:
        manifests.parse_config(config(**fields))
    assert str(error.value).startswith("image config: ")
    assert message in str(error.value)


def test_docker_configs_pass_and_nulls_are_allowed():
    parsed = manifests.parse_config(
        config(
            created="2024-01-01T00:00:00Z",
            config={
                "User": "1000:1000",
                "Env": ["PATH=/bin"],
                "Cmd": None,
                "Entrypoint": ["/init"],
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "9000": {}, "7/sctp": None},
                "Volumes": {"/data": {}},
                "Labels": {"a": "b"},
                "Healthcheck": {"Test": ["CMD", "true"], "Interval": 10**9, "Retries": 3},
                "StopTimeout": 10,
                "OnBuild": None,
                "ArgsEscaped": True,
                "Unknown": {"ignored": [1]},
            },
            container_config=None,
            history=[{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": True}],
        )
    )
    assert parsed["config"]["Entrypoint"] == ["/init"]


def test_a_string_cmd_entrypoint_or_shell_is_a_one_element_list_as_docker_reads_it():
    parsed = manifests.parse_config(
        config(config={"Cmd": "echo hi", "Entrypoint": "/bin/sh", "Shell": "/bin/bash"})
    )
    assert parsed["config"]["Cmd"] == ["echo hi"]
    assert parsed["config"]["Entrypoint"] == ["/bin/sh"]
    assert parsed["config"]["Shell"] == ["/bin/bash"]


def test_the_layer_limit_is_125():
    rootfs = {"type": "layers", "diff_ids": [DIFF_ID] * 125}
    manifests.parse_config(config(rootfs=rootfs))
    rootfs["diff_ids"].append(DIFF_ID)
    with pytest.raises(InvalidArgument, match=r"^image config: 126 layers, more than the 125"):
        manifests.parse_config(config(rootfs=rootfs))
    layer = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": DIFF_ID, "size": 1}
    manifest = {
        "schemaVersion": 2,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": DIFF_ID,
            "size": 1,
        },
        "layers": [layer] * 126,
    }
    with pytest.raises(InvalidArgument, match=r"^manifest: 126 layers, .*\(max depth exceeded\)$"):
        manifests.parse_manifest(json.dumps(manifest).encode())


def test_json_nested_past_the_stack_is_invalid_json_not_a_recursion_error():
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        manifests.parse_config(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        manifests.parse_index(b'{"manifests":' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def _small_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("a")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"a"))
    return buffer.getvalue()


class Counting(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0

    def read(self, n: int | None = -1) -> bytes:
        data = super().read(n)
        self.served += len(data)
        return data


def test_data_after_the_end_of_a_layer_is_read_up_to_the_limit(tmp_path):
    tar = _small_tar()
    ok = tmp_path / "ok"
    ok.mkdir()
    apply_layer(io.BytesIO(tar + b"\0" * (TRAILING_LIMIT - len(tar))), str(ok))
    assert (ok / "a").read_bytes() == b"a"
    bad = tmp_path / "bad"
    bad.mkdir()
    stream = Counting(tar + b"\0" * (4 * TRAILING_LIMIT))
    with pytest.raises(
        LayerError, match=f"^more than {TRAILING_LIMIT} bytes of data after the end"
    ):
        apply_layer(stream, str(bad))
    assert stream.served < TRAILING_LIMIT + (2 << 20)  # it stopped there
