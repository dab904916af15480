"""What is wrong with a call's arguments, said so that the model can fix it in one more try.

Each problem the validator finds becomes one line: the value's path, what the schema allows
(the bound, the enum's values, the pattern, the type...) and what was sent, shortened. A value
under a redact-listed name (``[logging] redact``) is never shown, nor is anything under such a
name inside a value that is shown. Lines never hold a line break: text is shown as JSON, and
the characters that some readers take as one are escaped too.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

from ._logging import REDACTED, is_secret_key, redact
from ._schemadoc import resolve

#: Characters of a value shown, at most: enough to recognise it, short enough to read.
SHOWN_CHARS: Final = 40
#: Values of an enum listed, at most.
SHOWN_OPTIONS: Final = 12
#: Names listed as accepted, at most.
SHOWN_NAMES: Final = 20
#: Characters of a pattern or a schema shown, at most.
SHOWN_RULE: Final = 120

_UNION_KINDS: Final = frozenset({"OneOfNotValid", "AnyOf", "OneOfMultipleValid"})
_TAG_KINDS: Final = frozenset({"Constant", "Enum"})
_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_BOUNDS: Final = {
    "Minimum": "must be at least {limit}",
    "Maximum": "must be at most {limit}",
    "ExclusiveMinimum": "must be greater than {limit}",
    "ExclusiveMaximum": "must be less than {limit}",
}
_SIZES: Final = {
    "MinLength": ("at least", "character"),
    "MaxLength": ("at most", "character"),
    "MinItems": ("at least", "item"),
    "MaxItems": ("at most", "item"),
    "MinProperties": ("at least", "key"),
    "MaxProperties": ("at most", "key"),
}


def path_text(parts: Iterable[Any]) -> str:
    """``pet.tags[0]``, or ``filters["a.b"]`` for a key that is not a plain name; ``""`` at the root."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(str(part)):
            text += f".{part}" if text else str(part)
        else:
            text += f"[{_one_line(json.dumps(str(part), ensure_ascii=False))}]"
    return text


