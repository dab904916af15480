"""A JSON Schema document as toolwire takes it: bounded, plain, one dialect, local, closed.

Schemas come from type hints (through pydantic) and from others (``schema=``, MCP servers).
Before a tool is defined its schema goes through this module once, and every later use (the
validator, each provider's definition, strict mode) relies on what it established:

- **bounded**: at most ``MAX_SCHEMA_DEPTH`` levels of nested JSON and ``MAX_SCHEMA_NODES``
  values, counted without recursion, so nothing later can exhaust the stack or the memory;
- **plain**: dicts with string keys, lists, strings, finite numbers, booleans and ``null``;
- **one dialect**: a draft-04, -06, -07 or 2019-09 schema (by its ``$schema``) is rewritten
  into draft 2020-12 with the same meaning; an unknown ``$schema`` is refused;
- **local**: every ``$ref`` is a JSON pointer (or an anchor) into the document itself and
  resolves; nothing is ever fetched, by toolwire or by the validator it builds;
- **closed**: objects refuse keys they do not declare, in a way that keeps what the schema
  accepts (see ``close_objects``).

Why one module of this length: the five properties are established in one pass at definition,
in order, over one document model (``walk``, ``subschemas``, ``resolve``); apart, each would
keep its own copy of how a schema's parts are found.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import jsonschema_rs

from ._errors import ConfigError

#: Deepest nesting of JSON objects and arrays in a tool's schema document.
MAX_SCHEMA_DEPTH: Final = 64
#: Most JSON values (objects, arrays, strings, numbers...) in a tool's schema document.
MAX_SCHEMA_NODES: Final = 100_000

#: Keywords whose value is a map of names to schemas (the names are not keywords).
SCHEMA_MAPS: Final = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
#: Keywords whose value is one schema.
SCHEMA_VALUES: Final = (
    "items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "contains",
    "propertyNames", "not", "if", "then", "else",
)  # fmt: skip
#: Keywords whose value is a list of schemas.
SCHEMA_LISTS: Final = ("allOf", "anyOf", "oneOf", "prefixItems")

#: Keywords that only describe; a ``$ref`` beside them still means just its target.
ANNOTATIONS: Final = frozenset(
    {
        "title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
        "$comment",
    }
)  # fmt: skip

_DIALECTS: Final = {
    "json-schema.org/draft-04/schema": 4,
    "json-schema.org/draft-06/schema": 6,
    "json-schema.org/draft-07/schema": 7,
    "json-schema.org/draft/2019-09/schema": 2019,
    "json-schema.org/draft/2020-12/schema": 2020,
}
#: Applicators whose subschemas describe the same instance as their parent.
_IN_PLACE_LISTS: Final = ("allOf", "anyOf", "oneOf")
_IN_PLACE_VALUES: Final = ("then", "else")
#: Subschemas that are conditions: closing an object there would change what they test.
_CONDITIONS: Final = ("not", "if", "contains", "propertyNames")


def json_pointer(*parts: str) -> str:
    """``#/a/b`` from the parts, escaped as RFC 6901 wants."""
    return "#" + "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(root: Mapping[str, Any], ref: Any) -> Any:
    """What a local ``$ref`` (``#``, ``#/$defs/X``, ``#anchor``) points to, or ``None``."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    fragment = urllib.parse.unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        return _find_anchor(root, fragment)
    node: Any = root
    for part in fragment.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _find_anchor(root: Mapping[str, Any], anchor: str) -> Any:
    for node in walk(root):
        if node.get("$anchor") == anchor or node.get("$dynamicAnchor") == anchor:
            return node
    return None


#: Every keyword whose value holds subschemas: a schema object with none of them is a leaf.
_SCHEMA_KEYWORDS: Final = frozenset((*SCHEMA_MAPS, *SCHEMA_VALUES, *SCHEMA_LISTS))


def subschemas(node: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(keyword, subschema)`` for every subschema directly inside ``node``."""
    if _SCHEMA_KEYWORDS.isdisjoint(node):
        return  # a leaf, as most schema objects are: nothing to look up
    for key in SCHEMA_MAPS:
        sub = node.get(key)
        if isinstance(sub, Mapping):
            for value in sub.values():
                yield key, value
    for key in SCHEMA_VALUES:
        if key in node:
            yield key, node[key]
    for key in SCHEMA_LISTS:
        sub = node.get(key)
        if isinstance(sub, list):
            for value in sub:
                yield key, value


