"""OpenAI strict mode: a tool's JSON Schema rewritten into the subset strict function calling takes.

Strict mode makes the model's arguments always match the schema, but only for a subset of
JSON Schema: every property listed in ``required``, ``additionalProperties: false`` on every
object, no ``default``, no ``allOf``, nothing beside a ``$ref``, and a short list of keywords.
An optional parameter therefore becomes a required one that may be ``null``, and ``null``
then stands for "left out": ``restore_omitted`` turns it back before the arguments are
validated against the tool's own schema. A ``const`` or single-value tag is never made
nullable: strict mode always sends it, so the variant it picks is never in doubt.

The rewrite keeps the schema's meaning exactly, or is not made. ``allOf`` and a ``$ref`` with
sibling keywords are merged into one object; a union beside an object's own properties is
distributed over its branches when a tag tells the branches apart. Keywords strict mode does
not take but that only narrow valid values (``minLength``, an unsupported ``format``...) are
dropped with a note and said in the property's description: toolwire still validates every
call against the tool's own schema. What strict mode cannot express (an open dict, ``not``,
a tuple, a union of overlapping open objects), a rewrite past the node budget, and a schema
past OpenAI's documented limits make the tool go without strict mode, with the reason.

Why one module of this length: the rewrite is one recursive walk over the schema, and its
steps (merging ``allOf``, distributing a union, making an optional nullable) share the node
budget, the notes and the definitions being rewritten; apart, each would reach into the
others' state.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any, Final

from ._schemadoc import ANNOTATIONS, resolve

#: Kept as they are: strict mode accepts them.
_KEPT: Final = frozenset(
    {
        "type", "description", "title", "enum", "const",
        "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "minItems", "maxItems",
    }
)  # fmt: skip
#: The string formats strict mode accepts.
_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
#: Formats the tool's validator checks (jsonschema-rs's own list).
_CHECKED_FORMATS: Final = frozenset(
    {
        "date", "date-time", "time", "duration", "email", "idn-email", "hostname",
        "idn-hostname", "ipv4", "ipv6", "uri", "uri-reference", "iri", "iri-reference",
        "uri-template", "json-pointer", "relative-json-pointer", "regex", "uuid",
    }
)  # fmt: skip
#: Rewritten below rather than copied.
_STRUCTURAL: Final = frozenset(
    {
        "properties", "required", "additionalProperties", "unevaluatedProperties", "items",
        "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "default", "format",
        "pattern", "$schema",
    }
)  # fmt: skip
#: Keywords that narrow valid values, which strict mode drops and toolwire still enforces.
_NARROWING: Final = frozenset(
    {
        "minLength", "maxLength", "uniqueItems", "minProperties", "maxProperties", "contains",
        "minContains", "maxContains",
    }
)  # fmt: skip
#: Keywords that only describe: dropped without a note, nothing changes for any value.
_DESCRIPTIVE: Final = ANNOTATIONS | frozenset(
    {
        "discriminator", "contentMediaType", "contentEncoding", "contentSchema", "$anchor",
        "$dynamicAnchor", "$id", "$vocabulary",
    }
)  # fmt: skip
#: Keywords that change which values are valid in ways strict mode cannot express.
_UNCONVERTIBLE: Final = frozenset(
    {
        "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas",
        "dependencies", "not", "if", "then", "else", "prefixItems", "additionalItems",
        "unevaluatedItems", "$dynamicRef", "$recursiveRef",
    }
)  # fmt: skip
_LOWER_BOUNDS: Final = ("minimum", "exclusiveMinimum", "minItems", "minLength", "minProperties")
_UPPER_BOUNDS: Final = ("maximum", "exclusiveMaximum", "maxItems", "maxLength", "maxProperties")
#: Where a pattern's syntax opens a lookaround, outside a character class: ``(?=``, ``(?!``,
#: ``(?<=``, ``(?<!``; and a named backreference, ``(?P=name)``.
_LOOKAROUND: Final = re.compile(r"\?(?:=|!|<=|<!|P=)")
_BACKREFERENCE_DIGITS: Final = tuple("123456789")
#: What a URI fragment holds as it is (RFC 3986 ``pchar``, ``/`` and ``?``); the rest is
#: percent-encoded in a ``$ref`` toolwire writes.
_FRAGMENT_SAFE: Final = "!$&'()*+,;=:@/?"
_MAX_REF_DEPTH: Final = 64

#: Schema nodes a rewrite may produce: ``$ref``s expanded into copies stop here.
STRICT_NODE_BUDGET: Final = 20_000
#: OpenAI's documented limits for a strict schema.
MAX_OBJECT_PROPERTIES: Final = 5_000
MAX_NESTING: Final = 10
MAX_ENUM_VALUES: Final = 1_000
MAX_TOTAL_STRING_LENGTH: Final = 120_000
LARGE_ENUM: Final = 250
MAX_LARGE_ENUM_STRING_LENGTH: Final = 15_000


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
        converted = converter.convert_root()
        converter.check_limits(converted)
    except _Unconvertible as exc:
        return None, (f"not sent in strict mode: {exc.reason}",)
    except RecursionError:
        return None, ("not sent in strict mode: the schema nests too deeply to rewrite",)
    return converted, tuple(dict.fromkeys(converter.notes))


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
    return next(restorations(arguments, schema, 1))


def restorations(
    arguments: dict[str, Any], schema: Mapping[str, Any], limit: int
) -> Iterator[dict[str, Any]]:
    """The readings of a call strict mode sent, ``restore_omitted``'s first, at most ``limit``.

    Which nulls stand for "left out" depends on the union branch a value belongs to, and
    branches may share property names with other types (``oneOf`` branches that overlap):
    each plausible branch gives a reading, and so does a null an optional key accepts taken
    as left out. The validator keeps the first reading the schema accepts.
    """
    if not _holds_null(arguments):
        yield arguments
        return
    given: list[dict[str, Any]] = []
    for reading in _readings(arguments, schema, schema, 0):
        if isinstance(reading, dict) and reading not in given:
            given.append(reading)
            yield reading
            if len(given) >= limit:
                return
    if not given:
        yield arguments


#: Values a copy of a schema shares with the schema: they cannot change.
_SHARED: Final = frozenset({str, int, float, bool, type(None)})


class _NotPlain(Exception):
    """A schema holds something other than plain dicts, lists and JSON scalars."""


def _copy_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the schema's objects and arrays that shares its strings and numbers.

    A tool's schema is plain JSON data (``_schemadoc``), copied so in a few microseconds, and
    a definition then holds no second copy of every description. Anything else (a tuple, a
    mapping that is no dict, a key that is no string) goes through a JSON round trip, as JSON
    would send it.
    """
    try:
        return _plain_copy(schema)  # type: ignore[no-any-return]  # a dict gives a dict
    except _NotPlain:
        return json.loads(json.dumps(schema))  # type: ignore[no-any-return]  # an object