def json_type(value: Any) -> str:
    """What the model sent, as JSON names it: ``a string``, ``an object``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def closest(unexpected: Iterable[str], accepted: Collection[str]) -> str:
    """`` (did you mean 'nigths' -> 'nights'?)`` for the unknown names close to a known one."""
    guesses = []
    for key in unexpected:
        match = difflib.get_close_matches(key, list(accepted), n=1)
        if match:
            guesses.append(f"{_name(key)} -> {_name(match[0])}")
    return f" (did you mean {', '.join(guesses)}?)" if guesses else ""


class Describer:
    """Turns a tool's validation errors into lines; made once per tool with its schema.

    Args:
        schema: The tool's parameters, as its validator has them.
        redact: Lower-cased names; a value under a key containing one is never shown.
        forms: What a ``format`` expects, said to the model, by format name.
        host_param: The parameter the host injects (a ``CallContext``), if any.
    """

    def __init__(
        self,
        schema: Mapping[str, Any],
        redact: Collection[str],
        forms: Mapping[str, str],
        host_param: str | None,
    ) -> None:
        self.schema = schema
        self.redact = frozenset(redact)
        self.forms = forms
        self.host_param = host_param
        self.accepted: tuple[str, ...] = tuple(declared(schema, schema))

    def problems(self, errors: list[Any]) -> list[str]:
        """One line per problem, in the validator's order, without repeats.

        A key of an object put together from parts (``allOf``) whose value is wrong is also
        "unevaluated" to JSON Schema; it is reported once, for what is wrong with its value.
        """
        wrong = {tuple(e.instance_path) for e in errors}
        lines: list[str] = []
        for error in errors:
            line = self.describe(error, wrong)
            if line and line not in lines:
                lines.append(line)
        return lines

    def describe(self, error: Any, wrong: set[tuple[Any, ...]] | None = None) -> str:
        """The line for one error ("" when another line already says it)."""
        kind = error.kind
        name = type(kind).__name__
        parts = list(error.instance_path)
        where = path_text(parts) or "arguments"
        got = self._sent(error.instance, parts)
        if name in ("AdditionalProperties", "UnevaluatedProperties"):
            return self._unknown(error, name, parts, wrong or set())
        if name == "Required":
            return self._required(error, parts)
        if name == "PropertyNames":
            inner = kind.error
            key = inner.instance
            rule = self._rule(inner, type(inner.kind).__name__, list(inner.instance_path))
            shown = self._sent(key, parts)
            return f"{where}: every key {rule}, got the key {shown}"
        if name in _UNION_KINDS:
            return self._union(error, name, parts, wrong or set())
        rule = self._rule(error, name, parts)
        if name == "Type":
            return f"{where}: {rule}, got {json_type(error.instance)}" + (
                "" if error.instance is None else f" ({got})"
            )
        if name in ("MinItems", "MaxItems", "MinProperties", "MaxProperties"):
            count = len(error.instance)
            unit = "item" if name.endswith("Items") else "key"
            return f"{where}: {rule}, got {_count(count, unit)}"
        if name in ("MinLength", "MaxLength") and isinstance(error.instance, str):
            if self._secret(parts):
                return f"{where}: {rule}, got {got}"
            return f"{where}: {rule}, got {got} ({_count(len(error.instance), 'character')})"
        if name == "UniqueItems":
            return f"{where}: {rule}"
        if name in ("UnevaluatedItems", "AdditionalItems"):
            return f"{where}: {rule}, got {_count(len(error.instance), 'item')}"
        return f"{where}: {rule}, got {got}"

    # -- what the schema allows ----------------------------------------------------------------

    def _rule(self, error: Any, name: str, parts: list[Any]) -> str:
        kind = error.kind
        if name in _BOUNDS:
            return _BOUNDS[name].format(limit=_number(kind.limit))
        if name in _SIZES:
            side, unit = _SIZES[name]
            noun = {"character": "be", "item": "have", "key": "have"}[unit]
            length = " long" if unit == "character" else ""
            return f"must {noun} {side} {_count(kind.limit, unit)}{length}"
        if name == "MultipleOf":
            return f"must be a multiple of {_number(kind.multiple_of)}"
        if name == "Type":
            return f"expected {' or '.join(kind.types)}"
        if name == "Enum":
            return f"must be one of {_options(kind.options)}"
        if name == "Constant":
            return f"must be {_shown_json(kind.expected_value)}"
        if name == "Pattern":
            return f"must match the pattern {_clip(str(kind.pattern), SHOWN_RULE)}"
        if name == "Format":
            return f"must be {self.forms.get(kind.format, f'a valid {kind.format}')}"
        if name == "Not":
            return f"must not match the schema {_clip(_compact(kind.schema), SHOWN_RULE)}"
        if name == "FalseSchema":
            return "is not allowed here (the schema accepts no value at this place)"
        if name == "UniqueItems":
            return _duplicates(error.instance)
        if name == "Contains":
            return self._contains(error)
        if name == "UnevaluatedItems":
            return "holds more items than the schema describes"
        if name == "AdditionalItems":
            return f"must have at most {_count(kind.limit, 'item')}"
        if name == "ContentEncoding":
            return f"must be {kind.content_encoding}-encoded text"
        if name == "ContentMediaType":
            return f"must be text of media type {kind.content_media_type}"
        if name == "Custom":
            return _one_line(str(kind.message))
        if name in ("BacktrackLimitExceeded", "RegexEngineFailure"):
            return "could not be checked against its pattern (the pattern is too complex)"
        return f"does not satisfy {_keyword(error)!r} in the schema"

    def _contains(self, error: Any) -> str:
        node = self._node(error)
        keyword = _keyword(error)
        sub = node.get("contains") if isinstance(node, Mapping) else None
        what = _clip(_compact(sub), SHOWN_RULE) if sub is not None else "the contains schema"
        at_least = node.get("minContains", 1) if isinstance(node, Mapping) else 1
        if keyword == "maxContains" and isinstance(node, Mapping):
            limit = node.get("maxContains")
            return f"must hold at most {_count(limit, 'item')} matching {what}"
        return f"must hold at least {_count(at_least, 'item')} matching {what}"

    # -- keys ----------------------------------------------------------------------------------

    def _unknown(self, error: Any, name: str, parts: list[Any], wrong: set[tuple[Any, ...]]) -> str:
        unexpected = [str(k) for k in error.kind.unexpected]
        if name == "UnevaluatedProperties":
            # A declared key whose value is wrong is not evaluated; its own line says why.
            unexpected = [
                k for k in unexpected if not any(w[: len(parts) + 1] == (*parts, k) for w in wrong)
            ]
            if not unexpected:
                return ""
        if not parts and self.host_param is not None and self.host_param in unexpected:
            return f"{_name(self.host_param)} is set by the host and cannot be sent"
        node = self._node(error)
        accepted = declared(node, self.schema) if isinstance(node, Mapping) else []
        if not parts and not accepted:
            accepted = list(self.accepted)
        place = f" in {path_text(parts)}" if parts else ""
        listed = ", ".join(_name(n) for n in unexpected[:SHOWN_NAMES])
        more = f" (+{len(unexpected) - SHOWN_NAMES} more)" if len(unexpected) > SHOWN_NAMES else ""
        names = ", ".join(accepted[:SHOWN_NAMES]) + (
            f" (+{len(accepted) - SHOWN_NAMES} more)" if len(accepted) > SHOWN_NAMES else ""
        )
        return (
            f"unknown argument(s) {listed}{more}{place}; accepted: {names or '(none)'}"
            f"{closest(unexpected, accepted)}"
        )

    def _required(self, error: Any, parts: list[Any]) -> str:
        missing = error.kind.property
        place = f" in {path_text(parts)}" if parts else ""
        schema_path = list(error.schema_path)
        because = ""
        if "dependentSchemas" in schema_path[-3:-1]:
            because = f" (required when {_name(schema_path[-2])} is sent)"
        elif schema_path and schema_path[-1] == "dependentRequired":
            node = self._node(error)
            rules = node.get("dependentRequired", {}) if isinstance(node, Mapping) else {}
            sent = error.instance if isinstance(error.instance, Mapping) else {}
            triggers = [k for k, names in rules.items() if k in sent and missing in names]
            if triggers:
                because = f" (required when {_name(triggers[0])} is sent)"
        return f"missing required argument {_name(missing)}{place}{because}"

    # -- unions --------------------------------------------------------------------------------

    def _union(self, error: Any, name: str, parts: list[Any], wrong: set[tuple[Any, ...]]) -> str:
        """A union's failure told by the variant the value's tag picks, when a tag picks one."""
        where = path_text(parts) or "arguments"
        branches = [list(b) for b in (getattr(error.kind, "context", None) or ())]
        if name == "OneOfMultipleValid":
            matched = [str(i + 1) for i, b in enumerate(branches) if not b]
            which = f" (shapes {', '.join(matched)})" if len(matched) > 1 else ""
            return (
                f"{where}: matches more than one of the accepted shapes{which}; "
                "make it match exactly one"
            )
        if not branches:
            return f"{where}: does not satisfy {_keyword(error)!r} in the schema"
        depth = len(parts)

        def tag_errors(branch: list[Any]) -> list[Any]:
            return [
                e
                for e in branch
                if type(e.kind).__name__ in _TAG_KINDS and len(e.instance_path) == depth + 1
            ]

        picked = [b for b in branches if not tag_errors(b)]
        if len(picked) == 1 and len(branches) > 1:
            inner = {tuple(e.instance_path) for e in picked[0]} | wrong
            lines = [self.describe(e, inner) for e in picked[0]]
            return "; ".join(dict.fromkeys(line for line in lines if line))
        # Every variant misses the same key: the tag was left out.
        missing = set.intersection(
            *({e.kind.property for e in b if type(e.kind).__name__ == "Required"} for b in branches)
        )
        if missing:
            place = f" in {path_text(parts)}" if parts else ""
            return f"missing required argument {_name(sorted(missing)[0])}{place}"
        mismatched = [tag_errors(b) for b in branches]
        tags = {list(e.instance_path)[-1] for errors in mismatched for e in errors}
        if not picked and len(tags) == 1:
            tag = tags.pop()
            values: list[Any] = []
            for errors in mismatched:
                for e in errors:
                    kind = e.kind
                    found = (
                        [kind.expected_value] if hasattr(kind, "expected_value") else kind.options
                    )
                    values.extend(v for v in found if v not in values)
            sent = error.instance.get(tag) if isinstance(error.instance, Mapping) else None
            return (
                f"{path_text([*parts, tag])}: must be one of {_options(values)}, "
                f"got {self._sent(sent, [*parts, tag])}"
            )
        briefs = []
        for index, branch in enumerate(branches, 1):
            first = branch[0]
            rest = list(first.instance_path)[depth:]
            rule = self._brief(first)
            briefs.append(f"({index}) {path_text(rest) + ' ' if rest else ''}{rule}")
        return (
            f"{where}: matches none of the {len(branches)} accepted shapes: "
            f"{'; '.join(briefs)}; got {self._sent(error.instance, parts)}"
        )

    def _brief(self, error: Any) -> str:
        name = type(error.kind).__name__
        if name == "Required":
            return f"requires {_name(error.kind.property)}"
        if name in ("AdditionalProperties", "UnevaluatedProperties"):
            return f"does not accept {', '.join(_name(str(k)) for k in error.kind.unexpected)}"
        if name in _UNION_KINDS:
            return "matches none of its own shapes"
        if name == "PropertyNames":
            return "has a key it does not accept"
        return self._rule(error, name, list(error.instance_path))

    # -- what was sent -------------------------------------------------------------------------

    def _secret(self, parts: list[Any]) -> bool:
        return bool(self.redact) and any(
            isinstance(p, str) and is_secret_key(p, self.redact) for p in parts
        )

    def _sent(self, value: Any, parts: list[Any]) -> str:
        """The value as the model reads it back: JSON, shortened, never a secret."""
        if self._secret(parts):
            return REDACTED
        if isinstance(value, str):
            if len(value) > SHOWN_CHARS:
                return _one_line(json.dumps(value[:SHOWN_CHARS], ensure_ascii=False)[:-1] + '…"')
            return _one_line(json.dumps(value, ensure_ascii=False))
        if isinstance(value, Mapping | list):
            value = redact(value, self.redact) if self.redact else value
        return _shown_json(value)

    def _node(self, error: Any) -> Any:
        """The schema object that holds the keyword the error is about."""
        node: Any = self.schema
        for part in list(error.schema_path)[:-1]:
            inside = (isinstance(node, Mapping) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and part < len(node)
            )
            if not inside:
                return None
            node = node[part]
        return node


def declared(node: Any, root: Mapping[str, Any]) -> list[str]:
    """The property names a schema object declares, itself or through its in-place parts."""
    names: dict[str, None] = {}
    stack: list[Any] = [node]
    seen: set[int] = set()
    while stack:
        item = stack.pop(0)
        if not isinstance(item, Mapping) or id(item) in seen or len(seen) > 1_000:
            continue
        seen.add(id(item))
        properties = item.get("properties")
        if isinstance(properties, Mapping):
            names.update(dict.fromkeys(str(k) for k in properties))
        if isinstance(item.get("$ref"), str):
            stack.append(resolve(root, item["$ref"]))
        for key in ("allOf", "anyOf", "oneOf"):
            parts = item.get(key)
            if isinstance(parts, list):
                stack.extend(parts)
        for key in ("then", "else"):
            stack.append(item.get(key))
        dependent = item.get("dependentSchemas")
        if isinstance(dependent, Mapping):
            stack.extend(dependent.values())
    return list(names)


def _keyword(error: Any) -> str:
    path = list(error.schema_path)
    return str(path[-1]) if path else "schema"


def _name(key: Any) -> str:
    return _one_line(repr(str(key)))


def _count(number: Any, unit: str) -> str:
    return f"{number} {unit}" + ("" if number == 1 else "s")


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value)


def _options(values: list[Any]) -> str:
    shown = ", ".join(_shown_json(v) for v in values[:SHOWN_OPTIONS])
    if len(values) > SHOWN_OPTIONS:
        shown += f" (+{len(values) - SHOWN_OPTIONS} more)"
    return shown


def _shown_json(value: Any) -> str:
    if isinstance(value, str) and len(value) > SHOWN_CHARS:
        return _one_line(json.dumps(value[:SHOWN_CHARS], ensure_ascii=False)[:-1] + '…"')
    return _clip(_compact(value), SHOWN_CHARS)


def _compact(value: Any) -> str:
    try:
        return _one_line(json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    except (TypeError, ValueError):  # not JSON: a host's mapping; said by its type
        return type(value).__name__


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _one_line(text: str) -> str:
    """``text`` with the characters some readers break lines at (or hide text with) escaped."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
        for c in text
    )


def _duplicates(items: Any) -> str:
    """Which two items are equal, as JSON Schema compares them (``1`` equals ``1.0``)."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items if isinstance(items, list) else ()):
        key = _canonical(item)
        if key in seen:
            return f"must hold unique items, got [{seen[key]}] and [{index}] equal"
        seen[key] = index
    return "must hold unique items"


def _canonical(value: Any) -> str:
    def normal(item: Any) -> Any:
        if isinstance(item, float) and math.isfinite(item) and item.is_integer():
            return int(item)
        if isinstance(item, Mapping):
            return {str(k): normal(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [normal(v) for v in item]
        return item

    return json.dumps(normal(value), sort_keys=True, default=repr)