def walk(root: Any) -> Iterator[Mapping[str, Any]]:
    """Every schema object in the document, the root first; no recursion."""
    stack = [root]
    while stack:
        node = stack.pop()
        if type(node) is dict or isinstance(node, Mapping):  # the exact type first: cheaper
            yield node
            if not _SCHEMA_KEYWORDS.isdisjoint(node):
                stack.extend(sub for _, sub in subschemas(node))


# -- bounded and plain --------------------------------------------------------------------------


def plain_copy(tool_name: str | None, schema: Any) -> Any:
    """A copy of ``schema`` made of plain JSON values, checked against the limits.

    ``tool_name`` names the tool in messages (``None`` for a parameter type's own schema).

    Raises:
        ConfigError: deeper than ``MAX_SCHEMA_DEPTH``, larger than ``MAX_SCHEMA_NODES``, or
            holding something JSON cannot carry; the message names the tool and the place.
    """
    return surveyed_copy(tool_name, schema, None)[0]


def surveyed_copy(tool_name: str | None, schema: Any, keys: set[str] | None) -> tuple[Any, int]:
    """``plain_copy``, and how many JSON values the document holds; every key of every object
    in it is added to ``keys`` (when given), so that checks with nothing to look at (no
    ``$ref`` anywhere, say) can be skipped without another walk.

    Raises:
        ConfigError: as ``plain_copy``.
    """
    subject = f"tool {tool_name!r}: the schema" if tool_name is not None else "its schema"
    holder: list[Any] = [None]
    # (value, container, key, depth, path) with path built only if an error needs it.
    stack: list[tuple[Any, Any, Any, int, tuple[Any, ...]]] = [(schema, holder, 0, 1, ())]
    nodes = 0
    while stack:
        value, container, key, depth, path = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            raise _too_many(subject)
        kind = type(value)
        if kind is dict or kind is list or isinstance(value, Mapping | list | tuple):
            if depth > MAX_SCHEMA_DEPTH:
                raise ConfigError(
                    f"{subject} is nested more than {MAX_SCHEMA_DEPTH} "
                    f"levels deep at {_where(path)}, toolwire's limit; flatten it, or move "
                    "nested parts into $defs and refer to them with $ref"
                )
            # Strings, whole numbers, booleans and nulls (most values) are copied as they are
            # met, and counted; the rest wait on the stack.
            if kind is dict or isinstance(value, Mapping):
                out: Any = {}
                for name, item in value.items():
                    if type(name) is not str and not isinstance(name, str):
                        raise ConfigError(
                            f"{subject} has a key that is not a string "
                            f"({name!r}) at {_where(path)}; JSON keys are strings"
                        )
                    if type(item) in _AS_IS:
                        out[name] = item
                        nodes += 1
                    else:
                        out[name] = None  # keeps the key order; filled in below
                        stack.append((item, out, name, depth + 1, (path, name)))
                if keys is not None:
                    keys.update(out)
            else:
                out = [None] * len(value)
                for index, item in enumerate(value):
                    if type(item) in _AS_IS:
                        out[index] = item
                        nodes += 1
                    else:
                        stack.append((item, out, index, depth + 1, (path, index)))
            if nodes > MAX_SCHEMA_NODES:
                raise _too_many(subject)
            container[key] = out
        elif (
            value is None
            or isinstance(value, str | bool | int)
            or (isinstance(value, float) and math.isfinite(value))
        ):
            container[key] = value
        else:
            raise ConfigError(
                f"{subject} holds {_kind(value)} at {_where(path)}, which "
                "is not JSON; use strings, numbers, booleans, null, lists and objects only"
            )
    return holder[0], nodes