def _plain_copy(node: Any) -> Any:
    kind = type(node)
    if kind is dict:
        copied = {}
        for key, value in node.items():
            if type(key) is not str:
                raise _NotPlain
            copied[key] = value if type(value) in _SHARED else _plain_copy(value)
        return copied
    if kind is list:
        return [value if type(value) in _SHARED else _plain_copy(value) for value in node]
    if kind in _SHARED:
        return node
    raise _NotPlain


class _StrictConverter:
    """One conversion: the root for resolving ``$ref``, the notes, the definitions in use."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self.root: dict[str, Any] = _copy_of(schema)
        self.notes: list[str] = []
        self.inlining: list[str] = []
        self.spent = 0
        self.used_defs: list[str] = []
        # What OpenAI's limits count, tallied as the strict schema is made.
        self.objects = self.properties = self.enum_values = self.text = 0

    def convert_root(self) -> dict[str, Any]:
        root = self.root
        if root.get("type", "object") != "object" or not _is_object(root):
            raise _Unconvertible("the parameters schema must be a plain object schema")
        body = {k: v for k, v in root.items() if k not in ("$defs", "definitions")}
        converted = self.convert(body, "")
        if converted.get("type") != "object" or "anyOf" in converted or "$ref" in converted:
            raise _Unconvertible("the parameters schema must be a plain object schema")
        # Definitions are converted when a kept $ref uses them, and only then.
        done: dict[str, dict[str, Any]] = {}
        while len(done) < len(self.used_defs):
            ref = next(r for r in self.used_defs if r not in done)
            keyword, name = _definition_of(ref) or ("$defs", ref)
            target = resolve(self.root, ref)
            done[ref] = self.convert(_without_defs(target), f"{keyword}.{name}")
            converted.setdefault(keyword, {})[name] = done[ref]
        return converted

    def convert(self, node: Any, path: str) -> dict[str, Any]:
        where = path or "the root"
        self.spent += 1
        if self.spent > STRICT_NODE_BUDGET:
            raise _Unconvertible(
                f"rewriting it takes more than {STRICT_NODE_BUDGET:,} schema nodes "
                "(its $refs expand into too many copies)"
            )
        if isinstance(node, bool):
            raise _Unconvertible(
                f"{where} is the schema {str(node).lower()}, "
                + ("which accepts any value" if node else "which accepts nothing")
            )
        if not isinstance(node, dict):
            raise _Unconvertible(f"{where} is not a schema object")
        if node.get("unevaluatedProperties") is False:
            # How toolwire closes an object put together from parts; strict mode closes all.
            node = {k: v for k, v in node.items() if k != "unevaluatedProperties"}
        if "$ref" in node:
            return self._convert_ref(node, path)
        if "allOf" in node:
            parts = node["allOf"]
            if not isinstance(parts, list) or not parts:
                raise _Unconvertible(f"{where} has a malformed allOf")
            own = {k: v for k, v in node.items() if k != "allOf"}
            return self.convert(self._merge([own, *parts], path), path)
        for key in node:
            if key in _UNCONVERTIBLE:
                raise _Unconvertible(f"{where} uses {key!r}")
            if key in ("$defs", "definitions") and path:
                raise _Unconvertible(f"{where} holds its own {key}")
            if key == "unevaluatedProperties":
                raise _Unconvertible(
                    f"{where} accepts keys it does not list (unevaluatedProperties)"
                )
        if _is_object(node) and _union_of_parts(node, self.root):
            return self._distribute(node, path)
        out: dict[str, Any] = {}
        said: list[str] = []
        for key, value in node.items():
            if key in _KEPT:
                out[key] = value
            elif key == "format":
                if value in _FORMATS:
                    out[key] = value
                else:
                    said.append(f"format: {json.dumps(value)}")
                    self._note(f"format {value!r}", path, enforced=value in _CHECKED_FORMATS)
            elif key == "pattern":
                if isinstance(value, str) and not unsupported_pattern(value):
                    out[key] = value
                else:
                    said.append(f"pattern: {json.dumps(value)}")
                    self._note("'pattern' (lookaround or backreference)", path, enforced=True)
            elif key in _NARROWING:
                said.append(f"{key}: {json.dumps(value)}")
                self._note(repr(key), path, enforced=True)
            elif key in _DESCRIPTIVE or key in _STRUCTURAL:
                continue
            else:
                self.notes.append(
                    f"strict mode: dropped unknown keyword {key!r} at {where} "
                    "(not JSON Schema; nothing enforces it)"
                )
        if _is_object(node):
            self._convert_object(node, path, out)
        if "items" in node or out.get("type") == "array":
            out["items"] = self._convert_items(node, path)
        self._convert_union(node, path, out)
        _count_enum(self, out)
        if not any(k in out for k in ("type", "enum", "const", "anyOf")):
            raise _Unconvertible(f"{where} accepts a value of any type")
        default = node.get("default")
        if default is not None:
            said.append(f"Default: {json.dumps(default, ensure_ascii=False)}.")
        if said:
            # What the model no longer sees as keywords, it reads in words.
            constraints = [s for s in said if not s.startswith("Default:")]
            sentences = ([f"Constraints: {', '.join(constraints)}."] if constraints else []) + [
                s for s in said if s.startswith("Default:")
            ]
            text = out.get("description")
            joined = " ".join(sentences)
            out["description"] = f"{text}\n\n{joined}" if isinstance(text, str) and text else joined
        return out

    def _convert_object(self, node: Mapping[str, Any], path: str, out: dict[str, Any]) -> None:
        where = path or "the root"
        if "properties" not in node and "additionalProperties" not in node:
            raise _Unconvertible(f"{where} is an object with no declared properties")
        # A missing additionalProperties only narrows here: toolwire closed what it could.
        if node.get("additionalProperties", False) is not False:
            raise _Unconvertible(f"{where} accepts keys it does not list (additionalProperties)")
        properties = node.get("properties", {})
        required_list = node.get("required", [])
        if not isinstance(properties, dict) or not isinstance(required_list, list):
            raise _Unconvertible(f"{where} has malformed properties")
        undeclared = [n for n in required_list if n not in properties]
        if undeclared:
            raise _Unconvertible(
                f"{where} requires {', '.join(map(repr, undeclared))}, which it does not declare"
            )
        required = set(required_list)
        converted: dict[str, Any] = {}
        for name, sub in properties.items():
            sub_path = f"{path}.properties.{name}" if path else f"properties.{name}"
            prop = self.convert(sub, sub_path)
            converted[name] = prop if name in required or _is_tag(prop) else _nullable(prop)
        self.objects += 1
        self.properties += len(converted)
        self.text += sum(len(name) for name in converted)
        out.setdefault("type", "object")
        out["properties"] = converted
        out["required"] = list(converted)
        out["additionalProperties"] = False

    def _convert_items(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        items = node.get("items")
        if not isinstance(items, dict):
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
            converted = [
                self.convert(branch, f"{path}.{key}.{i}" if path else f"{key}.{i}")
                for i, branch in enumerate(branches)
            ]
            if key == "oneOf" and not _exclusive(converted, self.root):
                self.notes.append(
                    f"strict mode: oneOf at {path or 'the root'} sent as anyOf "
                    "(toolwire still enforces that exactly one matches)"
                )
            out["anyOf"] = converted

    def _distribute(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        """An object with its own properties and a union of object parts: one branch per part.

        ``{props, anyOf: [A, B]}`` accepts what ``anyOf: [{props, A}, {props, B}]`` accepts
        when a tag tells A from B; without one, a value could use keys of both, which no
        single merged branch accepts, so the rewrite would not be exact.
        """
        where = path or "the root"
        key = "oneOf" if "oneOf" in node else "anyOf"
        if "anyOf" in node and "oneOf" in node:
            raise _Unconvertible(f"{where} uses both anyOf and oneOf")
        base = {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "discriminator")}
        annotations: dict[str, Any] = {
            k: base.pop(k) for k in ("description", "title") if k in base
        }
        merged = [self._merge([base, branch], path) for branch in node[key]]
        if _tag_of(merged, self.root) is None:
            raise _Unconvertible(
                f"{where} adds a union of objects to its own properties, and no tag (a "
                "const property every branch requires) tells the branches apart"
            )
        branches = [
            self.convert(branch, f"{path}.{key}.{i}" if path else f"{key}.{i}")
            for i, branch in enumerate(merged)
        ]
        return {**annotations, "anyOf": branches}

    def _merge(self, parts: list[Any], path: str) -> dict[str, Any]:
        """One schema accepting exactly what every part accepts (``allOf``), or the reason not."""
        where = path or "the root"
        merged: dict[str, Any] = {}
        closed: list[set[str]] = []
        unions: list[tuple[str, Any]] = []
        for part in self._flatten(parts, path):
            if (
                part.get("unevaluatedProperties") is False
                or part.get("additionalProperties") is False
            ):
                closed.append(set(part.get("properties", {})))
            for key, value in part.items():
                if key in ("additionalProperties", "unevaluatedProperties"):
                    if value is not False and value is not True:
                        raise _Unconvertible(f"{where} accepts keys it does not list ({key})")
                elif key in ("$defs", "definitions"):
                    raise _Unconvertible(f"{where} holds its own {key}")
                elif key == "properties":
                    if not isinstance(value, dict):
                        raise _Unconvertible(f"{where} has malformed properties")
                    into = merged.setdefault("properties", {})
                    for name, sub in value.items():
                        if name in into and into[name] != sub:
                            into[name] = {"allOf": [into[name], sub]}
                        else:
                            into[name] = sub
                elif key == "required":
                    names = merged.setdefault("required", [])
                    names.extend(n for n in value if n not in names)
                elif key in ("anyOf", "oneOf"):
                    unions.append((key, value))
                elif key == "type":
                    merged["type"] = _same_type(merged.get("type"), value, where)
                elif key == "enum":
                    previous = merged.get("enum")
                    merged["enum"] = (
                        value if previous is None else [v for v in previous if v in value]
                    )
                    if not merged["enum"]:
                        raise _Unconvertible(f"{where} combines enums no value is in")
                elif key in _LOWER_BOUNDS:
                    merged[key] = value if key not in merged else max(merged[key], value)
                elif key in _UPPER_BOUNDS:
                    merged[key] = value if key not in merged else min(merged[key], value)
                elif key == "items" and key in merged and merged[key] != value:
                    merged[key] = {"allOf": [merged[key], value]}
                elif key in _DESCRIPTIVE:
                    merged.setdefault(key, value)
                elif key in merged and merged[key] != value:
                    raise _Unconvertible(f"{where} combines two different {key!r}")
                else:
                    merged[key] = value
        if "const" in merged and "enum" in merged and merged["const"] not in merged["enum"]:
            raise _Unconvertible(f"{where} combines a const and an enum no value satisfies")
        if len(unions) > 1:
            raise _Unconvertible(f"{where} combines several unions with allOf")
        if unions:
            key, branches = unions[0]
            merged[key] = branches
        if closed and "properties" in merged:
            allowed = set.intersection(*closed)
            refused = [n for n in merged["properties"] if n not in allowed]
            for name in refused:
                del merged["properties"][name]
            blocked = [n for n in merged.get("required", ()) if n in refused]
            if blocked:
                raise _Unconvertible(
                    f"{where} requires {', '.join(map(repr, blocked))}, which one of its parts refuses"
                )
            merged["additionalProperties"] = False
        return merged

    def _flatten(self, parts: list[Any], path: str) -> list[Mapping[str, Any]]:
        """The parts of an ``allOf``, with nested ``allOf``s and ``$ref``s opened up."""
        out: list[Mapping[str, Any]] = []
        stack = list(reversed(parts))
        opened: list[str] = []
        while stack:
            part = stack.pop()
            self.spent += 1
            if self.spent > STRICT_NODE_BUDGET:
                raise _Unconvertible(
                    f"rewriting it takes more than {STRICT_NODE_BUDGET:,} schema nodes "
                    "(its $refs expand into too many copies)"
                )
            if part is True:
                continue
            if not isinstance(part, dict):
                raise _Unconvertible(
                    f"{path or 'the root'} combines something that is not a schema"
                )
            rest = dict(part)
            nested: list[Any] = []
            if "$ref" in rest:
                ref = rest.pop("$ref")
                if ref in self.inlining or opened.count(ref) > _MAX_REF_DEPTH:
                    raise _Unconvertible(f"{path or 'the root'} extends the recursive {ref!r}")
                opened.append(ref)
                nested.append(_without_defs(resolve(self.root, ref)))
            if "allOf" in rest:
                nested.extend(rest.pop("allOf"))
            out.append(rest)
            stack.extend(reversed(nested))
        return out

    def _convert_ref(self, node: Mapping[str, Any], path: str) -> dict[str, Any]:
        ref = node["$ref"]
        where = path or "the root"
        target = resolve(self.root, ref)
        if not isinstance(target, dict):
            raise _Unconvertible(f"{where} refers to {ref!r}, which is not a schema object here")
        siblings = {k: v for k, v in node.items() if k != "$ref"}
        if any(k not in _DESCRIPTIVE for k in siblings):
            # Keywords beside a $ref add to its target: merged exactly, as an allOf.
            merged = self._merge([{"$ref": ref}, siblings], path)
            self.inlining.append(ref)
            try:
                return self.convert(merged, path)
            finally:
                self.inlining.pop()
        kept = {k: v for k, v in siblings.items() if k in ("description", "title", "default")}
        if _definition_of(ref) is not None and (not kept or ref in self.inlining):
            if kept:
                # Inlining a recursive definition into itself would never end.
                self.notes.append(
                    f"strict mode: dropped {sorted(kept)} beside the recursive $ref at {where}"
                )
            if ref not in self.used_defs:
                self.used_defs.append(ref)
            return {"$ref": _definition_ref(*(_definition_of(ref) or ("$defs", ref)))}
        if ref in self.inlining:
            raise _Unconvertible(f"{where} refers to {ref!r} recursively, not to a definition")
        # Strict mode takes no keywords beside a $ref, so the definition is inlined instead.
        self.inlining.append(ref)
        try:
            return self.convert({**_without_defs(target), **kept}, path)
        finally:
            self.inlining.pop()

    def check_limits(self, schema: dict[str, Any]) -> None:
        """Refuse a strict schema past OpenAI's documented limits (properties, nesting, enums, text)."""
        for keyword in ("$defs", "definitions"):
            defs = schema.get(keyword)
            if isinstance(defs, dict):
                self.text += sum(len(name) for name in defs)
        if self.properties > MAX_OBJECT_PROPERTIES:
            raise _Unconvertible(
                f"it has {self.properties:,} object properties, past OpenAI's limit of "
                f"{MAX_OBJECT_PROPERTIES:,}"
            )
        if self.enum_values > MAX_ENUM_VALUES:
            raise _Unconvertible(
                f"it has {self.enum_values:,} enum values, past OpenAI's limit of {MAX_ENUM_VALUES:,}"
            )
        if self.text > MAX_TOTAL_STRING_LENGTH:
            raise _Unconvertible(
                f"its property names, definition names, enum and const values total {self.text:,} "
                f"characters, past OpenAI's limit of {MAX_TOTAL_STRING_LENGTH:,}"
            )
        # A path of N nested objects needs N object schemas: fewer cannot be too deep.
        if self.objects > MAX_NESTING:
            depth = _nesting(schema, schema, {}, ())
            if depth > MAX_NESTING:
                raise _Unconvertible(
                    f"it nests objects {depth} levels deep, past OpenAI's limit of {MAX_NESTING}"
                )

    def _note(self, what: str, path: str, *, enforced: bool) -> None:
        why = "toolwire still enforces it" if enforced else "not a format toolwire checks"
        self.notes.append(
            f"strict mode: dropped {what} at {path or 'the root'} ({why}; said in the description)"
        )


