"""The parse and validate stages: raw arguments to the keyword arguments a tool receives.

Parsing refuses what JSON should not carry (oversized or too-deep input, ``NaN``, a lone
surrogate, anything but an object) before and while it parses. Validation runs a compiled jsonschema-rs
validator, built once per tool; ``jsonschema`` stays the reference it is tested against.
Error messages say what to fix, one line per problem (``_problems``): the value's path, what
the schema allows, and what was sent, shortened and never a redact-listed value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

from ._errors import ToolError
from ._problems import Describer, json_type
from ._strict import restorations

if TYPE_CHECKING:
    from ._tools import Tool
    from ._values import CallContext

_OBJECT_OPENERS: Final = ("{", "[")
#: A JSON escape of a UTF-16 surrogate, ``\\ud800`` to ``\\udfff``: half of a pair, or alone.
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
#: A surrogate code point in decoded text: a half that found no other half.
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 parses to inf: Infinity under another spelling. Costs only calls that send floats.
    value = float(text)
    if value in _INFINITIES:
        raise ValueError("a number too large for a float (Infinity) is not valid JSON")
    return value


_INFINITIES: Final = (math.inf, -math.inf)
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
_decode: Final = _DECODER.decode
#: What ``decode`` calls (through ``raw_decode``): the C scanner, set up by the decoder.
_scan: Final[Callable[[str, int], tuple[Any, int]]] = _DECODER.scan_once  # type: ignore[attr-defined]


def _loads(text: str) -> Any:
    """``_decode(text)``, for text that is one object with nothing around it (as models send
    arguments) straight from the C scanner: half the cost of ``decode``'s two whitespace
    matches and its Python frames. Anything else, errors included, takes ``decode``, which
    says what is wrong."""
    if text[:1] == "{":
        try:
            value, end = _scan(text, 0)
        except (StopIteration, ValueError, RecursionError):
            return _decode(text)
        if end == len(text):
            return value
    return _decode(text)


def _invalid(message: str, **details: Any) -> ToolError:
    return ToolError(message, kind="invalid_arguments", details=details or None)


def parse_arguments(raw: Any, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """Turn what the model sent (a JSON string, bytes, a mapping or nothing) into a dict.

    Raises:
        ToolError: ``invalid_arguments`` for anything that is not a JSON object within the caps.
    """
    if type(raw) is str:  # what models send: first
        return _parse_json_text(raw, max_bytes, max_depth)
    if raw is None:
        return {}
    if isinstance(raw, bytes | bytearray):
        if len(raw) > max_bytes:
            raise _too_large(len(raw), max_bytes)
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("arguments are not valid UTF-8") from None
    if isinstance(raw, str):
        return _parse_json_text(raw, max_bytes, max_depth)
    if isinstance(raw, Mapping):
        _check_plain(raw, max_depth)
        return dict(raw)
    raise _invalid(f"arguments must be a JSON object, got {json_type(raw)}")


def _parse_json_text(text: str, max_bytes: int, max_depth: int) -> dict[str, Any]:
    # len(text) <= bytes <= 4 * len(text): the exact count is only needed in between.
    if len(text) > max_bytes or (len(text) * 4 > max_bytes and _utf8_size(text) > max_bytes):
        raise _too_large(_utf8_size(text), max_bytes)
    if text[:1] != "{" and not text.strip():
        return {}
    # Deeper nesting than the cap needs more openers than the cap (and more characters):
    # counting them is cheap, and text no longer than the cap needs no count.
    if (
        len(text) > max_depth
        and text.count("{") + text.count("[") > max_depth
        and _depth_of_text(text) > max_depth
    ):
        raise _invalid(f"arguments are nested deeper than {max_depth} levels")
    try:
        value = _loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"arguments are not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "send a single JSON object"
        ) from None
    except ValueError as exc:  # NaN / Infinity
        raise _invalid(f"arguments are not valid JSON: {exc}") from None
    except RecursionError:
        raise _invalid(f"arguments are nested deeper than {max_depth} levels") from None
    if not isinstance(value, dict):
        raise _invalid(f"arguments must be a JSON object, got {json_type(value)}")
    # Only text that escapes a surrogate, or holds one as it is, can decode to a lone one:
    # two substring tests at C speed for every other call.
    if ("\\u" in text and _SURROGATE_ESCAPE.search(text)) or (
        not text.isascii() and _SURROGATE.search(text)
    ):
        _refuse_surrogates(value, max_depth)
    return value


def _utf8_size(text: str) -> int:
    # surrogatepass: a lone surrogate (JSON can escape one) must be counted, not raise.
    return len(text.encode("utf-8", "surrogatepass"))


def _too_large(size: int, cap: int) -> ToolError:
    return _invalid(f"arguments are {size} bytes; the limit is {cap}", limit=cap)


def _depth_of_text(text: str) -> int:
    """Deepest bracket nesting outside strings, in one pass without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in _OBJECT_OPENERS:
            depth += 1
            deepest = max(deepest, depth)
        elif char in "}]":
            depth -= 1
    return deepest