#: Values copied as they are met (exactly these types; a subclass goes the long way).
_AS_IS: Final = frozenset({str, int, bool, type(None)})


def _too_many(subject: str) -> ConfigError:
    return ConfigError(
        f"{subject} has more than {MAX_SCHEMA_NODES:,} values, "
        "toolwire's limit; split the tool, or move repeated parts into $defs"
    )


def check_bounds(tool_name: str | None, schema: Any) -> None:
    """Refuse a schema past the limits, without copying it (for schemas built by toolwire)."""
    stack: list[tuple[Any, int]] = [(schema, 1)]
    nodes = 0
    while stack:
        value, depth = stack.pop()
        nodes += 1
        if isinstance(value, dict | list):
            if depth > MAX_SCHEMA_DEPTH or nodes > MAX_SCHEMA_NODES:
                plain_copy(tool_name, schema)  # the same check, with the message and the place
            stack.extend(
                (v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)
            )


def _kind(value: Any) -> str:
    if isinstance(value, float):
        return f"the number {value!r}"
    return f"a {type(value).__name__}"


def _where(path: tuple[Any, ...]) -> str:
    parts: list[str] = []
    while path:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    text = "".join(reversed(parts)).lstrip(".")
    return text or "the root"


# -- one dialect --------------------------------------------------------------------------------


def dialect(tool_name: str, schema: Mapping[str, Any]) -> int:
    """The draft a schema says it is written in (2020 when it says nothing).

    Raises:
        ConfigError: a ``$schema`` that names no draft toolwire knows; a custom metaschema
            would have to be fetched, and toolwire fetches nothing.
    """
    uri = schema.get("$schema")
    if uri is None:
        return 2020
    key = uri.split("://", 1)[-1].rstrip("#") if isinstance(uri, str) else None
    if key not in _DIALECTS:
        known = ", ".join(f"'https://{k}'" for k in _DIALECTS)
        raise ConfigError(
            f"tool {tool_name!r}: $schema {uri!r} names no JSON Schema draft toolwire knows; "
            f"remove it (draft 2020-12 is assumed) or name one of {known}"
        )
    return _DIALECTS[key]


def upgrade(schema: dict[str, Any], draft: int) -> dict[str, Any]:
    """Rewrite an older draft's schema into 2020-12 with the same meaning, in place.

    Draft 4's boolean ``exclusiveMinimum``/``exclusiveMaximum`` become numbers; an ``items``
    list (drafts up to 2019-09) becomes ``prefixItems`` and ``additionalItems`` becomes
    ``items``; ``dependencies`` becomes ``dependentRequired``/``dependentSchemas``; and up to
    draft 7, where keywords beside a ``$ref`` are ignored, only its annotations stay.
    """
    if draft >= 2020:
        return schema
    for node in list(walk(schema)):
        if not isinstance(node, dict):
            continue
        if draft == 4:
            for exclusive, bound in (
                ("exclusiveMinimum", "minimum"),
                ("exclusiveMaximum", "maximum"),
            ):
                flag = node.get(exclusive)
                if isinstance(flag, bool) and node.pop(exclusive) and bound in node:
                    node[exclusive] = node.pop(bound)
        if isinstance(node.get("items"), list):
            node["prefixItems"] = node.pop("items")
            if "additionalItems" in node:
                node["items"] = node.pop("additionalItems")
        else:
            node.pop("additionalItems", None)
        if draft <= 7:
            dependencies = node.pop("dependencies", None)
            if isinstance(dependencies, dict):
                for name, value in dependencies.items():
                    target = "dependentRequired" if isinstance(value, list) else "dependentSchemas"
                    node.setdefault(target, {})[name] = value
            if "$ref" in node:
                for key in [k for k in node if k not in ANNOTATIONS]:
                    if key not in ("$ref", "$defs", "definitions"):
                        del node[key]
        if draft == 2019:
            if "$recursiveRef" in node:
                node["$ref"] = node.pop("$recursiveRef")
            node.pop("$recursiveAnchor", None)
    schema.pop("$schema", None)
    return schema