def unsupported_pattern(pattern: str) -> bool:
    """Whether a regular expression uses what strict mode's patterns lack: a lookaround or a
    backreference (``\\1``, ``\\k<name>``, ``(?P=name)``).

    Read token by token: an escaped character (``\\(``, ``\\\\1``) and anything inside a
    character class (``[(?=]``) are literal, and a named group (``(?<name>``, ``(?P<name>``) is
    no lookaround.
    """
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escaped = pattern[index + 1 : index + 3]
            if not in_class and (escaped[:1] in _BACKREFERENCE_DIGITS or escaped == "k<"):
                return True
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # A ``]`` right after ``[`` or ``[^`` is a literal member, not the end.
            skip = 2 if pattern[index + 1 : index + 2] == "^" else 1
            if pattern[index + skip : index + skip + 1] == "]":
                index += skip
        elif char == "(" and _LOOKAROUND.match(pattern, index + 1):
            return True
        index += 1
    return False


def _definition_of(ref: str) -> tuple[str, str] | None:
    """``("$defs", name)`` for ``#/$defs/name`` (or ``definitions``): a reference strict mode keeps.

    The fragment is read as JSON Schema reads it: percent-decoded first, then as a JSON
    pointer (``~1`` is ``/``, ``~0`` is ``~``).
    """
    fragment = urllib.parse.unquote(ref)
    for keyword in ("$defs", "definitions"):
        prefix = f"#/{keyword}/"
        if fragment.startswith(prefix) and "/" not in fragment[len(prefix) :]:
            return keyword, fragment[len(prefix) :].replace("~1", "/").replace("~0", "~")
    return None


