"""Reading compose files: variable substitution, .env files, merging several files,
validation against the compose specification (with the file and line), project names."""

from __future__ import annotations

from pathlib import Path

import pytest

from skiff.compose.interpolation import InterpolationError, interpolate, substitute
from skiff.compose.loader import ComposeError, load, merge, read_env_file

ENV = {"SET": "value", "EMPTY": "", "PORT": "8080"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("plain", "plain"),
        ("$SET", "value"),
        ("${SET}", "value"),
        ("a-${SET}-b", "a-value-b"),
        ("$UNSET", ""),
        ("${UNSET:-default}", "default"),
        ("${EMPTY:-default}", "default"),
        ("${EMPTY-default}", ""),
        ("${UNSET-default}", "default"),
        ("${SET:-default}", "value"),
        ("${SET:+replaced}", "replaced"),
        ("${EMPTY:+replaced}", ""),
        ("${EMPTY+replaced}", "replaced"),
        ("${UNSET+replaced}", ""),
        ("$$SET", "$SET"),
        ("$${SET}", "${SET}"),
        ("${UNSET:-${PORT}}", "8080"),
        ("${UNSET:-${ALSO_UNSET:-deep}}", "deep"),
        ("127.0.0.1:${PORT}:80", "127.0.0.1:8080:80"),
        ("${SET}${PORT}", "value8080"),
        ("$SET.txt", "value.txt"),
    ],
)
def test_substitution(template: str, expected: str) -> None:
    assert substitute(template, ENV) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("${UNSET:?must be set}", "required variable UNSET is missing a value: must be set"),
        ("${EMPTY:?must be set}", "required variable EMPTY is missing a value: must be set"),
        ("${UNSET?}", "required variable UNSET is missing a value"),
        ("${}", 'Invalid template: "${}"'),
        ("${SET", 'Invalid template: "${SET"'),
        ("$", 'Invalid template: "$"'),
        ("${SET:-x", 'Invalid template: "${SET:-x"'),
        ("${SET*}", 'Invalid template: "${SET*}"'),
    ],
)
def test_substitution_errors(template: str, message: str) -> None:
    with pytest.raises(InterpolationError) as error:
        substitute(template, ENV)
    assert str(error.value) == message


def test_empty_value_is_set_for_the_question_mark_without_colon() -> None:
    assert substitute("${EMPTY?required}", ENV) == ""


def test_only_values_are_substituted_and_other_types_stay() -> None:
    document = {"$SET": ["$PORT", 3, True, None, {"k": "${SET}"}]}
    assert interpolate(document, ENV) == {"$SET": ["8080", 3, True, None, {"k": "value"}]}


def test_env_file_syntax(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# a comment\n"
        "\n"
        "PLAIN=value\n"
        "export EXPORTED=yes\n"
        "SINGLE='literal $HOME \\n'\n"
        'DOUBLE="line\\nbreak \\"quoted\\""\n'
        "SPACED = padded  \n"
        "TRAILING=value # comment\n"
        "EMPTY=\n"
    )
    assert read_env_file(str(path)) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "SINGLE": "literal $HOME \\n",
        "DOUBLE": 'line\nbreak "quoted"',
        "SPACED": "padded",
        "TRAILING": "value",
        "EMPTY": "",
    }


def test_env_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("GOOD=1\nno equals sign\n")
    with pytest.raises(ComposeError, match=r"\.env:2: "):
        read_env_file(str(path))


def _write(directory: Path, name: str, text: str) -> str:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return str(path)


def test_load_substitutes_from_dot_env_and_environment_wins(tmp_path: Path) -> None:
    project = tmp_path / "My-App"
    compose = _write(
        project,
        "compose.yaml",
        "services:\n  web:\n    image: ${IMAGE}\n    ports: ['${PORT}:80']\n",
    )
    _write(project, ".env", "IMAGE=busybox\nPORT=8000\n")
    loaded = load([compose], environ={"PORT": "9000"})
    name, directory, document = loaded.name, loaded.directory, loaded.document
    assert name == "my-app"
    assert directory == str(project)
    assert document["services"]["web"] == {"image": "busybox", "ports": ["9000:80"]}


def test_env_file_flag_replaces_dot_env_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    compose = _write(tmp_path / "p", "compose.yaml", "services:\n  web:\n    image: ${IMAGE}\n")
    _write(tmp_path / "p", ".env", "IMAGE=from-dot-env\n")
    other = _write(tmp_path, "other.env", "IMAGE=from-flag\n")
    document = load([compose], env_files=[other], environ={}).document
    assert document["services"]["web"]["image"] == "from-flag"
    with pytest.raises(ComposeError, match=r"couldn't find env file: .*/missing\.env"):
        load([compose], env_files=[str(tmp_path / "missing.env")], environ={})