# -- local --------------------------------------------------------------------------------------


def check_references(tool_name: str, schema: Mapping[str, Any]) -> None:
    """Refuse a ``$ref`` that points outside the document or to nothing in it.

    Raises:
        ConfigError: naming the tool and the reference, and saying what to write instead.
    """
    for node in _every_schema(schema):
        if node is not schema and "$id" in node:
            raise ConfigError(
                f"tool {tool_name!r}: the schema embeds a resource with its own $id "
                f"({node['$id']!r}); move it under $defs without $id and refer to it as "
                "'#/$defs/NAME'"
            )
        for key in ("$ref", "$dynamicRef"):
            if key not in node:
                continue
            ref = node[key]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise ConfigError(
                    f"tool {tool_name!r}: {key} {ref!r} is not local, and toolwire never fetches "
                    "schemas; copy the definition under $defs and refer to it as '#/$defs/NAME'"
                )
            if not isinstance(resolve(schema, ref), Mapping | bool):
                raise ConfigError(
                    f"tool {tool_name!r}: {key} {ref!r} points to nothing in the schema; "
                    "add the definition it names under $defs, or correct the reference"
                )
    _check_in_place_expansion(tool_name, schema)


#: Keywords whose value holds schemas that ``walk`` leaves out, as some draft or a validator
#: reads them: an embedded ``$id`` there would move the base of the references under it.
_OTHER_SCHEMA_VALUES: Final = ("contentSchema", "additionalItems", "items")
_OTHER_SCHEMA_MAPS: Final = ("dependencies",)


def _every_schema(root: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every object the validator could read as a schema: ``walk``'s, those under keywords of
    other drafts (``contentSchema``, ``additionalItems``, ``dependencies``, an ``items`` list),
    and whatever a ``$ref`` points to, wherever it stands in the document."""
    stack: list[Any] = [root]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping) or id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(sub for _, sub in subschemas(node))
        for key in _OTHER_SCHEMA_VALUES:
            value = node.get(key)
            stack.extend(value if isinstance(value, list) else [value])
        for key in _OTHER_SCHEMA_MAPS:
            value = node.get(key)
            if isinstance(value, Mapping):
                stack.extend(value.values())
        for key in ("$ref", "$dynamicRef"):
            stack.append(resolve(root, node.get(key)))


#: How many subschemas may apply to one value, counted with repeats (``anyOf`` of two refs
#: to a definition that is itself ``anyOf`` of two refs...): past it, checking a wrong value
#: (and describing why it is wrong) would take time and memory exponential in the schema.
MAX_IN_PLACE_EXPANSION: Final = 10_000


def _check_in_place_expansion(tool_name: str, root: Mapping[str, Any]) -> None:
    """Refuse schemas whose subschemas that apply to the same value loop or multiply.

    Such subschemas are reached through ``$ref``, ``allOf``/``anyOf``/``oneOf``, ``not``,
    ``if``/``then``/``else`` without moving into the value: a loop among them (``A`` is
    ``{"$ref": "#/$defs/A"}``) never ends, and a chain of alternatives grows exponentially.
    Recursion through ``properties`` or ``items`` is fine: each step goes one level into the
    value. Counted with memoisation, so the check itself is linear in the schema.

    Raises:
        ConfigError: naming the tool, and what to change.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, Mapping):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError(
                f"tool {tool_name!r}: the schema's references loop without reaching a schema "
                "of their own (a $ref that, through $ref, allOf, anyOf, oneOf or not, leads "
                "back to itself for the same value); give the loop a real schema, or remove it"
            )
        active.add(key)
        total = 1
        children: list[Any] = []
        for name in ("$ref", "$dynamicRef"):
            ref = node.get(name)
            if isinstance(ref, str):
                children.append(resolve(root, ref))
        for name in _IN_PLACE_LISTS:
            value = node.get(name)
            if isinstance(value, list):
                children.extend(value)
        for name in (*_IN_PLACE_VALUES, "not", "if"):
            if name in node:
                children.append(node[name])
        for child in children:
            total += size(child)
            if total > MAX_IN_PLACE_EXPANSION:
                raise ConfigError(
                    f"tool {tool_name!r}: more than {MAX_IN_PLACE_EXPANSION:,} subschemas apply "
                    "to one value once its references and alternatives are followed (alternatives "
                    "that refer to alternatives multiply); checking a wrong value would take "
                    "exponential time. Flatten the alternatives"
                )
        active.discard(key)
        sizes[key] = total
        return total

    for node in walk(root):
        size(node)