def _check_plain(value: Any, max_depth: int) -> None:
    """Refuse a mapping the host passed that JSON could not have carried (NaN, deep, odd types)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth > max_depth:
                raise _invalid(f"arguments are nested deeper than {max_depth} levels")
            if isinstance(item, Mapping):
                for key in item:
                    if not isinstance(key, str):
                        raise _invalid("argument object keys must be strings")
                    if not key.isascii() and _SURROGATE.search(key):
                        _refuse_surrogates(value, max_depth)
                stack.extend((v, depth + 1) for v in item.values())
            else:
                stack.extend((v, depth + 1) for v in item)
        elif isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                _refuse_surrogates(value, max_depth)
        elif isinstance(item, float) and not math.isfinite(item):
            raise _invalid("arguments contain NaN or Infinity, which JSON cannot carry")
        elif not (item is None or isinstance(item, str | int | float)):
            raise _invalid(f"arguments contain a {type(item).__name__}, which JSON cannot carry")


def _refuse_surrogates(value: Any, max_depth: int) -> None:
    """Name the first lone surrogate (in a key or a text), in document order, by its path.

    Text with one cannot be encoded as UTF-8: not for the approval digest, the audit trail, a
    span or an MCP reply. Each container is visited once, within the depth cap (a host's
    mapping may be cyclic).

    Raises:
        ToolError: ``invalid_arguments`` with ``details["path"]``, when there is one.
    """
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, parts = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise _surrogate(_path(parts) or "arguments", key=False)
        elif isinstance(item, Mapping | list | tuple):
            if id(item) in seen or len(parts) > max_depth:
                continue
            seen.add(id(item))
            if isinstance(item, Mapping):
                for key in item:
                    if isinstance(key, str) and not key.isascii() and _SURROGATE.search(key):
                        raise _surrogate(_path([*parts, _escaped(key)]), key=True)
                entries: list[tuple[Any, tuple[str | int, ...]]] = [
                    (v, (*parts, k)) for k, v in item.items()
                ]
            else:
                entries = [(v, (*parts, i)) for i, v in enumerate(item)]
            stack.extend(reversed(entries))


def _surrogate(path: str, *, key: bool) -> ToolError:
    where = f"the key {path}" if key else path
    return _invalid(
        f"arguments are not valid Unicode text: {where} holds a lone surrogate (a \\ud800 to "
        "\\udfff escape that is not half of a pair); send the character as UTF-8 or as a "
        "complete pair of escapes",
        path=path,
    )


def _escaped(text: str) -> str:
    """``text`` with each surrogate written as its ``\\uXXXX`` escape, encodable again."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: What a typed parameter's format expects (the forms pydantic parses), said to the model.
_TYPED_FORMS: Final = {
    "date-time": (
        "a date and time in ISO 8601 form, such as 2024-05-01T09:30:00 or "
        "2024-05-01T09:30:00+02:00 (the offset is optional)"
    ),
    "date": "a date in ISO 8601 form, such as 2024-05-01",
    "time": "a time in ISO 8601 form, such as 09:30, 09:30:15 or 09:30:00+02:00",
    "duration": "a duration in ISO 8601 form, such as P1DT2H or PT30M",
    "uuid": "a UUID such as 123e4567-e89b-12d3-a456-426614174000",
}


#: Problems listed in one message, at most; the rest are counted.
MAX_PROBLEMS: Final = 20
#: Readings of a call with strict mode's nulls tried, at most, before it is refused.
MAX_RESTORATIONS: Final = 16


