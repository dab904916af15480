"""Generated schemas of each class, and the check that a tool's validator and its strict schema agree.

The classes are the shapes in which closing objects and rewriting for strict mode can change
what a schema means: ``allOf`` splits, a ``$ref`` with sibling keywords, discriminated unions
(tags with and without defaults, with and without OpenAPI's ``discriminator``), a union
beside an object's own properties, ``oneOf`` branches that share names, and definitions whose
names need escaping in a ``$ref``. ``jsonschema`` is the reference validator throughout.
"""

from __future__ import annotations

import copy
import urllib.parse
from typing import Any

import jsonschema
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st


def drawing(max_examples: int) -> settings:
    """Hypothesis settings for schema-and-call draws: no deadline, slow draws allowed, and no
    shrinking (shrinking nested draws takes minutes; a failure shows the drawn example)."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


NAMES = ("a", "b", "c", "d")
TAGS = ("cat", "dog", "eel")

_LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "integer"}),
    st.integers(0, 3).map(lambda n: {"type": "integer", "minimum": n}),
    st.just({"type": "boolean"}),
    st.just({"type": ["string", "null"]}),
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True).map(
        lambda values: {"enum": values}
    ),
)


@st.composite
def _plain_object(draw: st.DrawFn, names: tuple[str, ...] = NAMES, nested: bool = True) -> Any:
    inner = st.one_of(_LEAVES, _plain_object(nested=False)) if nested else _LEAVES
    properties = draw(st.dictionaries(st.sampled_from(names), inner, min_size=1, max_size=3))
    out: dict[str, Any] = {"type": "object", "properties": properties}
    required = draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
    if required:
        out["required"] = required
    return out


@st.composite
def all_of_objects(draw: st.DrawFn) -> dict[str, Any]:
    """An object split over ``allOf`` parts; names may repeat across parts and the parent."""
    parts = draw(st.lists(_plain_object(nested=False), min_size=2, max_size=3))
    for part in parts:
        part.pop("type")
        for name, sub in list(part["properties"].items()):
            # A name two parts share gets the same type in both, so some value satisfies both.
            part["properties"][name] = _shared(name, sub)
    node: dict[str, Any] = {"type": "object", "allOf": parts}
    if draw(st.booleans()):
        own = draw(_plain_object(nested=False))
        node["properties"] = {k: _shared(k, v) for k, v in own["properties"].items()}
        if "required" in own:
            node["required"] = own["required"]
    return _rooted(draw, node)


@st.composite
def ref_with_siblings(draw: st.DrawFn) -> dict[str, Any]:
    """A definition extended by keywords beside a ``$ref``, and maybe also used plainly."""
    base = draw(_plain_object(names=("a", "b"), nested=False))
    extra = draw(_plain_object(names=("c", "d"), nested=False))
    extended: dict[str, Any] = {"$ref": "#/$defs/Base", "properties": extra["properties"]}
    if "required" in extra:
        extended["required"] = extra["required"]
    if draw(st.booleans()):
        extended["description"] = "An extended base."
    root: dict[str, Any] = {
        "type": "object",
        "properties": {"x": extended},
        "required": ["x"],
        "$defs": {"Base": base},
    }
    if draw(st.booleans()):
        root["properties"]["plain"] = {"$ref": "#/$defs/Base"}
    return root


@st.composite
def discriminated_unions(draw: st.DrawFn) -> dict[str, Any]:
    """Variants told apart by a ``kind`` tag, which may have a default and may not be required."""
    count = draw(st.integers(2, 3))
    variants = []
    for tag in TAGS[:count]:
        variant = draw(_plain_object(names=("a", "b"), nested=False))
        variant["properties"]["kind"] = {"const": tag, "type": "string"}
        if draw(st.booleans()):
            variant["properties"]["kind"]["default"] = tag
        if draw(st.booleans()):
            variant["required"] = [*variant.get("required", []), "kind"]
        variants.append(variant)
    key = draw(st.sampled_from(["anyOf", "oneOf"]))
    union: dict[str, Any]
    if draw(st.booleans()):
        defs = {tag.title(): variant for tag, variant in zip(TAGS, variants, strict=False)}
        union = {key: [{"$ref": f"#/$defs/{name}"} for name in defs]}
        extra_defs: dict[str, Any] = {"$defs": defs}
    else:
        union, extra_defs = {key: variants}, {}
    if draw(st.booleans()):
        union["discriminator"] = {"propertyName": "kind"}
    root: dict[str, Any] = {
        "type": "object",
        "properties": {"pet": union},
        "required": ["pet"],
        **extra_defs,
    }
    if draw(st.booleans()):
        root["properties"]["pets"] = {"type": "array", "items": copy.deepcopy(union)}
    return root


@st.composite
def union_beside_properties(draw: st.DrawFn) -> dict[str, Any]:
    """An object with properties of its own and a tagged union of parts adding more."""
    own = draw(_plain_object(names=("a", "b"), nested=False))
    branches = []
    for tag in TAGS[: draw(st.integers(2, 3))]:
        branch = draw(_plain_object(names=("c", "d"), nested=False))
        branch.pop("type")
        branch["properties"]["kind"] = {"const": tag}
        branch["required"] = [*branch.get("required", []), "kind"]
        branches.append(branch)
    node = {**own, draw(st.sampled_from(["anyOf", "oneOf"])): branches}
    # Under a property: at the root the rewrite would be a union, which strict mode refuses.
    return {"type": "object", "properties": {"x": node}, "required": ["x"]}


@st.composite
def overlapping_one_of(draw: st.DrawFn) -> dict[str, Any]:
    """``oneOf`` branches sharing property names, told apart only by the type of a required
    ``a``: strict mode sends them as ``anyOf``, and its nulls must be read in the right branch."""
    kinds = draw(
        st.lists(st.sampled_from(["string", "integer", "boolean"]), min_size=2, max_size=3,
                 unique=True)
    )  # fmt: skip
    branches = []
    for kind in kinds:
        branch = draw(_plain_object(names=("b", "c"), nested=False))
        branch["properties"]["a"] = {"type": kind}
        branch["required"] = [*branch.get("required", []), "a"]
        branches.append(branch)
    return {"type": "object", "properties": {"x": {"oneOf": branches}}, "required": ["x"]}


#: Definition names JSON Schema refers to only pointer-escaped and percent-encoded.
ESCAPED_NAMES = ("Foo Bar", "a/b", "a~b", "a%b", "Café", "h#1")


@st.composite
def escaped_definition_names(draw: st.DrawFn) -> dict[str, Any]:
    """Definitions whose names need escaping, used by plain ``$ref``s and in a pattern that
    strict mode keeps (a named group, escaped parentheses)."""
    from toolwire._strict import _definition_ref

    names = draw(st.lists(st.sampled_from(ESCAPED_NAMES), min_size=1, max_size=3, unique=True))
    defs = {name: draw(_plain_object(names=("a", "b"), nested=False)) for name in names}
    properties: dict[str, Any] = {
        f"p{i}": {"$ref": _definition_ref("$defs", name)} for i, name in enumerate(names)
    }
    properties["code"] = {"type": "string", "pattern": draw(st.sampled_from(
        ["^(?P<word>[a-z]+)$", "^\\(?[0-9]+\\)?$", "^[(?=]*$"]))}  # fmt: skip
    return {"type": "object", "properties": properties, "required": sorted(properties),
            "$defs": defs}  # fmt: skip


def _rooted(draw: st.DrawFn, node: dict[str, Any]) -> dict[str, Any]:
    """The node as the tool's root, or nested under a required property of it."""
    if draw(st.booleans()):
        return node
    return {"type": "object", "properties": {"x": node}, "required": ["x"]}


