"""Compose files to one checked document, as docker compose reads them.

- Each file is YAML (anchors and ``<<`` merges included); where each key sits is kept, so
  an error can name the file and the line.
- Variables are substituted in values from the environment and the project's ``.env``
  (or ``--env-file``), the environment winning; see ``interpolation``.
- The document is validated against the compose specification's JSON schema
  (../shared/specs/compose-spec.json, shipped as skiff/data/compose-spec.json).
- Several files (``-f a -f b``) merge in order: mappings key by key, the service lists
  that accumulate (ports, expose, dns, cap_add...) appended, volumes by target, anything
  else replaced by the later file.
- The project's name is ``-p``, else ``COMPOSE_PROJECT_NAME``, else the top-level
  ``name``, else the project directory's name, lowercased to ``[a-z0-9_-]``.
"""

from __future__ import annotations

import os
import re

from skiff.compose.interpolation import interpolate
from skiff.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

    Path = tuple[str | int, ...]

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
# Service keys whose lists add up across files rather than replace each other.
APPENDED = frozenset(
    ("ports", "expose", "external_links", "dns", "dns_search", "dns_opt", "cap_add",
     "cap_drop", "devices", "security_opt", "tmpfs", "env_file", "extra_hosts", "secrets",
     "configs", "group_add", "profiles")
)  # fmt: skip


class ComposeError(InvalidArgument):
    """A compose file that cannot be used; the message names the file and line."""