class ArgumentsValidator:
    """A tool's compiled validator and converters, made when the tool was defined.

    Args:
        tool: The tool.
        redact: Lower-cased argument names (``[logging] redact``): a value under a key that
            contains one is never shown in a message.
    """

    __slots__ = (
        "_accepted",
        "_context_param",
        "_converters",
        "_defaults",
        "_describer",
        "_plain",
        "_rs",
        "_schema",
        "_whole_numbers",
        "tool_name",
    )

    def __init__(self, tool: Tool, redact: Collection[str]) -> None:
        signature = tool.signature
        self.tool_name = tool.name
        self._schema = tool.parameters
        self._rs = signature.validator
        self._context_param = signature.context_param
        self._converters = signature.converters
        self._defaults = signature.defaults
        self._whole_numbers = signature.whole_numbers
        forms = {k: _TYPED_FORMS[k] for k in signature.formats}
        self._describer = Describer(tool.parameters, redact, forms, self._context_param)
        self._accepted = self._describer.accepted
        # Most tools take their arguments exactly as validated: no copy, no loop.
        self._plain = not (
            self._converters or self._defaults or self._whole_numbers or self._context_param
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Check the arguments against the schema; return them as the tool should see them.

        OpenAI's strict mode sends ``null`` for an optional argument the model left out; those
        nulls are dropped so defaults apply, and are never reported as problems. Where the
        schema leaves it open which nulls stand for "left out" (a union whose branches share
        names), each reading is tried, the schema's own first.

        Raises:
            ToolError: ``invalid_arguments``: one line per problem, each naming the value's
                path, what the schema allows and what was sent (never a secret's value).
        """
        if self._rs.is_valid(arguments):
            return arguments
        restored = arguments
        for reading in restorations(arguments, self._schema, MAX_RESTORATIONS):
            if reading is arguments:
                continue
            if self._rs.is_valid(reading):
                return reading
            if restored is arguments:
                restored = reading  # the schema's own reading: the one whose problems are told
        problems = self._describer.problems(list(self._rs.iter_errors(restored)))
        if not problems:  # every error was said by another line; never an empty message
            problems = ["the arguments do not match the schema"]
        raise ToolError(
            _message(self.tool_name, problems),
            kind="invalid_arguments",
            details={"problems": problems, "accepted": list(self._accepted)},
        )

    def keyword_arguments(self, arguments: dict[str, Any], context: CallContext) -> dict[str, Any]:
        """Convert validated arguments into the declared types, and inject the context.

        A whole float sent for an ``int`` parameter (``3.0``, as Gemini sends every number)
        arrives as ``3``; a parameter whose default is a pydantic ``Field`` gets that default.
        """
        if self._context_param is not None and self._context_param in arguments:
            raise ToolError(
                f"argument '{self._context_param}' is set by the host and cannot be sent",
                kind="invalid_arguments",
            )
        if self._plain:
            return arguments
        kwargs = dict(arguments)
        for name in self._whole_numbers:
            value = kwargs.get(name)
            if value.__class__ is float:
                kwargs[name] = int(value)
        for name, convert in self._converters.items():
            if name in kwargs:
                kwargs[name] = _convert(self.tool_name, name, convert, kwargs[name])
        for name, make in self._defaults.items():
            if name not in kwargs:
                kwargs[name] = make()
        if self._context_param is not None:
            kwargs[self._context_param] = context
        return kwargs


def _message(tool: str, problems: list[str]) -> str:
    """``invalid arguments for NAME: PROBLEM``, or a line per problem when there are several."""
    if len(problems) == 1:
        return f"invalid arguments for {tool}: {problems[0]}"
    shown = problems[:MAX_PROBLEMS]
    lines = [f"invalid arguments for {tool} ({len(problems)} problems):"]
    lines += [f"- {p}" for p in shown]
    if len(problems) > len(shown):
        lines.append(f"- ... and {len(problems) - len(shown)} more")
    return "\n".join(lines)


def _convert(tool: str, name: str, convert: Callable[[Any], Any], value: Any) -> Any:
    import pydantic

    try:
        return convert(value)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{name}{''.join(f'.{p}' for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        raise ToolError(
            f"invalid arguments for {tool}: {problems}", kind="invalid_arguments"
        ) from None


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