def refuse_retrieval(uri: str) -> Any:
    """The validator's retriever: any schema it would have to fetch is an error."""
    raise ValueError(f"toolwire does not fetch schemas ({uri})")


def compile_validator(
    tool_name: str | None,
    schema: Mapping[str, Any],
    formats: Mapping[str, Callable[[str], bool]],
) -> Any:
    """The tool's jsonschema-rs validator, built once, with formats checked and nothing fetched.

    ``tool_name`` names the tool in messages (``None`` for a parameter type's own schema).

    Raises:
        ConfigError: the validator cannot be built (a reference it cannot resolve, say).
    """
    try:
        return jsonschema_rs.validator_for(
            dict(schema),
            validate_formats=True,
            retriever=refuse_retrieval,
            formats=dict(formats) or None,
        )
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if tool_name is None:
            raise ConfigError(f"its schema cannot be used by the validator ({reason}).") from None
        raise ConfigError(f"tool {tool_name!r}: the schema cannot be used: {reason}") from None


class LazyValidator:
    """A tool's jsonschema-rs validator, compiled when first used and kept from then on.

    A compiled validator takes about 6 KiB; a registry of thousands of tools, most of them
    never called in a given process, would hold them all. Whatever is read of it (``is_valid``,
    ``iter_errors``...) is the compiled validator's own, kept on this object after the first
    read, so a call pays one attribute lookup, as with the validator itself. Whoever makes one
    has compiled the schema once already (``_schema.describe``), so the first use cannot fail
    where the definition did not.
    """

    __slots__ = ("__dict__", "_compiled", "_source")

    def __init__(
        self,
        tool_name: str | None,
        schema: Mapping[str, Any],
        formats: Mapping[str, Callable[[str], bool]],
    ) -> None:
        self._compiled: Any = None
        self._source = (tool_name, schema, formats)  # the schema is the tool's own: no copy

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)  # copy and pickle look for hooks: there are none
        compiled = self._compiled
        if compiled is None:
            # Two threads may both compile on a first use: the same validator, one kept.
            compiled = self._compiled = compile_validator(*self._source)
        value = getattr(compiled, name)
        self.__dict__[name] = value
        return value


# -- discriminated unions ------------------------------------------------------------------------


def require_tags(schema: Mapping[str, Any]) -> None:
    """Make each variant of a discriminated union require its tag, defaulted or not.

    A union with a ``discriminator`` (OpenAPI's keyword, which pydantic writes) is told apart by
    one property; a variant whose tag has a default would otherwise let the tag be left out, and
    then neither the model nor the validator can tell which variant is meant.
    """
    for node in list(walk(schema)):
        discriminator = node.get("discriminator")
        if not isinstance(discriminator, Mapping):
            continue
        tag = discriminator.get("propertyName")
        if not isinstance(tag, str):
            continue
        for key in ("oneOf", "anyOf"):
            for branch in node.get(key) or ():
                variant = _follow(schema, branch)
                if not isinstance(variant, dict):
                    continue
                properties = variant.get("properties")
                required = variant.get("required", [])
                if isinstance(properties, Mapping) and tag in properties and tag not in required:
                    variant["required"] = [*required, tag] if isinstance(required, list) else [tag]


