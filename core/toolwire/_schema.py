"""A tool's JSON Schema, inferred from its signature, type hints and docstring.

pydantic builds each parameter's schema from its type (cached per type, so a thousand tools
that share ``str`` and ``int`` pay for them once); docstring_parser reads the parameter
descriptions in Google, NumPy or reST style.
"""

from __future__ import annotations

import enum
import functools
import inspect
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import jsonschema_rs

from ._errors import ConfigError
from ._values import CallContext

#: OpenAI and Anthropic take ``^[A-Za-z0-9_-]{1,64}$``; Gemini also wants a letter or ``_`` first.
TOOL_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

#: Keywords whose value is a map of names to schemas (the names are not keywords).
_SCHEMA_MAPS: Final = (
    "properties",
    "$defs",
    "definitions",
    "patternProperties",
    "dependentSchemas",
)
#: Keywords whose value is a schema or a list of schemas.
_SCHEMA_VALUES: Final = (
    "items", "additionalProperties", "not", "if", "then", "else", "contains",
    "propertyNames", "unevaluatedProperties", "unevaluatedItems",
)  # fmt: skip
_SCHEMA_LISTS: Final = ("anyOf", "oneOf", "allOf", "prefixItems")

_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, type(None), Any, object})


@dataclass(frozen=True, slots=True)
class InferredSignature:
    """What a function's signature says about the tool it makes."""

    description: str
    parameters: dict[str, Any]
    context_param: str | None
    converters: Mapping[str, Callable[[Any], Any]]


def check_tool_name(name: str) -> None:
    """Refuse a name that some provider would reject."""
    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        raise ConfigError(
            f"tool name {name!r} is not valid for every provider: "
            "use 1 to 64 letters, digits, '_' or '-', starting with a letter or '_'"
        )


def check_schema(tool_name: str, schema: Any) -> None:
    """Refuse a parameters schema that is not valid JSON Schema, or not an object schema."""
    if not isinstance(schema, Mapping):
        raise ConfigError(
            f"tool {tool_name!r}: schema must be a JSON object, got {type(schema).__name__}"
        )
    try:
        jsonschema_rs.meta.validate(dict(schema))
    except jsonschema_rs.ValidationError as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid JSON Schema: {exc.message}") from None
    except jsonschema_rs.ReferencingError as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid JSON Schema: {exc}") from None
    if schema.get("type", "object") != "object":
        raise ConfigError(f"tool {tool_name!r}: the parameters schema must have type 'object'")


_NUMPY_SECTION: Final = re.compile(r"^\s*(Parameters|Returns|Raises)\s*\n\s*-{3,}", re.MULTILINE)
_REST_FIELD: Final = re.compile(r"^\s*:(param|type|returns?|raises?)\b", re.MULTILINE)


@functools.cache
def _docstring_parser(style: str) -> Any:
    import docstring_parser

    parsers: dict[str, Callable[[], Any]] = {
        "google": docstring_parser.google.GoogleParser,
        "numpy": docstring_parser.numpydoc.NumpydocParser,
        "rest": lambda: docstring_parser.rest,
    }
    return parsers[style]()


