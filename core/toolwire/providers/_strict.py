"""OpenAI strict mode: a tool's JSON Schema rewritten into the subset strict function calling takes.

Strict mode makes the model's arguments always match the schema, but only for a subset of
JSON Schema: every property listed in ``required``, ``additionalProperties: false`` on every
object, no ``default``, and a short list of keywords. An optional parameter therefore becomes
a required one that may be ``null``, and ``null`` then stands for "left out":
``restore_omitted`` turns it back before the arguments are validated against the tool's own
schema.

Keywords strict mode does not take but that only narrow valid values (``minLength``,
``uniqueItems``...) are dropped with a note: toolwire still validates every call against the
tool's own schema, so a call that breaks them is refused with ``invalid_arguments``. What
strict mode cannot express at all (an open dict, ``not``, a tuple...) makes the whole schema
unconvertible, and the tool is then sent without strict mode.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

#: Kept as they are: strict mode accepts them.
_KEPT: Final = frozenset(
    {
        "type", "description", "title", "enum", "const", "pattern",
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "minItems", "maxItems",
    }
)  # fmt: skip
#: The string formats strict mode accepts.
_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
#: Rewritten below rather than copied.
_STRUCTURAL: Final = frozenset(
    {
        "properties", "required", "additionalProperties", "items", "anyOf", "oneOf", "allOf",
        "$ref", "$defs", "definitions", "default", "format", "$schema",
    }
)  # fmt: skip
#: Keywords that change which values are valid in ways strict mode cannot express.
_UNCONVERTIBLE: Final = frozenset(
    {
        "patternProperties", "propertyNames", "unevaluatedProperties", "dependentRequired",
        "dependentSchemas", "dependencies", "not", "if", "then", "else", "prefixItems",
        "additionalItems", "unevaluatedItems", "$dynamicRef", "$recursiveRef",
    }
)  # fmt: skip
_ANNOTATIONS: Final[tuple[str, ...]] = ("title", "description")
_MAX_REF_DEPTH: Final = 64


class _Unconvertible(Exception):
    """The schema cannot be expressed in strict mode; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def strict_schema(schema: Mapping[str, Any]) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """Rewrite a tool's parameters schema for OpenAI strict mode.

    Args:
        schema: The tool's parameters: a JSON Schema object schema, possibly with ``$defs``.

    Returns:
        ``(strict, notes)``. ``strict`` is the rewritten schema, or ``None`` when the schema
        cannot be expressed in strict mode; ``notes`` then holds the reason, and otherwise
        lists what was dropped on the way (empty when nothing was lost).
    """
    converter = _StrictConverter(schema)
    try:
        return converter.convert_root(), tuple(converter.notes)
    except _Unconvertible as exc:
        return None, (f"not sent in strict mode: {exc.reason}",)