def _follow(root: Mapping[str, Any], node: Any) -> Any:
    """``node``, or what its ``$ref`` chain leads to when it is nothing but a reference."""
    for _ in range(MAX_SCHEMA_DEPTH):
        if isinstance(node, Mapping) and set(node) - ANNOTATIONS == {"$ref"}:
            node = resolve(root, node["$ref"])
        else:
            return node
    return node


# -- closed -------------------------------------------------------------------------------------


def close_objects(schema: Any, *, refers: bool = True) -> Any:
    """Make objects refuse keys they do not declare, keeping what the schema accepts; in place.

    An object whose keys are all declared by itself gets ``additionalProperties: false``. An
    object put together from parts (``allOf``, a ``$ref`` with sibling ``properties``, ``then``)
    is closed once, where the parts meet, with ``unevaluatedProperties: false``, which sees the
    keys every part declares; the parts stay open, or the first would refuse the second's keys.
    A union of whole objects (``anyOf``/``oneOf`` and nothing else) closes each branch, as strict
    mode does. Nothing is closed inside conditions (``not``, ``if``, ``contains``), where it would
    change what they test, nor where the author decided (``additionalProperties`` or
    ``unevaluatedProperties`` present), nor where ``required`` names a key that no part
    declares: closing would refuse every value there.

    ``refers=False`` says the document holds no ``$ref``: then no definition is extended
    anywhere, and the walk that looks for such is skipped.
    """
    if not isinstance(schema, dict):
        return schema
    opened: set[int] = set()
    while refers:  # a definition extended somewhere must stay open, and so must what it extends
        closer = _Closer(schema, opened, apply=False)
        closer.run()
        if closer.opened <= opened:
            break
        opened |= closer.opened
    _Closer(schema, opened, apply=True).run()
    return schema


#: Every keyword ``_Closer._visit`` reads: a schema object with none of them is left as it is.
_CLOSER_KEYWORDS: Final = frozenset(
    {
        "properties", "patternProperties", "$defs", "definitions", "items",
        "additionalProperties", "unevaluatedProperties", "unevaluatedItems", "prefixItems",
        "$ref", "dependentSchemas", *_CONDITIONS, *_IN_PLACE_LISTS, *_IN_PLACE_VALUES,
    }
)  # fmt: skip


