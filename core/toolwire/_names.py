"""Property names a provider refuses: renamed in that provider's definition, mapped back on call.

A tool's schema may name a property in a way JSON Schema and MCP allow but a model API does
not: OData's ``$top``, ``filter[status]``, ``@odata.type``. Anthropic takes property keys that
match ``^[a-zA-Z0-9_.-]{1,64}$``; Gemini parameter names that match
``^[A-Za-z_][A-Za-z0-9_]{0,63}$``; one key outside its provider's rule makes every request to
that provider fail. So each provider says its rule (``Provider.property_names``) and:

- once per start, every property name some registered provider refuses gets one new name
  (``safe_names``), the same for every provider: deterministic, within every built-in rule,
  and distinct from every property name anywhere in the schema and from each other;
- each provider's definition renames only the keys its own rule refuses (``renamed_schema``),
  at any depth: ``properties``, ``required``, ``dependentRequired``, ``dependentSchemas``,
  nested objects and ``$defs``;
- a call that arrives with new names is mapped back before it is validated
  (``RenamedArguments``): a new name never occurs in the original schema, so a key that
  equals one can only be a renamed key, and is mapped back wherever the object does not hold
  the original key as well. A call without a new name pays one set test (top-level renames)
  or nothing at all (a tool with no renames).

``dispatch`` needs no provider for this: the map is the route's, the same for every provider.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import re
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._arguments import ArgumentsValidator
from ._schemadoc import walk
from .providers import Provider, ToolDefinition

if TYPE_CHECKING:
    from ._tools import Tool

#: A name within every built-in provider's rule: the shape new names take.
SAFE_PROPERTY_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_UNSAFE_RUN: Final = re.compile(r"[^A-Za-z0-9_]+")
_MAX: Final = 64
#: The keywords that name properties: a schema object with none of them names none.
_NAMING: Final = frozenset({"properties", "dependentSchemas", "dependentRequired", "required"})


def property_names(schema: Mapping[str, Any]) -> set[str]:
    """Every property name the schema declares or requires, at any depth."""
    names: set[str] = set()
    for node in walk(schema):
        if _NAMING.isdisjoint(node):
            continue  # most schema objects name no property: nothing to look up
        for key in ("properties", "dependentSchemas", "dependentRequired"):
            sub = node.get(key)
            if isinstance(sub, Mapping):
                names.update(k for k in sub if isinstance(k, str))
        required = node.get("required")
        if isinstance(required, list):
            names.update(k for k in required if isinstance(k, str))
        dependent = node.get("dependentRequired")
        if isinstance(dependent, Mapping):
            for listed in dependent.values():
                if isinstance(listed, list):
                    names.update(k for k in listed if isinstance(k, str))
    return names


def safe_names(schema: Mapping[str, Any], rules: Iterable[re.Pattern[str]]) -> dict[str, str]:
    """Each property name one of ``rules`` refuses, with the one name it is sent under instead.

    The new name is the old one with each run of characters outside ``[A-Za-z0-9_]`` made one
    ``_`` and trimmed at both ends (``$top`` is ``top``, ``filter[status]`` is
    ``filter_status``), ``_`` in front of a leading digit; one that is then empty, longer than
    64 characters, or equal to any property name in the schema or to another new name ends
    in ``_`` and hex digits of its original's SHA-256 instead.

    Args:
        schema: The tool's parameters schema.
        rules: The registered providers' rules (``Provider.property_names``).

    Returns:
        Original name -> new name; empty when every rule takes every name.
    """
    rules = list(rules)
    if not rules:
        return {}
    names = property_names(schema)
    refused = sorted(n for n in names if not all(rule.fullmatch(n) for rule in rules))
    if not refused:
        return {}
    taken = set(names)
    chosen: dict[str, str] = {}
    for name in refused:
        new = _UNSAFE_RUN.sub("_", name).strip("_")
        if new[:1].isdigit():
            new = "_" + new
        if not new or len(new) > _MAX or new in taken:
            digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
            for width in (6, 12, 24, 63):  # longer only if the shorter one is taken too
                suffix = "_" + digest[:width]
                candidate = (new or "p")[: _MAX - len(suffix)] + suffix
                if candidate not in taken:
                    break
            new = candidate
        chosen[name] = new
        taken.add(new)
    return chosen


def refused_by(names: Mapping[str, str], rule: re.Pattern[str] | None) -> dict[str, str]:
    """The part of ``names`` (original -> new) whose originals ``rule`` refuses."""
    if rule is None:
        return {}
    return {old: new for old, new in names.items() if not rule.fullmatch(old)}


def renamed_schema(schema: Any, names: Mapping[str, str]) -> Any:
    """A copy of ``schema`` with each property name in ``names`` replaced by its new name.

    Property names are renamed where they stand for properties: the keys of ``properties``,
    ``dependentSchemas`` and ``dependentRequired``, and the entries of ``required`` and of
    ``dependentRequired``'s lists, in every schema object of the document. Anything else (a
    ``$defs`` name, a ``default`` or ``examples`` value, a description) is copied as it is.
    """
    if not names:
        return schema
    return _renamed(schema, names)


def _renamed(node: Any, names: Mapping[str, str]) -> Any:
    if isinstance(node, list):
        return [_renamed(item, names) for item in node]
    if not isinstance(node, Mapping):
        return node
    copy: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "dependentSchemas") and isinstance(value, Mapping):
            copy[key] = {names.get(k, k): _renamed(v, names) for k, v in value.items()}
        elif key == "dependentRequired" and isinstance(value, Mapping):
            copy[key] = {
                names.get(k, k): [names.get(x, x) for x in v] if isinstance(v, list) else v
                for k, v in value.items()
            }
        elif key == "required" and isinstance(value, list):
            copy[key] = [names.get(x, x) if isinstance(x, str) else x for x in value]
        elif key in _NOT_SCHEMAS:
            copy[key] = value  # data, not schema: a default's keys are the tool's own names
        else:
            copy[key] = _renamed(value, names)
    return copy


#: Keywords whose values are data (or text), never schemas: copied untouched.
_NOT_SCHEMAS: Final = frozenset(
    {"default", "examples", "const", "enum", "description", "title", "$comment"}
)


def arguments_validator(
    tool: Tool, redact: Collection[str], rules: Iterable[re.Pattern[str]]
) -> tuple[ArgumentsValidator, dict[str, str]]:
    """A tool's validator, and the names (original -> new) some provider's rule refuses.

    Made once per start: a tool no rule refuses a name of gets the plain validator.
    """
    names = safe_names(tool.parameters, rules)
    if names:
        return RenamedArguments(tool, redact, names), names
    return ArgumentsValidator(tool, redact), names


def definition_of(provider: Provider, tool: Tool, renamed: Mapping[str, str]) -> ToolDefinition:
    """``provider``'s definition of ``tool``, with the names its own rule refuses renamed
    (``renamed``: the route's names, original -> new) and a note saying which."""
    names = refused_by(renamed, provider.property_names) if renamed else {}
    found = provider.tool_definition(described_as(tool, names))
    if not names:
        return found
    return dataclasses.replace(
        found, problems=(*found.problems, renaming_note(names, provider.name))
    )


def described_as(tool: Tool, names: Mapping[str, str]) -> Tool:
    """``tool`` as a provider describes it: the same tool with its parameters renamed."""
    if not names:
        return tool
    described = copy.copy(tool)
    described.parameters = renamed_schema(tool.parameters, names)
    return described


def renaming_note(names: Mapping[str, str], provider: str) -> str:
    """What a definition with renamed properties tells the host (logged once, per provider)."""
    listed = ", ".join(f"{old!r} as {new!r}" for old, new in sorted(names.items()))
    return (
        f"property names {provider} refuses are sent renamed ({listed}); calls that use the "
        "new names are mapped back before validation"
    )


def originals(arguments: Any, back: Mapping[str, str]) -> Any:
    """``arguments`` with every key that is a new name (``back``: new -> original) mapped back.

    Every object at any depth is looked at; one that already holds the original key keeps
    both as sent, for the validator to judge. Objects with nothing to map are not copied.
    """
    if isinstance(arguments, dict):
        changed = False
        mapped: dict[str, Any] = {}
        for key, value in arguments.items():
            original = back.get(key) if isinstance(key, str) else None
            new_value = originals(value, back)
            if original is not None and original not in arguments:
                mapped[original] = new_value
                changed = True
            else:
                mapped[key] = new_value
                changed = changed or new_value is not value
        return mapped if changed else arguments
    if isinstance(arguments, list):
        values = [originals(v, back) for v in arguments]
        return (
            values if any(n is not o for n, o in zip(values, arguments, strict=True)) else arguments
        )
    return arguments


class RenamedArguments(ArgumentsValidator):
    """The validator of a tool some provider sees with renamed properties: a call made with
    the new names is mapped back to the tool's own names first, then validated as any other.

    Args:
        tool: The tool.
        redact: As for ``ArgumentsValidator``.
        names: Original name -> new name, for every name some registered provider refuses.
    """

    __slots__ = ("_back", "_top_only")

    def __init__(self, tool: Tool, redact: Collection[str], names: Mapping[str, str]) -> None:
        super().__init__(tool, redact)
        self._back = {new: old for old, new in names.items()}
        top = tool.parameters.get("properties")
        declared = set(top) if isinstance(top, Mapping) else set()
        # Only top-level properties renamed: one set test tells whether a call used a new name.
        self._top_only = set(names) <= declared and not _nested_names(tool.parameters, names)

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Map new names back to the tool's own, then validate (see ``ArgumentsValidator``)."""
        if not (self._top_only and self._back.keys().isdisjoint(arguments)):
            arguments = originals(arguments, self._back)
        return super().validate(arguments)


def _nested_names(schema: Mapping[str, Any], names: Mapping[str, str]) -> bool:
    """Whether a renamed name is also a property name somewhere below the root."""
    for node in walk(schema):
        if node is schema:
            continue
        for key in ("properties", "dependentSchemas", "dependentRequired"):
            sub = node.get(key)
            if isinstance(sub, Mapping) and not names.keys().isdisjoint(sub):
                return True
    return False