def restore_omitted(arguments: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the ``null`` values that strict mode sent in place of left-out optional arguments.

    A key is dropped, at any depth, when its value is ``null``, the object's schema does not
    require it, and its own schema does not accept ``null``; the tool's default then applies.
    An optional parameter that does accept ``null`` keeps it: the model may mean it.

    Args:
        arguments: The parsed arguments of one call.
        schema: The tool's own parameters schema (not the strict one).

    Returns:
        ``arguments`` itself when it holds no ``null``, else a copy without the stand-ins.
    """
    if not _holds_null(arguments):
        return arguments
    restored = _restore(arguments, schema, schema, 0)
    return restored if isinstance(restored, dict) else arguments


class _StrictConverter:
    """One conversion: the root for resolving ``$ref``, and the notes gathered on the way."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        # Schemas are JSON data: a JSON round trip copies them several times faster than deepcopy.
        self.root: dict[str, Any] = json.loads(json.dumps(schema))
        self.notes: list[str] = []
        self.inlining: list[str] = []

    def convert_root(self) -> dict[str, Any]:
        if self.root.get("type") != "object":
            raise _Unconvertible("the parameters schema must be a plain object schema")
        body = {k: v for k, v in self.root.items() if k not in ("$defs", "definitions")}
        converted = self.convert(body, "")
        for key in ("$defs", "definitions"):
            defs = self.root.get(key)
            if isinstance(defs, Mapping):
                converted[key] = {
                    name: self.convert(sub, f"{key}.{name}") for name, sub in defs.items()
                }
        return converted

    def convert(self, node: Any, path: str) -> dict[str, Any]:
        where = path or "the root"
        if not isinstance(node, Mapping):
            raise _Unconvertible(f"{where} is not a schema object")
        if "$ref" in node:
            return self._convert_ref(node, path)
        if "allOf" in node:
            return self._convert_all_of(node, path)
        for key in node:
            if key in _UNCONVERTIBLE:
                raise _Unconvertible(f"{where} uses {key!r}")
            if key in ("$defs", "definitions") and path:
                raise _Unconvertible(f"{where} holds its own {key}")
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _KEPT:
                out[key] = value
            elif key == "format":
                if value in _FORMATS:
                    out[key] = value
                else:
                    self._note(f"format {value!r}", path)
            elif key not in _STRUCTURAL:
                self._note(repr(key), path)
        if _is_object(node):
            self._convert_object(node, path, out)
        if "items" in node or out.get("type") == "array":
            out["items"] = self._convert_items(node, path)
        self._convert_union(node, path, out)
        if not any(k in out for k in ("type", "enum", "const", "anyOf")):
            raise _Unconvertible(f"{where} accepts a value of any type")
        default = node.get("default")
        if default is not None:
            # The model no longer sees the default as a keyword; say it in words instead.
            said = f"Default: {json.dumps(default, ensure_ascii=False)}."
            text = out.get("description")
            out["description"] = f"{text}\n\n{said}" if isinstance(text, str) and text else said
        return out

    def _convert_object(self, node: Mapping[str, Any], path: str, out: dict[str, Any]) -> None:
        where = path or "the root"
        if "properties" not in node and "additionalProperties" not in node:
            raise _Unconvertible(f"{where} is an object with no declared properties")
        # A missing additionalProperties only narrows: strict mode needs it closed.
        if node.get("additionalProperties", False) is not False:
            raise _Unconvertible(f"{where} accepts keys it does not list (additionalProperties)")
        properties = node.get("properties", {})
        if not isinstance(properties, Mapping):
            raise _Unconvertible(f"{where} has malformed properties")
        required = set(node.get("required", ()))
        converted: dict[str, Any] = {}
        for name, sub in properties.items():
            sub_path = f"{path}.properties.{name}" if path else f"properties.{name}"
            prop = self.convert(sub, sub_path)
            converted[name] = prop if name in required else _nullable(prop)
        out.setdefault("type", "object")
        out["properties"] = converted
        out["required"] = list(converted)
        out["additionalProperties"] = False

    def _convert_items(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        items = node.get("items")
        if not isinstance(items, Mapping):
            raise _Unconvertible(f"{path or 'the root'} is an array without one items schema")
        return self.convert(items, f"{path}.items" if path else "items")

    def _convert_union(self, node: Mapping[str, Any], path: str, out: dict[str, Any]) -> None:
        if "anyOf" in node and "oneOf" in node:
            raise _Unconvertible(f"{path or 'the root'} uses both anyOf and oneOf")
        for key in ("anyOf", "oneOf"):
            branches = node.get(key)
            if branches is None:
                continue
            if not isinstance(branches, list) or not branches:
                raise _Unconvertible(f"{path or 'the root'} has a malformed {key}")
            if key == "oneOf":
                self.notes.append(f"strict mode: oneOf at {path or 'the root'} sent as anyOf")
            out["anyOf"] = [
                self.convert(branch, f"{path}.{key}.{i}" if path else f"{key}.{i}")
                for i, branch in enumerate(branches)
            ]

    def _convert_all_of(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        branches = node["allOf"]
        if not isinstance(branches, list) or len(branches) != 1:
            raise _Unconvertible(f"{path or 'the root'} combines schemas with allOf")
        # A single-branch allOf is how some generators attach a description to a $ref.
        merged = {k: v for k, v in node.items() if k != "allOf"}
        return self.convert({**_mapping(branches[0], path), **merged}, path)

    def _convert_ref(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        ref = node["$ref"]
        target = _resolve(self.root, ref)
        # Only whole definitions (and the root) keep their address once converted.
        if target is None or not (ref == "#" or ref.startswith(("#/$defs/", "#/definitions/"))):
            raise _Unconvertible(f"{path or 'the root'} refers to {ref!r}, not a definition here")
        target = {k: v for k, v in target.items() if k not in ("$defs", "definitions")}
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if not siblings:
            return {"$ref": ref}
        if ref in self.inlining:
            # Inlining a recursive definition into itself would never end; keep the bare $ref.
            self.notes.append(
                f"strict mode: dropped {sorted(siblings)} beside the recursive $ref at {path}"
            )
            return {"$ref": ref}
        # Strict mode takes no keywords beside a $ref, so the definition is inlined instead.
        self.inlining.append(ref)
        try:
            return self.convert({**target, **siblings}, path)
        finally:
            self.inlining.pop()

    def _note(self, what: str, path: str) -> None:
        self.notes.append(
            f"strict mode: dropped {what} at {path or 'the root'} (toolwire still enforces it)"
        )


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    """``node`` also accepting ``null``: how strict mode spells an optional property."""
    if _accepts_null(node, node, 0):
        return node
    kind = node.get("type")
    plain = not any(k in node for k in ("enum", "const", "anyOf", "$ref"))
    if plain and isinstance(kind, str):
        return {**node, "type": [kind, "null"]}
    if plain and isinstance(kind, list):
        return {**node, "type": [*kind, "null"]}
    annotations: dict[str, Any] = {k: node[k] for k in _ANNOTATIONS if k in node}
    inner = {k: v for k, v in node.items() if k not in annotations}
    if set(inner) == {"anyOf"}:
        return {**annotations, "anyOf": [*inner["anyOf"], {"type": "null"}]}
    return {**annotations, "anyOf": [inner, {"type": "null"}]}


def _accepts_null(node: Any, root: Mapping[str, Any], depth: int) -> bool:
    """Whether ``null`` is valid for ``node``, judged by type, enum, const, $ref and unions."""
    if isinstance(node, bool):
        return node
    if not isinstance(node, Mapping) or depth > _MAX_REF_DEPTH:
        return False
    kind = node.get("type")
    if isinstance(kind, str) and kind != "null":
        return False
    if isinstance(kind, list) and "null" not in kind:
        return False
    enum = node.get("enum")
    if isinstance(enum, list) and None not in enum:
        return False
    if "const" in node and node["const"] is not None:
        return False
    if "$ref" in node:
        target = _resolve(root, node["$ref"])
        if target is None or not _accepts_null(target, root, depth + 1):
            return False
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if isinstance(branches, list) and not any(
            _accepts_null(b, root, depth + 1) for b in branches
        ):
            return False
    branches = node.get("allOf")
    return not (
        isinstance(branches, list) and not all(_accepts_null(b, root, depth + 1) for b in branches)
    )


def _restore(value: Any, node: Any, root: Mapping[str, Any], depth: int) -> Any:
    node = _follow_refs(node, root)
    if not isinstance(node, Mapping) or depth > _MAX_REF_DEPTH:
        return value
    if isinstance(value, dict):
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            required = node.get("required", ())
            restored: dict[str, Any] = {}
            for key, item in value.items():
                sub = properties.get(key)
                if (
                    item is None
                    and key not in required
                    and sub is not None
                    and not _accepts_null(sub, root, 0)
                ):
                    continue
                restored[key] = _restore(item, sub, root, depth + 1) if sub is not None else item
            return restored
        branch = _object_branch(value, node, root)
        return value if branch is None else _restore(value, branch, root, depth + 1)
    if isinstance(value, list):
        items = node.get("items")
        if isinstance(items, Mapping):
            return [_restore(item, items, root, depth + 1) for item in value]
        for branch in _branches(node):
            branch = _follow_refs(branch, root)
            if isinstance(branch, Mapping) and isinstance(branch.get("items"), Mapping):
                return _restore(value, branch, root, depth + 1)
    return value


def _object_branch(
    value: dict[str, Any], node: Mapping[str, Any], root: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The first union branch whose declared properties cover every key of ``value``."""
    for branch in _branches(node):
        branch = _follow_refs(branch, root)
        if isinstance(branch, Mapping):
            properties = branch.get("properties")
            if isinstance(properties, Mapping) and all(k in properties for k in value):
                return branch
    return None


def _branches(node: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    for key in ("anyOf", "oneOf", "allOf"):
        branches = node.get(key)
        if isinstance(branches, list):
            out.extend(branches)
    return out


def _follow_refs(node: Any, root: Mapping[str, Any]) -> Any:
    for _ in range(_MAX_REF_DEPTH):
        if not (isinstance(node, Mapping) and "$ref" in node):
            return node
        target = _resolve(root, node["$ref"])
        if target is None:
            return node
        node = target
    return node


def _resolve(root: Mapping[str, Any], ref: Any) -> Mapping[str, Any] | None:
    """The local definition a ``$ref`` points to (``#``, ``#/$defs/X``...), or ``None``."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or "properties" in node or "additionalProperties" in node


def _mapping(node: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise _Unconvertible(f"{path or 'the root'} is not a schema object")
    return node


def _holds_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_null(v) for v in value)
    return False


def function_parameters(
    parameters: Mapping[str, Any],
) -> tuple[dict[str, Any], bool, tuple[str, ...]]:
    """The ``parameters`` and ``strict`` values of an OpenAI function tool, with the notes.

    Args:
        parameters: The tool's own parameters schema.

    Returns:
        ``(schema, strict, notes)``: the strict rewrite and ``True`` when there is one, else
        the tool's own schema and ``False``; ``notes`` as ``strict_schema`` gives them.
    """
    strict, notes = strict_schema(parameters)
    if strict is None:
        return dict(parameters), False, notes
    return strict, True, notes