_SHARED = {
    "a": {"type": "string"},
    "b": {"type": "integer"},
    "c": {"type": ["string", "null"]},
    "d": {"type": "integer", "minimum": 1},
}


def _shared(name: str, sub: dict[str, Any]) -> dict[str, Any]:
    """One type per name, whichever part declares it, so that some value satisfies them all."""
    return dict(_SHARED.get(name, sub))


SCHEMA_CLASSES = {
    "allOf": all_of_objects(),
    "ref_siblings": ref_with_siblings(),
    "discriminated_union": discriminated_unions(),
    "union_beside_properties": union_beside_properties(),
    "overlapping_one_of": overlapping_one_of(),
    "escaped_definition_names": escaped_definition_names(),
}


# -- strict mode's form of a call, and its meaning back ------------------------------------------


def fill(value: Any, original: Any, strict: Any, root: Any, strict_root: Any) -> Any:
    """``value`` as strict mode sends it: left-out optional keys as ``null``, tags as their value.

    ``original`` and ``strict`` are walked side by side: the original says which keys are
    optional, the strict schema what strict mode puts in their place.
    """
    strict = _deref(strict, strict_root)
    if isinstance(strict, dict) and "anyOf" in strict:
        branches = [_deref(b, strict_root) for b in strict["anyOf"]]
        candidates = [fill(value, original, b, root, strict_root) for b in branches]
        for candidate, branch in zip(candidates, branches, strict=True):
            if _valid(candidate, branch, strict_root):
                return candidate
        objects = [c for c, b in zip(candidates, branches, strict=True) if b.get("type") != "null"]
        return objects[0] if objects else value
    if isinstance(value, dict) and isinstance(strict, dict) and "properties" in strict:
        properties, required, placed = object_view(value, original, root)
        out = {}
        for key, item in value.items():
            sub = strict["properties"].get(key)
            out[key] = (
                item if sub is None else fill(item, properties.get(key), sub, root, strict_root)
            )
        for key, sub in strict["properties"].items():
            if key in out or key in required:
                continue
            tag = _tag(_deref(sub, strict_root))
            if tag is None:
                out[key] = None
            elif placed:
                out[key] = tag[0]  # strict mode always sends a tag (a const): the variant's own
        return out
    if isinstance(value, list) and isinstance(strict, dict) and "items" in strict:
        items = _items(original, root)
        return [fill(v, items, strict["items"], root, strict_root) for v in value]
    return value


