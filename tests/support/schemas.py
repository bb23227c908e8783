"""Validate JSON against the OCI schemas in tests/data, with their relative $refs resolved."""

import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

DATA = Path(__file__).parent.parent / "data"


def validate(instance: Any, spec: str, schema_file: str) -> None:
    """``spec`` is ``oci-runtime`` or ``oci-image``; raises jsonschema's ValidationError."""
    directory = DATA / spec
    registry: Registry = Registry()
    for path in directory.glob("*.json"):
        contents = json.loads(path.read_text())
        registry = registry.with_resource(path.name, Resource.from_contents(contents, DRAFT4))
    schema = json.loads((directory / schema_file).read_text())
    jsonschema.Draft4Validator(schema, registry=registry).validate(instance)