class _Closer:
    """One walk over the document: each schema object visited once, as a value or as a part."""

    def __init__(self, root: dict[str, Any], opened: set[int], *, apply: bool) -> None:
        self.root = root
        self.open_targets = opened
        self.opened: set[int] = set()
        self.apply = apply

    def run(self) -> None:
        stack: list[tuple[Any, str]] = [(self.root, "value")]
        while stack:
            node, mode = stack.pop()
            if not isinstance(node, dict):
                continue
            if _CLOSER_KEYWORDS.isdisjoint(node):
                continue  # a leaf: nothing below it, nothing declared, nothing to close
            if id(node) in self.open_targets and mode == "value" and node is not self.root:
                mode = "part"
            stack.extend(self._visit(node, mode))

    def _visit(self, node: dict[str, Any], mode: str) -> list[tuple[Any, str]]:
        """Close ``node`` if it should be; return its subschemas with the mode each is seen in.

        A ``$ref`` target is not among them: it is visited where it stands in the document
        (under ``$defs`` mostly), as a part when some use extends it.
        """
        children: list[tuple[Any, str]] = []
        for key in ("properties", "patternProperties", "$defs", "definitions"):
            sub = node.get(key)
            if isinstance(sub, dict):
                children.extend((v, "value") for v in sub.values())
        for key in ("items", "additionalProperties", "unevaluatedProperties", "unevaluatedItems"):
            if key in node:
                children.append((node[key], "value"))
        for item in node.get("prefixItems") or ():
            children.append((item, "value"))
        for key in _CONDITIONS:
            if key in node:
                children.append((node[key], "condition"))
        ref_target = resolve(self.root, node["$ref"]) if "$ref" in node else None
        parts = [p for p in self._parts(node) if p is not ref_target or ref_target is None]
        if mode == "condition":
            # Inside a condition nothing is closed; its in-place parts are conditions too.
            children = [(child, "condition") for child, _ in children]
            return children + [(p, "condition") for p in parts]
        if mode == "part" or "additionalProperties" in node or "unevaluatedProperties" in node:
            # A part is closed where the parts meet; what the author decided stays.
            if isinstance(ref_target, dict):
                self.opened.add(id(ref_target))
            return children + [(p, "part") for p in parts]
        own = "properties" in node or "patternProperties" in node
        declaring = [p for p in parts if self._declares(p, set())]
        extends = isinstance(ref_target, dict) and self._declares(ref_target, set())
        if isinstance(ref_target, dict) and not own and not declaring:
            # A plain use of a definition: it closes itself, unless extended elsewhere.
            if id(ref_target) in self.open_targets:
                self._close(node, "unevaluatedProperties")
            return children + [(p, "part") for p in parts]
        branches = {id(b) for k in ("anyOf", "oneOf") for b in (node.get(k) or ())}
        if own and not declaring and not extends:
            if self._satisfiable(node):
                self._close(node, "additionalProperties")
            return children + [(p, "part") for p in parts]
        if (
            not own
            and ref_target is None
            and declaring
            and all(id(p) in branches for p in declaring)
        ):
            # A union of whole objects: each branch closes itself, as strict mode has it.
            return children + [(p, "value" if id(p) in branches else "part") for p in parts]
        if own or declaring or extends:
            if self._satisfiable(node):
                self._close(node, "unevaluatedProperties")
            if isinstance(ref_target, dict):
                self.opened.add(id(ref_target))
        return children + [(p, "part") for p in parts]

    def _parts(self, node: dict[str, Any]) -> list[Any]:
        """The in-place subschemas: applied to the same value as ``node`` itself."""
        parts: list[Any] = []
        for key in _IN_PLACE_LISTS:
            parts.extend(node.get(key) or ())
        parts.extend(node[key] for key in _IN_PLACE_VALUES if key in node)
        dependent = node.get("dependentSchemas")
        if isinstance(dependent, dict):
            parts.extend(dependent.values())
        if "$ref" in node:
            target = resolve(self.root, node["$ref"])
            if isinstance(target, dict):
                parts.append(target)
        return parts

    def _declares(self, node: Any, seen: set[int]) -> bool:
        """Whether ``node`` or one of its in-place parts declares properties."""
        if not isinstance(node, dict) or id(node) in seen:
            return False
        seen.add(id(node))
        if "properties" in node or "patternProperties" in node:
            return True
        return any(self._declares(p, seen) for p in self._parts(node))

    def _satisfiable(self, node: dict[str, Any]) -> bool:
        """Whether every name ``required`` lists is declared by the node or one of its parts."""
        declared: set[str] = set()
        required: set[str] = set()
        open_ended = False
        stack, seen = [node], set()
        while stack:
            item = stack.pop()
            if not isinstance(item, dict) or id(item) in seen:
                continue
            seen.add(id(item))
            properties = item.get("properties")
            if isinstance(properties, dict):
                declared.update(properties)
            names = item.get("required")
            if isinstance(names, list):
                required.update(n for n in names if isinstance(n, str))
            if "patternProperties" in item or isinstance(item.get("additionalProperties"), dict):
                open_ended = True
            stack.extend(self._parts(item))
        return open_ended or required <= declared

    def _close(self, node: dict[str, Any], keyword: str) -> None:
        if self.apply:
            node[keyword] = False