def _definition_ref(keyword: str, name: str) -> str:
    """The ``$ref`` to ``$defs/name`` that resolves under JSON Schema's rules, whatever the name."""
    pointer = name.replace("~", "~0").replace("/", "~1")
    return f"#/{keyword}/" + urllib.parse.quote(pointer, safe=_FRAGMENT_SAFE)


def _without_defs(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: v for k, v in node.items() if k not in ("$defs", "definitions")}
    return node


def _same_type(first: Any, second: Any, where: str) -> Any:
    """The types both ``type`` values allow (``integer`` is a ``number``)."""
    if first is None:
        return second
    a = set(first if isinstance(first, list) else [first])
    b = set(second if isinstance(second, list) else [second])
    both = a & b
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        both.add("integer")
    if not both:
        raise _Unconvertible(f"{where} combines types no value has")
    ordered = [t for t in (first if isinstance(first, list) else [first]) if t in both]
    ordered += [t for t in sorted(both) if t not in ordered]
    return ordered[0] if len(ordered) == 1 else ordered


def _union_of_parts(node: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    """Whether ``node`` has properties of its own and a union whose branches add properties."""
    if "properties" not in node:
        return False
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key) or ():
            branch = _follow_refs(branch, root)
            if isinstance(branch, dict) and "properties" in branch:
                return True
    return False


