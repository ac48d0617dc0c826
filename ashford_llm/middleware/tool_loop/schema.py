"""Checks a tool call's arguments against a JSON Schema dict, for tools not built from a type.

A deliberate subset, the keywords tool schemas use: `type` (one or a list), `enum`, `const`,
`properties`, `required`, `additionalProperties` (false or a schema), `items`, `anyOf`,
`oneOf`, `allOf`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `minLength`,
`maxLength`, `pattern`, `minItems`, `maxItems`, and `$ref` to the schema's own `$defs` or
`definitions`. Other keywords (`format`, `if`, remote `$ref`s, ...) are not checked.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["schema_errors"]

# The JSON type of each Python value msgspec decodes JSON into (bool before int: bool is one).
_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (str, "string"),
    (int, "integer"),
    (float, "number"),
    (dict, "object"),
    (list, "array"),
    (type(None), "null"),
)
_MAX_ERRORS = 5


def schema_errors(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Returns what in `value` breaks `schema` (at most five, each with its JSON path)."""
    return _errors_at(value, schema, schema)[:_MAX_ERRORS]


def _json_type(value: Any) -> str:
    """Returns the JSON type name of a decoded JSON value."""
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _has_type(value: Any, expected: str) -> bool:
    """True when `value` is of JSON type `expected` (an integral float is an integer)."""
    actual = _json_type(value)
    if expected == "number":
        return actual in ("integer", "number")
    if expected == "integer":
        return actual == "integer" or (
            actual == "number" and math.isfinite(value) and value.is_integer()
        )
    return actual == expected


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follows a local `$ref` (`#/$defs/Name` or `#/definitions/Name`); others stay as they are."""
    ref = schema.get("$ref")
    for prefix in ("#/$defs/", "#/definitions/"):
        if isinstance(ref, str) and ref.startswith(prefix):
            target = root.get(prefix[2:-1], {}).get(ref[len(prefix) :])
            if isinstance(target, Mapping):
                return target
    return schema


def _check(value: Any, schema: Any, path: str, root: Mapping[str, Any], errors: list[str]) -> None:
    """Appends to `errors` what in `value` breaks `schema`; a schema of `True` accepts all."""
    if not isinstance(schema, Mapping) or len(errors) >= _MAX_ERRORS:
        if schema is False:
            errors.append(f"{path}: no value is allowed here")
        return
    schema = _resolve(schema, root)
    expected = schema.get("type")
    if expected is not None:
        kinds = [expected] if isinstance(expected, str) else list(expected)
        if not any(_has_type(value, kind) for kind in kinds):
            errors.append(f"{path}: expected {' or '.join(kinds)}, got {_json_type(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']!r}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: must be {schema['const']!r}, got {value!r}")
    _check_alternatives(value, schema, path, root, errors)
    if isinstance(value, dict):
        _check_object(value, schema, path, root, errors)
    elif isinstance(value, list):
        _check_array(value, schema, path, root, errors)
    elif isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)


def _check_alternatives(
    value: Any, schema: Mapping[str, Any], path: str, root: Mapping[str, Any], errors: list[str]
) -> None:
    """Checks `allOf` (each must hold), `anyOf` (one must) and `oneOf` (exactly one must)."""
    for sub in schema.get("allOf", ()):
        _check(value, sub, path, root, errors)
    for keyword in ("anyOf", "oneOf"):
        options = schema.get(keyword)
        if options is None:
            continue
        passing = sum(not _errors_at(value, option, root) for option in options)
        if passing == 0:
            errors.append(f"{path}: matches none of the {keyword} schemas")
        elif keyword == "oneOf" and passing > 1:
            errors.append(f"{path}: matches {passing} of the oneOf schemas, not exactly one")


def _errors_at(value: Any, schema: Any, root: Mapping[str, Any]) -> list[str]:
    """Returns the errors of `value` against `schema`, a part of `root`."""
    errors: list[str] = []
    _check(value, schema, "$", root, errors)
    return errors


def _check_object(
    value: dict[str, Any],
    schema: Mapping[str, Any],
    path: str,
    root: Mapping[str, Any],
    errors: list[str],
) -> None:
    """Checks `required`, `properties` and `additionalProperties`."""
    for name in schema.get("required", ()):
        if name not in value:
            errors.append(f"{path}: missing required property {name!r}")
    properties = schema.get("properties", {})
    additional = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            _check(item, properties[name], f"{path}.{name}", root, errors)
        elif additional is False:
            errors.append(f"{path}: unexpected property {name!r}")
        else:
            _check(item, additional, f"{path}.{name}", root, errors)


def _check_array(
    value: list[Any],
    schema: Mapping[str, Any],
    path: str,
    root: Mapping[str, Any],
    errors: list[str],
) -> None:
    """Checks `items`, `minItems` and `maxItems`."""
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: expected at least {schema['minItems']} items, got {len(value)}")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: expected at most {schema['maxItems']} items, got {len(value)}")
    items = schema.get("items")
    if items is not None:
        for index, item in enumerate(value):
            _check(item, items, f"{path}[{index}]", root, errors)


def _check_string(value: str, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    """Checks `minLength`, `maxLength` and `pattern` (searched, as JSON Schema says)."""
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: shorter than {schema['minLength']} characters")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: longer than {schema['maxLength']} characters")
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and re.search(pattern, value) is None:
        errors.append(f"{path}: {value!r} does not match {pattern!r}")


def _check_number(value: float, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    """Checks `minimum`, `maximum`, `exclusiveMinimum` and `exclusiveMaximum`."""
    bounds = (
        ("minimum", operator.ge, "below the minimum"),
        ("maximum", operator.le, "above the maximum"),
        ("exclusiveMinimum", operator.gt, "not above"),
        ("exclusiveMaximum", operator.lt, "not below"),
    )
    for keyword, holds, what in bounds:
        bound = schema.get(keyword)
        if (
            isinstance(bound, int | float)
            and not isinstance(bound, bool)
            and not holds(value, bound)
        ):
            errors.append(f"{path}: {value!r} is {what} {bound!r}")