def description_of(func: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """The tool description and each parameter's description, from the docstring.

    The style (Google, NumPy or reST) is recognised once by its section markers, so only
    that style's parser runs.
    """
    doc = getattr(func, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return "", {}
    if _NUMPY_SECTION.search(doc):
        style = "numpy"
    elif _REST_FIELD.search(doc):
        style = "rest"
    else:
        style = "google"
    parsed = _docstring_parser(style).parse(doc)
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    params = {p.arg_name: p.description for p in parsed.params if p.description}
    return "\n\n".join(parts).strip(), params


def type_hints(func: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    """The function's parameter annotations, evaluated (with ``Annotated`` kept).

    String annotations (``from __future__ import annotations``) are compiled once per text
    and evaluated in the function's module; anything unusual goes through
    ``typing.get_type_hints``.
    """
    raw = getattr(func, "__annotations__", None)
    namespace = getattr(func, "__globals__", None)
    if isinstance(raw, dict) and isinstance(namespace, dict):
        try:
            return {
                name: eval(_compiled(value), namespace) if isinstance(value, str) else value
                for name, value in raw.items()
                if name != "return"
            }
        except Exception:  # noqa: BLE001 - fall back to typing's own resolution below
            pass
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # noqa: BLE001 - any failure to resolve hints is the author's to fix
        raise ConfigError(f"tool {tool_name!r}: cannot resolve type hints: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _compiled(annotation: str) -> Any:
    return compile(annotation, "<annotation>", "eval")


def explicit_signature(
    func: Callable[..., Any], tool_name: str, parameters: dict[str, Any]
) -> InferredSignature:
    """A tool whose schema was given: only the description and the context parameter are read."""
    description, _ = description_of(func)
    context_param = None
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception:  # noqa: BLE001 - with an explicit schema, hints are optional
        hints = {}
    for name, hint in hints.items():
        if _strip_annotated(hint) is CallContext:
            context_param = name
    return InferredSignature(description, parameters, context_param, {})


def infer_signature(func: Callable[..., Any], tool_name: str) -> InferredSignature:
    """Build the parameters schema and argument converters for ``func``.

    Raises:
        ConfigError: a parameter kind or type that JSON cannot carry.
    """
    description, param_docs = description_of(func)
    hints = type_hints(func, tool_name)
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    converters: dict[str, Callable[[Any], Any]] = {}
    context_param: str | None = None
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ConfigError(
                f"tool {tool_name!r}: *{param.name} cannot be described to a model; "
                "declare each parameter, or pass schema="
            )
        if param.kind is param.POSITIONAL_ONLY:
            raise ConfigError(f"tool {tool_name!r}: positional-only parameter {param.name!r}")
        annotation = hints.get(param.name, Any)
        if _strip_annotated(annotation) is CallContext:
            context_param = param.name
            continue
        schema, param_defs = _type_schema(annotation)
        for key, value in param_defs.items():
            if defs.setdefault(key, value) != value:
                raise ConfigError(
                    f"tool {tool_name!r}: two different types are both named {key!r}; pass schema="
                )
        schema = dict(schema)
        if param.name in param_docs and "description" not in schema:
            schema["description"] = param_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json_value(param.default):
            schema["default"] = param.default
        elif isinstance(param.default, enum.Enum) and _is_json_value(param.default.value):
            schema["default"] = param.default.value
        properties[param.name] = schema
        if _needs_conversion(annotation):
            converters[param.name] = _converter(annotation)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    if defs:
        parameters["$defs"] = defs
    return InferredSignature(description, parameters, context_param, converters)


def close_objects(schema: Any) -> Any:
    """Make object schemas with declared properties refuse unknown keys, unless they say otherwise."""
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        _walk_subschemas(schema, close_objects)
    return schema


def _type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        return _cached_type_schema(annotation)
    except TypeError:  # unhashable annotation (Annotated with a FieldInfo, say)
        return _build_type_schema(annotation)


@functools.lru_cache(maxsize=1024)
def _cached_type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return _build_type_schema(annotation)


def _converter(annotation: Any) -> Callable[[Any], Any]:
    import pydantic

    return pydantic.TypeAdapter(annotation).validate_python


def _build_type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    import pydantic

    try:
        schema = pydantic.TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}")
    except pydantic.PydanticUserError as exc:
        raise ConfigError(
            f"type {annotation!r} cannot be described as JSON Schema: {exc}"
        ) from None
    except pydantic.errors.PydanticSchemaGenerationError as exc:
        raise ConfigError(
            f"type {annotation!r} cannot be described as JSON Schema: {exc}"
        ) from None
    _strip_titles(schema)
    close_objects(schema)
    defs = schema.pop("$defs", {})
    return schema, defs


def _strip_titles(schema: Any) -> None:
    """Drop pydantic's generated titles: noise in every prompt, and refused by some providers."""
    if isinstance(schema, dict):
        if isinstance(schema.get("title"), str):
            del schema["title"]
        _walk_subschemas(schema, _strip_titles)


def _walk_subschemas(schema: dict[str, Any], visit: Callable[[Any], Any]) -> None:
    for key in _SCHEMA_MAPS:
        sub = schema.get(key)
        if isinstance(sub, dict):
            for value in sub.values():
                visit(value)
    for key in _SCHEMA_VALUES:
        if key in schema:
            visit(schema[key])
    for key in _SCHEMA_LISTS:
        sub = schema.get(key)
        if isinstance(sub, list):
            for value in sub:
                visit(value)


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    return annotation


def _needs_conversion(annotation: Any) -> bool:
    try:
        return _cached_needs_conversion(annotation)
    except TypeError:  # unhashable annotation
        return _decide_conversion(annotation)


@functools.lru_cache(maxsize=1024)
def _cached_needs_conversion(annotation: Any) -> bool:
    return _decide_conversion(annotation)


def _decide_conversion(annotation: Any) -> bool:
    """Whether the JSON value must be converted to reach the declared type.

    Plain JSON shapes (str, int, float, bool, None, Literal, lists and str-keyed dicts of
    those, TypedDicts) arrive as they are; enums, dataclasses, models, tuples, sets, dates
    and the like go through pydantic.
    """
    annotation = _strip_annotated(annotation)
    if annotation in _PLAIN_SCALARS:
        return False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return False
    if origin in (typing.Union, types.UnionType):
        return any(_needs_conversion(a) for a in args)
    if origin is list or annotation is list:
        return any(_needs_conversion(a) for a in args)
    if origin is dict or annotation is dict:
        return any(_needs_conversion(a) for a in args)
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        return any(_needs_conversion(a) for a in hints.values())
    return True


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int | float):
        return True
    if isinstance(value, list | tuple):
        return all(_is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return False