def _tag_value(node: Any, root: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """The values a tag property allows: a ``const`` or a single-value ``enum``."""
    node = _follow_refs(node, root)
    if not isinstance(node, dict):
        return None
    if "const" in node:
        return (node["const"],)
    enum = node.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return (enum[0],)
    return None


def _is_tag(node: Mapping[str, Any]) -> bool:
    enum = node.get("enum")
    return "const" in node or (isinstance(enum, list) and len(enum) == 1)


def _tag_of(branches: list[Any], root: Mapping[str, Any]) -> str | None:
    """A property every branch requires with its own distinct ``const``: what tells them apart."""
    views = []
    for branch in branches:
        branch = _follow_refs(branch, root)
        if not isinstance(branch, dict) or not isinstance(branch.get("properties"), dict):
            return None
        views.append(branch)
    candidates = set(views[0]["properties"]) if views else set()
    for view in views:
        candidates &= {n for n in view["properties"] if n in view.get("required", ())}
    for name in sorted(candidates):
        values = [_tag_value(view["properties"][name], root) for view in views]
        if all(v is not None for v in values):
            flat = [v[0] for v in values if v is not None]
            if all(flat[i] != flat[j] for i in range(len(flat)) for j in range(i)):
                return str(name)
    return None


def _exclusive(branches: list[Any], root: Mapping[str, Any]) -> bool:
    """Whether no value can match two branches: told apart by a tag, or by distinct types."""
    if _tag_of(branches, root) is not None:
        return True
    kinds: list[set[str]] = []
    for branch in branches:
        branch = _follow_refs(branch, root)
        kind = branch.get("type") if isinstance(branch, dict) else None
        if isinstance(kind, str):
            kind = [kind]
        if not isinstance(kind, list) or "anyOf" in branch or "enum" in branch:
            return False
        widened = set(kind) | ({"integer"} if "number" in kind else set())
        kinds.append(widened)
    return all(not (kinds[i] & kinds[j]) for i in range(len(kinds)) for j in range(i))


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
    annotations: dict[str, Any] = {k: node[k] for k in ("title", "description") if k in node}
    inner = {k: v for k, v in node.items() if k not in annotations}
    if set(inner) == {"anyOf"}:
        return {**annotations, "anyOf": [*inner["anyOf"], {"type": "null"}]}
    return {**annotations, "anyOf": [inner, {"type": "null"}]}


def _accepts_null(node: Any, root: Mapping[str, Any], depth: int) -> bool:
    """Whether ``null`` is valid for ``node``, judged by type, enum, const, $ref and unions."""
    if isinstance(node, bool):
        return node
    if not isinstance(node, dict) or depth > _MAX_REF_DEPTH:
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
        target = resolve(root, node["$ref"])
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


# -- OpenAI's documented limits -----------------------------------------------------------------


def _count_enum(converter: _StrictConverter, out: dict[str, Any]) -> None:
    enum = out.get("enum")
    if isinstance(enum, list):
        strings = sum(len(v) for v in enum if isinstance(v, str))
        converter.enum_values += len(enum)
        converter.text += strings
        if len(enum) > LARGE_ENUM and strings > MAX_LARGE_ENUM_STRING_LENGTH:
            raise _Unconvertible(
                f"an enum of {len(enum)} values totals {strings:,} characters, past OpenAI's "
                f"limit of {MAX_LARGE_ENUM_STRING_LENGTH:,} for enums over {LARGE_ENUM} values"
            )
    const = out.get("const")
    if isinstance(const, str):
        converter.text += len(const)


def _nesting(
    node: Any, root: Mapping[str, Any], memo: dict[str, int], visiting: tuple[str, ...]
) -> int:
    """Levels of nested objects, the root's object being level 1; a recursive $ref adds none."""
    if not isinstance(node, dict):
        return 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in visiting:
            return 0
        if ref not in memo:
            memo[ref] = _nesting(resolve(root, ref), root, memo, (*visiting, ref))
        return memo[ref]
    inner = 0
    properties = node.get("properties")
    if isinstance(properties, dict):
        for sub in properties.values():
            inner = max(inner, _nesting(sub, root, memo, visiting))
    if "items" in node:
        inner = max(inner, _nesting(node["items"], root, memo, visiting))
    for branch in node.get("anyOf") or ():
        inner = max(inner, _nesting(branch, root, memo, visiting))
    return inner + (1 if node.get("type") == "object" or isinstance(properties, dict) else 0)


# -- restoring what strict mode sent ------------------------------------------------------------


#: Readings of one value (an object's or array's) taken further, at most.
_READINGS_PER_VALUE: Final = 4
#: Union branches tried as the place of one object, at most.
_VIEWS_PER_OBJECT: Final = 6
_DROPPED: Final = object()


def _readings(value: Any, node: Any, root: Mapping[str, Any], depth: int) -> Iterator[Any]:
    """``value`` with strict mode's stand-ins taken out, one reading at a time, best first."""
    if depth > _MAX_REF_DEPTH or not _holds_null(value):
        yield value
        return
    if isinstance(value, dict):
        views = _object_views(value, node, root)
        if not views:
            yield value
            return
        for properties, required in views:
            choices: list[list[Any]] = []
            for key, item in value.items():
                subs = properties.get(key)
                if subs is None:
                    choices.append([(key, item)])
                elif item is None and key not in required:
                    accepts = all(_accepts_null(sub, root, 0) for sub in subs)
                    choices.append([(key, None), _DROPPED] if accepts else [_DROPPED])
                else:
                    sub = subs[0] if len(subs) == 1 else {"allOf": subs}
                    options = itertools.islice(
                        _readings(item, sub, root, depth + 1), _READINGS_PER_VALUE
                    )
                    choices.append([(key, option) for option in options])
            for combination in itertools.product(*choices):
                yield dict(entry for entry in combination if entry is not _DROPPED)
        return
    if isinstance(value, list):
        items = _items_of(node, root)
        if items is None:
            yield value
            return
        per_item = [
            list(itertools.islice(_readings(item, items, root, depth + 1), _READINGS_PER_VALUE))
            for item in value
        ]
        for combination in itertools.product(*per_item):
            yield list(combination)
        return
    yield value


def _object_views(
    value: dict[str, Any], node: Any, root: Mapping[str, Any]
) -> list[tuple[dict[str, list[Any]], set[str]]]:
    """Every schema each key of an object value must satisfy under ``node``, and the required names.

    Its own properties, those of its ``allOf`` parts and ``$ref`` target, and those of the union
    branch the value belongs to: one view per plausible branch, the one its tags pick first
    (else the first whose properties cover the value's keys), then the others its tags allow.
    """
    views: list[tuple[dict[str, list[Any]], set[str]]] = []
    budget = [_MAX_REF_DEPTH * 4]

    def expand(
        pending: list[Any], properties: dict[str, list[Any]], required: set[str], found: bool
    ) -> None:
        while pending and budget[0] > 0:
            current = pending.pop()
            budget[0] -= 1
            if not isinstance(current, dict):
                continue
            own = current.get("properties")
            if isinstance(own, dict):
                found = True
                for name, sub in own.items():
                    properties.setdefault(name, []).append(sub)
            names = current.get("required")
            if isinstance(names, list):
                required.update(n for n in names if isinstance(n, str))
            if "$ref" in current:
                pending.append(resolve(root, current["$ref"]))
            pending.extend(current.get("allOf") or ())
            branches = [*(current.get("anyOf") or ()), *(current.get("oneOf") or ())]
            if branches:
                for branch in _branch_order(value, branches, root):
                    if len(views) >= _VIEWS_PER_OBJECT:
                        return
                    expand(
                        [*pending, branch],
                        {k: list(v) for k, v in properties.items()},
                        set(required),
                        found,
                    )
                return
        if found and len(views) < _VIEWS_PER_OBJECT:
            views.append((properties, required))

    expand([node], {}, set(), False)
    return views


def _branch_order(value: dict[str, Any], branches: list[Any], root: Mapping[str, Any]) -> list[Any]:
    """The union branches a value may belong to: by its tags, else the first that covers its keys.

    A tag is any property a branch pins to one value (``const``, a one-value ``enum``); a
    branch whose tag the value contradicts is never listed, and of the others the one whose
    tags the value matches most comes first: a shared one-value property (``{"enum": ["z"]}``
    in every branch) does not tell branches apart, the discriminator does.
    """
    objects = [b for b in (_follow_refs(b, root) for b in branches) if isinstance(b, dict)]
    best, best_matches = None, 0
    candidates = []
    for branch in objects:
        props = branch.get("properties")
        if not isinstance(props, dict):
            continue
        matches = _tag_matches(value, branch, props, root)
        if matches is None:
            continue
        candidates.append(branch)
        if matches > best_matches:
            best, best_matches = branch, matches
    if best is None:
        covering = [b for b in candidates if all(k in b["properties"] for k in value)]
        best = covering[0] if covering else None
    if best is None:
        return candidates
    return [best, *(b for b in candidates if b is not best)]


def _tag_matches(
    value: dict[str, Any],
    branch: Mapping[str, Any],
    props: Mapping[str, Any],
    root: Mapping[str, Any],
) -> int | None:
    """How many of a branch's tags the value carries, or ``None`` when it contradicts one.

    A ``null`` under an optional tag is strict mode's stand-in for leaving it out.
    """
    required = branch.get("required")
    matches = 0
    for name, sub in props.items():
        if name not in value:
            continue
        if value[name] is None and not (isinstance(required, list) and name in required):
            continue
        allowed = _tag_value(sub, root)
        if allowed is None:
            continue
        if value[name] not in allowed:
            return None
        matches += 1
    return matches


def _items_of(node: Any, root: Mapping[str, Any]) -> Any:
    node = _follow_refs(node, root)
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("items"), dict):
        return node["items"]
    for key in ("allOf", "anyOf", "oneOf"):
        for branch in node.get(key) or ():
            branch = _follow_refs(branch, root)
            if isinstance(branch, dict) and isinstance(branch.get("items"), dict):
                return branch["items"]
    return None


def _follow_refs(node: Any, root: Mapping[str, Any]) -> Any:
    for _ in range(_MAX_REF_DEPTH):
        if not (isinstance(node, dict) and "$ref" in node):
            return node
        target = resolve(root, node["$ref"])
        if target is None:
            return node
        node = target
    return node


def _is_object(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "object" or "properties" in node or "additionalProperties" in node


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

    Never raises: a schema the rewrite cannot handle is sent as it is, without strict mode.

    Args:
        parameters: The tool's own parameters schema.

    Returns:
        ``(schema, strict, notes)``: the strict rewrite and ``True`` when there is one, else
        the tool's own schema and ``False``; ``notes`` as ``strict_schema`` gives them.
    """
    try:
        strict, notes = strict_schema(parameters)
    except Exception as exc:  # noqa: BLE001 - nothing a schema holds may stop tool definitions
        strict, notes = (
            None,
            (f"not sent in strict mode: the rewrite failed ({type(exc).__name__})",),
        )
    if strict is None:
        return dict(parameters), False, notes
    return strict, True, notes