class Document:
    """One file's content and the line of each key (by its path in the document)."""

    def __init__(self, path: str, data: dict[str, Any], lines: dict[Path, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path``, or of its nearest parent that has one."""
        key = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return None


def read_document(path: str) -> Document:
    """Parse one compose file (YAML), keeping each key's line."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ComposeError(f"open {path}: no such file or directory") from None
    loader = _loader()(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e)
        raise ComposeError(f"yaml: {where}: {problem}") from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ComposeError(f"{path}: top-level object must be a mapping")
    lines: dict[Path, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return Document(path, data, lines)


def _loader() -> type[Any]:
    """PyYAML's safe loader with YAML 1.2's plain scalars, as Go's YAML (docker compose's)
    reads them: ``22:22`` is a string, not the base-60 integer 1342, and ``yes``, ``no``,
    ``on`` and ``off`` are strings, not booleans."""
    import yaml

    global _LOADER
    if _LOADER is None:

        class Loader(yaml.SafeLoader):
            pass

        int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
        bool_tag = "tag:yaml.org,2002:bool"
        Loader.yaml_implicit_resolvers = {
            first: [
                (tag, regexp)
                for tag, regexp in resolvers
                if tag not in (int_tag, float_tag, bool_tag)
            ]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }
        Loader.add_implicit_resolver(
            bool_tag, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
        )
        Loader.add_implicit_resolver(
            int_tag,
            re.compile(
                r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"
            ),
            list("-+0123456789"),
        )
        Loader.add_implicit_resolver(
            float_tag,
            re.compile(
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
            ),
            list("-+0123456789."),
        )
        _LOADER = Loader
    return _LOADER


_LOADER: type[Any] | None = None


def _record_lines(node: Any, path: Path, lines: dict[Path, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                child = (*path, key.value)
                lines[child] = key.start_mark.line + 1
                _record_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            lines[child] = item.start_mark.line + 1
            _record_lines(item, child, lines)


# --- the environment -----------------------------------------------------------------


def read_env_file(path: str) -> dict[str, str]:
    """A ``.env`` file: ``KEY=value`` lines, ``#`` comments, optional ``export``, values
    in single quotes (literal) or double quotes (with ``\\n``-style escapes)."""
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            line = line.removeprefix("export ").lstrip()
            key, equals, value = line.partition("=")
            key = key.strip()
            if not equals:
                raise ComposeError(f"{path}:{number}: unexpected character in variable name")
            if not key or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
                raise ComposeError(f"{path}:{number}: invalid variable name {key!r}")
            values[key] = _env_value(value.strip())
    return values


def _env_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        return (
            inner.replace("\\n", "\n")
            .replace("\\t", "\t")
            .replace('\\"', '"')
            .replace("\\\\", "\\")
        )
    return re.sub(r"\s+#.*$", "", value)


def environment(
    project_dir: str, env_files: Sequence[str], environ: Mapping[str, str]
) -> dict[str, str]:
    """What variables mean: ``env_files`` (default: the project's ``.env`` if there is
    one), overridden by ``environ``."""
    values: dict[str, str] = {}
    files = list(env_files) or [p for p in [os.path.join(project_dir, ".env")] if os.path.isfile(p)]
    for path in files:
        if not os.path.isfile(path):
            raise ComposeError(f"couldn't find env file: {os.path.abspath(path)}")
        values.update(read_env_file(path))
    values.update(environ)
    return values


# --- merging and validating --------------------------------------------------------------


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` (a later file) merged into ``base``."""
    result = dict(base)
    for key, value in override.items():
        if key == "services" and isinstance(value, dict):
            services = dict(result.get("services") or {})
            for name, service in value.items():
                before = services.get(name)
                services[name] = (
                    merge_service(before, service)
                    if isinstance(before, dict) and isinstance(service, dict)
                    else service
                )
            result["services"] = services
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


def merge_service(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    result = dict(base)
    for key, value in override.items():
        before = result.get(key)
        if key in APPENDED and isinstance(before, list) and isinstance(value, list):
            result[key] = before + [v for v in value if v not in before]
        elif key == "volumes" and isinstance(before, list) and isinstance(value, list):
            kept = {_volume_target(v): v for v in before}
            kept.update({_volume_target(v): v for v in value})
            result[key] = list(kept.values())
        elif key in ("environment", "labels", "extra_hosts") and before is not None:
            result[key] = {**as_mapping(before), **as_mapping(value)}
        elif isinstance(value, dict) and isinstance(before, dict):
            result[key] = {**before, **value}
        else:
            result[key] = value
    return result


def _volume_target(volume: Any) -> str:
    if isinstance(volume, dict):
        return str(volume.get("target", ""))
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def scalar_text(value: Any) -> str:
    """A YAML scalar as compose-go prints it: ``true``, ``1`` for 1.0, ``1.5``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_mapping(value: Any) -> dict[str, str | None]:
    """A ``list_or_dict`` (``environment``, ``labels``, ``args``...): ``KEY=value`` items
    or a mapping; None for a key given without a value."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): None if v is None else scalar_text(v) for k, v in value.items()}
    result: dict[str, str | None] = {}
    for item in value:
        key, equals, text = str(item).partition("=")
        result[key] = text if equals else None
    return result


def validate(document: dict[str, Any], source: Document) -> None:
    """The merged document against the compose specification; the first error with the
    file and line of the key it is about."""
    import jsonschema

    schema = _schema()
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = min(errors, key=lambda e: len(list(e.absolute_path)))
    path = list(error.absolute_path)
    where = ".".join(str(p) for p in path) or "(root)"
    line = source.line(path + _extra_keys(error)[:1])
    location = f"{source.path}:{line}" if line else source.path
    raise ComposeError(f"validating {location}: {where} {_message(error)}")


def _extra_keys(error: Any) -> list[str]:
    """The keys an ``additionalProperties`` error is about (extensions ``x-`` are fine)."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    allowed = set(error.schema.get("properties") or {})
    patterns = list(error.schema.get("patternProperties") or {})
    return sorted(
        key
        for key in error.instance
        if key not in allowed and not any(re.search(p, str(key)) for p in patterns)
    )


def _message(error: Any) -> str:
    extra = _extra_keys(error)
    if extra:
        return f"additional properties {', '.join(map(repr, extra))} not allowed"
    if error.validator == "type":
        expected = error.validator_value
        kinds = expected if isinstance(expected, list) else [expected]
        return f"must be a {' or '.join(kinds)}"
    return str(error.message)


def _schema() -> dict[str, Any]:
    import json

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "compose-spec.json")
    with open(path, encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


# --- the project ---------------------------------------------------------------------


def project_name(
    explicit: str, document: dict[str, Any], project_dir: str, env: Mapping[str, str]
) -> str:
    name = explicit or env.get("COMPOSE_PROJECT_NAME") or document.get("name") or ""
    if not name:
        name = os.path.basename(os.path.abspath(project_dir))
    normalized = re.sub(r"[^a-z0-9_-]", "", name.lower())
    if not normalized or not re.match(r"^[a-z0-9]", normalized):
        raise ComposeError(
            f"project name {name!r} must contain only lowercase letters, digits, dashes and"
            " underscores, and start with a letter or digit"
        )
    return normalized


def find_files(cwd: str) -> list[str]:
    """The default compose file of ``cwd`` or its nearest parent that has one."""
    directory = os.path.abspath(cwd)
    while True:
        for name in DEFAULT_FILES:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return [path]
        parent = os.path.dirname(directory)
        if parent == directory:
            raise ComposeError("no configuration file provided: not found")
        directory = parent


class Loaded:
    """What ``load`` read: the project's ``name`` and ``directory``, the merged
    ``document``, the ``environ`` its variables came from, and its ``files``."""

    def __init__(
        self,
        name: str,
        directory: str,
        document: dict[str, Any],
        environ: dict[str, str],
        files: list[str],
    ) -> None:
        self.name = name
        self.directory = directory
        self.document = document
        self.environ = environ
        self.files = files


def load(
    files: Sequence[str],
    *,
    project: str = "",
    env_files: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    cwd: str = ".",
) -> Loaded:
    """Read, substitute, merge and validate ``files`` (the default one if none)."""
    paths = [os.path.abspath(f) for f in files] or find_files(cwd)
    project_dir = os.path.dirname(paths[0])
    env = environment(project_dir, env_files, dict(os.environ if environ is None else environ))
    merged: dict[str, Any] = {}
    for path in paths:
        source = read_document(path)
        data = interpolate(source.data, env)
        validate(data, source)
        merged = merge(merged, data)
    return Loaded(project_name(project, merged, project_dir, env), project_dir, merged, env, paths)