def _tag(node: Any) -> tuple[Any] | None:
    if isinstance(node, dict):
        if "const" in node:
            return (node["const"],)
        if isinstance(node.get("enum"), list) and len(node["enum"]) == 1:
            return (node["enum"][0],)
    return None


def object_view(
    value: dict[str, Any], node: Any, root: Any
) -> tuple[dict[str, Any], set[str], bool]:
    """The properties and required names of the schema parts that apply to ``value``.

    The flag says whether every union on the way had a branch for the value; when one had
    none, the value matches no variant and which keys are optional is moot.
    """
    properties: dict[str, Any] = {}
    required: set[str] = set()
    placed = True
    stack = [node]
    for _ in range(200):
        if not stack:
            break
        current = _deref(stack.pop(), root)
        if not isinstance(current, dict):
            continue
        for name, sub in current.get("properties", {}).items():
            properties.setdefault(name, sub)
        required.update(current.get("required", ()))
        if "$ref" in current:
            stack.append(current["$ref"] and _resolve(current["$ref"], root))
        stack.extend(current.get("allOf", ()))
        branches = [*current.get("anyOf", ()), *current.get("oneOf", ())]
        fitting = [b for b in branches if _valid(value, b, root)] or [
            b for b in branches if _tag_matches(value, _deref(b, root))
        ]
        if fitting:
            stack.append(fitting[0])
        elif branches:
            placed = False
    return properties, required, placed


def _tag_matches(value: dict[str, Any], branch: Any) -> bool:
    if not isinstance(branch, dict):
        return False
    return any(
        "const" in sub and value.get(name) == sub["const"]
        for name, sub in branch.get("properties", {}).items()
        if isinstance(sub, dict)
    )


def _items(node: Any, root: Any) -> Any:
    node = _deref(node, root)
    if isinstance(node, dict):
        if "items" in node:
            return node["items"]
        for branch in node.get("anyOf", []):
            found = _items(branch, root)
            if found is not None:
                return found
    return None


def _deref(node: Any, root: Any) -> Any:
    for _ in range(50):
        if isinstance(node, dict) and set(node) - {"description", "title", "default"} == {"$ref"}:
            node = _resolve(node["$ref"], root)
        else:
            return node
    return node


def _resolve(ref: str, root: Any) -> Any:
    node = root
    for part in urllib.parse.unquote(ref).lstrip("#").split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _valid(value: Any, node: Any, root: Any) -> bool:
    if not isinstance(node, dict):
        return bool(node)
    defs = {k: root[k] for k in ("$defs", "definitions") if isinstance(root, dict) and k in root}
    return jsonschema.Draft202012Validator({**defs, **node}).is_valid(value)


def mutations(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> list[Any]:
    """Calls that must be refused: an unknown key added, a required key taken away."""
    found: list[Any] = []
    if isinstance(value, dict):
        found.append({**value, "zz_unknown": 1})
        _, required, _ = object_view(value, schema, root)
        for key in sorted(required & set(value)):
            found.append({k: v for k, v in value.items() if k != key})
    return found