def test_an_unknown_key_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    compose = _write(
        tmp_path, "compose.yaml", "services:\n  web:\n    image: busybox\n    imgae: typo\n"
    )
    with pytest.raises(ComposeError) as error:
        load([compose], environ={})
    assert str(error.value) == (
        f"validating {compose}:4: services.web additional properties 'imgae' not allowed"
    )


def test_a_wrong_type_is_named_with_its_file_and_line(tmp_path: Path) -> None:
    compose = _write(
        tmp_path, "compose.yaml", "services:\n  web:\n    image: busybox\n    ports: 80\n"
    )
    with pytest.raises(ComposeError) as error:
        load([compose], environ={})
    assert str(error.value) == f"validating {compose}:4: services.web.ports must be a array"


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    compose = _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: [busybox\n")
    with pytest.raises(ComposeError, match=rf"^yaml: {compose}:\d+: "):
        load([compose], environ={})


def test_a_missing_required_variable_fails_before_anything(tmp_path: Path) -> None:
    compose = _write(
        tmp_path, "compose.yaml", "services:\n  web:\n    image: ${IMAGE:?an image is needed}\n"
    )
    with pytest.raises(InterpolationError, match="IMAGE is missing a value: an image is needed"):
        load([compose], environ={})


def test_several_files_merge_in_order(tmp_path: Path) -> None:
    base = _write(
        tmp_path,
        "compose.yaml",
        "services:\n"
        "  web:\n"
        "    image: busybox\n"
        "    command: [sleep, '1']\n"
        "    ports: ['80:80']\n"
        "    environment: {A: '1', B: '2'}\n"
        "    volumes: ['data:/data', './a:/a']\n"
        "volumes:\n  data: {}\n",
    )
    override = _write(
        tmp_path,
        "override.yaml",
        "services:\n"
        "  web:\n"
        "    command: [sleep, '2']\n"
        "    ports: ['443:443']\n"
        "    environment: [B=3, C=4]\n"
        "    volumes: ['./b:/a']\n"
        "  worker:\n"
        "    image: busybox\n",
    )
    document = load([base, override], environ={}).document
    web = document["services"]["web"]
    assert web["command"] == ["sleep", "2"]
    assert web["ports"] == ["80:80", "443:443"]
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert web["volumes"] == ["data:/data", "./b:/a"]
    assert set(document["services"]) == {"web", "worker"}
    assert document["volumes"] == {"data": {}}


def test_merge_replaces_a_service_that_is_not_a_mapping_on_both_sides() -> None:
    assert merge({"services": {"a": {"image": "x"}}}, {"services": {"b": {"image": "y"}}}) == {
        "services": {"a": {"image": "x"}, "b": {"image": "y"}}
    }


@pytest.mark.parametrize(
    ("explicit", "environ", "top", "directory", "expected"),
    [
        ("Given", {}, "", "dir", "given"),
        ("", {"COMPOSE_PROJECT_NAME": "FromEnv"}, "top", "dir", "fromenv"),
        ("", {}, "Top.Name", "dir", "topname"),
        ("", {}, "", "My App", "myapp"),
    ],
)
def test_project_name(
    tmp_path: Path, explicit: str, environ: dict[str, str], top: str, directory: str, expected: str
) -> None:
    text = (f"name: {top}\n" if top else "") + "services:\n  web:\n    image: busybox\n"
    compose = _write(tmp_path / directory, "compose.yaml", text)
    name = load([compose], project=explicit, environ=environ).name
    assert name == expected


def test_default_file_is_found_in_a_parent_directory(tmp_path: Path) -> None:
    _write(tmp_path / "app", "docker-compose.yml", "services:\n  web:\n    image: busybox\n")
    (tmp_path / "app" / "sub" / "deeper").mkdir(parents=True)
    loaded = load([], cwd=str(tmp_path / "app" / "sub" / "deeper"), environ={})
    name, directory = loaded.name, loaded.directory
    assert (name, directory) == ("app", str(tmp_path / "app"))


def test_no_file_anywhere_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ComposeError, match="no configuration file provided: not found"):
        load([], cwd=str(tmp_path), environ={})


def test_base_60_numbers_are_strings_as_in_go_yaml(tmp_path: Path) -> None:
    compose = _write(
        tmp_path,
        "compose.yaml",
        "services:\n  web:\n    image: busybox\n    ports: [22:22, 1:30]\n",
    )
    assert load([compose], environ={}).document["services"]["web"]["ports"] == ["22:22", "1:30"]


def test_the_environment_and_files_are_kept(tmp_path: Path) -> None:
    compose = _write(tmp_path, "compose.yaml", "services:\n  web:\n    image: busybox\n")
    _write(tmp_path, ".env", "FROM_DOT_ENV=1\n")
    loaded = load([compose], environ={"OTHER": "2"})
    assert loaded.environ == {"FROM_DOT_ENV": "1", "OTHER": "2"}
    assert loaded.files == [compose]
