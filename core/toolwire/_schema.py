"""A tool's JSON Schema, inferred from its signature, type hints and docstring, or given.

pydantic builds each parameter's schema from its type (cached per type, so a thousand tools
that share ``str`` and ``int`` pay for them once); docstring_parser reads the parameter
descriptions in Google, NumPy or reST style. A given schema (``schema=``) goes through
``_schemadoc`` instead. Either way the result is checked once, here, when the tool is defined,
and compiled then (a given schema whole, an inferred one type by type, each type once), so a
schema the validator cannot use stops the definition; the validator calls use is compiled on
the tool's first call, once: nothing about a schema is worked out per call.

Why one module of this length: the two ways to a signature (inferred, given) end in the same
``InferredSignature`` and the same per-parameter rules (the context parameter, converters,
defaults, the validator); apart, each would have to reach into the other's rules.
"""

from __future__ import annotations

import copy
import datetime
import enum
import functools
import inspect
import json
import math
import re
import sys
import types
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jsonschema_rs

from . import _schemadoc as doc
from ._errors import ConfigError

#: OpenAI and Anthropic take ``^[A-Za-z0-9_-]{1,64}$``; Gemini also wants a letter or ``_`` first.
TOOL_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")

_PLAIN_SCALARS: Final = frozenset({str, int, float, bool, type(None), Any, object})
#: The empty mapping every signature without converters, defaults or formats shares.
_NOTHING: Final[Mapping[str, Any]] = types.MappingProxyType({})
_NONE_TYPE: Final = type(None)


@dataclass(frozen=True, slots=True)
class InferredSignature:
    """What a function and its schema say about the tool they make, worked out once.

    Attributes:
        description: The docstring's summary and body.
        parameters: The JSON Schema of the arguments (an object schema, objects closed).
        context_param: The parameter that receives the ``CallContext``, if any.
        converters: Per parameter, what turns the JSON value into the declared type.
        defaults: Per parameter whose default the function itself does not hold (a pydantic
            ``Field`` as the default), what makes the value it receives when the model sends none.
        whole_numbers: ``int`` parameters: a whole float (``3.0``) arrives as ``3``.
        formats: String formats checked the way the declared types parse them (pydantic's
            date and time forms), by format name.
        tool_name: The tool's name, for messages.
    """

    description: str
    parameters: dict[str, Any]
    context_param: str | None
    converters: Mapping[str, Callable[[Any], Any]]
    defaults: Mapping[str, Callable[[], Any]] = field(default_factory=lambda: _NOTHING)
    whole_numbers: tuple[str, ...] = ()
    formats: Mapping[str, Callable[[str], bool]] = field(default_factory=lambda: _NOTHING)
    tool_name: str = ""
    _compiled: Any = None

    @property
    def validator(self) -> Any:
        """The jsonschema-rs validator of ``parameters``: compiled on its first use, once.

        The schema was compiled when the tool was defined (``describe``), so one that cannot
        be used stopped the definition and the first use cannot fail.
        """
        if self._compiled is None:
            lazy = doc.LazyValidator(self.tool_name, self.parameters, self.formats)
            object.__setattr__(self, "_compiled", lazy)  # frozen, but made once, on first need
        return self._compiled


def check_tool_name(name: str) -> None:
    """Refuse a name that some provider would reject."""
    if not isinstance(name, str) or not TOOL_NAME_RE.match(name):
        raise ConfigError(
            f"tool name {name!r} is not valid for every provider: "
            "use 1 to 64 letters, digits, '_' or '-', starting with a letter or '_'"
        )


def check_schema(tool_name: str, schema: Any) -> None:
    """Refuse a parameters schema that is not valid JSON Schema, or not an object schema.

    Raises:
        ConfigError: naming the tool and the first problem.
    """
    if not isinstance(schema, Mapping):
        raise ConfigError(
            f"tool {tool_name!r}: schema must be a JSON object, got {type(schema).__name__}"
        )
    doc.dialect(tool_name, schema)  # before the metaschema check, which would fetch an unknown one
    try:
        jsonschema_rs.meta.validate(schema if type(schema) is dict else dict(schema))
    except jsonschema_rs.ValidationError as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid JSON Schema: {exc.message}") from None
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid JSON Schema: {exc}") from None
    if schema.get("type", "object") != "object":
        raise ConfigError(f"tool {tool_name!r}: the parameters schema must have type 'object'")


def given_schema(tool_name: str, schema: Any) -> dict[str, Any]:
    """A schema someone wrote, made into what toolwire uses: checked, 2020-12, local, closed.

    The caller's object is never changed.

    Raises:
        ConfigError: past the limits, not JSON, not a valid object schema, an unknown
            ``$schema``, or a ``$ref`` that is not local or resolves to nothing.
    """
    if not isinstance(schema, Mapping):
        raise ConfigError(
            f"tool {tool_name!r}: schema must be a JSON object, got {type(schema).__name__}"
        )
    keys: set[str] = set()
    parameters: dict[str, Any]
    parameters, values = doc.surveyed_copy(tool_name, schema, keys)
    check_schema(tool_name, parameters)
    doc.upgrade(parameters, doc.dialect(tool_name, parameters))
    # Most schemas hold no reference, no embedded $id and no discriminator: the checks and
    # rewrites that look only at those have nothing to do there. Without a reference a schema
    # is a tree, so no more subschemas can apply to one value than it holds values.
    refers = not keys.isdisjoint(_REFERENCES)
    if refers or "$id" in keys or values > doc.MAX_IN_PLACE_EXPANSION:
        doc.check_references(tool_name, parameters)
    if "discriminator" in keys:
        doc.require_tags(parameters)
    return doc.close_objects(parameters, refers=refers)  # type: ignore[no-any-return]  # a dict


#: Keys that refer to another part of the document (``$recursiveRef`` becomes ``$ref``).
_REFERENCES: Final = frozenset({"$ref", "$dynamicRef", "$recursiveRef"})


def describe(
    function: Callable[..., Any],
    tool_name: str,
    schema: Mapping[str, Any] | None,
    description: str | None = None,
) -> InferredSignature:
    """Everything a tool needs to take calls, from its function and its schema if given.

    A ``description`` given is the tool's; with a given schema too, the docstring is not read.

    Raises:
        ConfigError: naming the tool, and the parameter where there is one, with what to do.
    """
    if schema is None:
        # Each parameter type's schema was compiled when the type was first described
        # (``_build_type_schema``); what the tool's schema adds (descriptions, defaults,
        # ``required``, closing) cannot make it fail to compile.
        inferred = infer_signature(function, tool_name)
        check_schema(tool_name, inferred.parameters)
        return inferred
    parameters = given_schema(tool_name, schema)
    inferred = explicit_signature(function, tool_name, parameters, description)
    # Compiled now, so a schema that cannot be used stops the definition; the validator a
    # call uses is compiled again on the tool's first call (most tools of a large registry
    # are never called in a given process, and each compiled validator holds about 6 KiB).
    doc.compile_validator(tool_name, inferred.parameters, inferred.formats)
    return inferred


# -- output schemas -----------------------------------------------------------------------------

#: Return annotations that give no output schema: nothing, anything, or text read as it is.
_NO_OUTPUT: Final = frozenset({None, _NONE_TYPE, Any, object, str})


def given_output_schema(tool_name: str, schema: Any) -> dict[str, Any]:
    """An ``output_schema=`` someone wrote, checked against the JSON Schema metaschema.

    Raises:
        ConfigError: not a JSON object, or not valid JSON Schema.
    """
    if not isinstance(schema, Mapping):
        raise ConfigError(
            f"tool {tool_name!r}: output_schema must be a JSON Schema object (or False for "
            f"none), got {type(schema).__name__}"
        )
    plain: dict[str, Any] = doc.plain_copy(tool_name, schema)
    try:
        jsonschema_rs.meta.validate(plain)
    except jsonschema_rs.ValidationError as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid output_schema: {exc.message}") from None
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ConfigError(f"tool {tool_name!r}: invalid output_schema: {exc}") from None
    return plain


def output_schema_of(func: Callable[..., Any]) -> dict[str, Any] | None:
    """The JSON Schema of what ``func`` returns, from its return annotation; ``None`` for none.

    A pydantic model, ``TypedDict``, dataclass, ``dict[str, X]``, ``list[X]`` or a scalar give
    pydantic's serialization schema, fields by alias: the shape ``to_json`` writes. No
    annotation, ``None``, ``Any``, ``str`` (text, read as it is), result parts
    (``toolwire.Image``...) and types pydantic cannot describe give none.
    """
    found = output_of(func)
    return None if found is None else found[1]


def output_of(func: Callable[..., Any]) -> tuple[Any, dict[str, Any]] | None:
    """The return annotation's ``pydantic.TypeAdapter`` and the output schema it gives, or
    ``None`` (see ``output_schema_of``). The adapter writes results in that schema's shape."""
    func = described_function(func)
    raw = getattr(func, "__annotations__", None)
    if not isinstance(raw, dict) or "return" not in raw:
        return None
    try:
        annotation: Any = typing.get_type_hints(func, include_extras=True)["return"]
    except Exception:  # noqa: BLE001 - an annotation that does not resolve gives no schema
        return None
    if _gives_no_output(annotation):
        return None
    import pydantic

    if typing.is_typeddict(annotation) and sys.version_info < (3, 12):
        annotation = _typeddict_for_pydantic(annotation)
    try:
        adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(annotation)
        schema = adapter.json_schema(mode="serialization", by_alias=True)
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe gives no schema
        return None
    return adapter, schema


def _typeddict_for_pydantic(annotation: Any) -> Any:
    """A ``typing.TypedDict`` as the ``typing_extensions`` one pydantic needs before 3.12."""
    import typing_extensions

    hints = typing.get_type_hints(annotation, include_extras=True)
    required = annotation.__required_keys__
    fields = {
        name: hint if name in required else typing_extensions.NotRequired[hint]
        for name, hint in hints.items()
    }
    return typing_extensions.TypedDict(annotation.__name__, fields)  # type: ignore[operator]


def _gives_no_output(annotation: Any) -> bool:
    try:
        if annotation in _NO_OUTPUT:
            return True
    except TypeError:  # an unhashable annotation
        return False
    return _mentions_parts(annotation, 4)


def _mentions_parts(annotation: Any, depth: int) -> bool:
    from ._content import PART_TYPES, Content

    if isinstance(annotation, type) and issubclass(annotation, (Content, *PART_TYPES)):
        return True
    return depth > 0 and any(_mentions_parts(a, depth - 1) for a in typing.get_args(annotation))


# -- callables ----------------------------------------------------------------------------------


def described_function(func: Callable[..., Any]) -> Callable[..., Any]:
    """The function whose docstring and type hints describe ``func``.

    A ``functools.partial`` is described by the function it wraps, a bound method by its
    function, a callable instance by its class's ``__call__``.
    """
    if inspect.isfunction(func):  # the common case, first
        return func
    for _ in range(32):  # partials of partials: a chain, never a cycle, but bounded all the same
        if isinstance(func, functools.partial):
            func = func.func
        elif inspect.ismethod(func):
            func = func.__func__
        elif not (inspect.isfunction(func) or inspect.isbuiltin(func) or isinstance(func, type)):
            call = getattr(type(func), "__call__", None)  # noqa: B004 - the method itself, not callable()
            if call is None or not inspect.isfunction(call):
                return func
            return call
        else:
            return func
    return func


def callable_name(func: Callable[..., Any]) -> str:
    """The tool name a callable gives itself: its function's name, or its class's for an instance."""
    described = described_function(func)
    if described is not func and getattr(described, "__name__", "") == "__call__":
        return type(func).__name__
    return str(getattr(described, "__name__", ""))


def is_async_callable(func: Callable[..., Any]) -> bool:
    """Whether calling ``func`` gives a coroutine (an ``async def``, however it is wrapped)."""
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        described_function(func)
    )


# -- docstrings and hints -----------------------------------------------------------------------

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
    that style's parser runs. A callable instance without a ``__call__`` docstring is
    described by its class's.
    """
    described = described_function(func)
    doc_text = getattr(described, "__doc__", None)
    if (not isinstance(doc_text, str) or not doc_text.strip()) and described is not func:
        doc_text = getattr(type(func), "__doc__", None) if not inspect.ismethod(func) else None
    if not isinstance(doc_text, str) or not doc_text.strip():
        return "", {}
    if _NUMPY_SECTION.search(doc_text):
        style = "numpy"
    elif _REST_FIELD.search(doc_text):
        style = "rest"
    else:
        style = "google"
    parsed = _docstring_parser(style).parse(doc_text)
    parts = [p for p in (parsed.short_description, parsed.long_description) if p]
    params = {p.arg_name: p.description for p in parsed.params if p.description}
    return "\n\n".join(parts).strip(), params


def type_hints(func: Callable[..., Any], tool_name: str) -> dict[str, Any]:
    """The function's parameter annotations, evaluated (with ``Annotated`` kept).

    String annotations (``from __future__ import annotations``) are compiled once per text
    and evaluated in the function's module; anything unusual goes through
    ``typing.get_type_hints``.
    """
    func = described_function(func)
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


def is_context(annotation: Any) -> bool:
    """Whether a parameter annotated so receives the ``CallContext``: ``CallContext`` or
    ``CallContext | None`` (the spelling type checkers want with a ``None`` default)."""
    try:
        return _cached_is_context(annotation)
    except TypeError:  # unhashable annotation
        return _decide_context(annotation)


@functools.lru_cache(maxsize=1024)
def _cached_is_context(annotation: Any) -> bool:
    return _decide_context(annotation)


def _is_context_class(annotation: Any) -> bool:
    # ``toolwire.CallContext`` carries this mark (a class attribute of its own); the schema
    # layer stands below the records and so never imports the class itself.
    return isinstance(annotation, type) and annotation.__dict__.get(
        "__toolwire_call_context__", False
    )


def _decide_context(annotation: Any) -> bool:
    annotation = _strip_annotated(annotation)
    if _is_context_class(annotation):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not _NONE_TYPE]
        return len(members) == 1 and _is_context_class(_strip_annotated(members[0]))
    return False


# -- the two ways to a signature ----------------------------------------------------------------

_POSITIONAL_ONLY: Final = inspect.Parameter.POSITIONAL_ONLY
_VAR_POSITIONAL: Final = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD: Final = inspect.Parameter.VAR_KEYWORD
_CO_VARARGS: Final = inspect.CO_VARARGS
_CO_VARKEYWORDS: Final = inspect.CO_VARKEYWORDS


class Parameter(typing.NamedTuple):
    """A declared parameter: its name, kind (``inspect.Parameter``'s) and default
    (``inspect.Parameter.empty`` when it has none)."""

    name: str
    kind: inspect._ParameterKind
    default: Any


def parameters_of(func: Callable[..., Any]) -> list[Parameter]:
    """The parameters ``inspect.signature(func)`` gives, in its order.

    A plain function (no ``__wrapped__``, no ``__signature__``) is read from its code object
    directly: what ``inspect`` does for it, without building a ``Signature`` (a fifth of the
    time inferring a tool's schema takes). Anything else goes through ``inspect``.

    Raises:
        TypeError, ValueError: as ``inspect.signature``.
    """
    if type(func) is not types.FunctionType or (
        func.__dict__ and ("__wrapped__" in func.__dict__ or "__signature__" in func.__dict__)
    ):
        return [
            Parameter(p.name, p.kind, p.default)
            for p in inspect.signature(func).parameters.values()
        ]
    empty = inspect.Parameter.empty
    code = func.__code__
    positional, keyword_only = code.co_argcount, code.co_kwonlyargcount
    names = code.co_varnames
    defaults = func.__defaults__ or ()
    first_default = positional - len(defaults)
    declared = [
        Parameter(
            names[i],
            _POSITIONAL_ONLY
            if i < code.co_posonlyargcount
            else inspect.Parameter.POSITIONAL_OR_KEYWORD,
            defaults[i - first_default] if i >= first_default else empty,
        )
        for i in range(positional)
    ]
    after = positional + keyword_only
    if code.co_flags & _CO_VARARGS:
        declared.append(Parameter(names[after], _VAR_POSITIONAL, empty))
        after += 1
    given = func.__kwdefaults__ or {}
    declared += [
        Parameter(name, inspect.Parameter.KEYWORD_ONLY, given.get(name, empty))
        for name in names[positional : positional + keyword_only]
    ]
    if code.co_flags & _CO_VARKEYWORDS:
        declared.append(Parameter(names[after], _VAR_KEYWORD, empty))
    return declared


def explicit_signature(
    func: Callable[..., Any],
    tool_name: str,
    parameters: dict[str, Any],
    description: str | None = None,
) -> InferredSignature:
    """A tool whose schema was given: only the description (unless given) and the context
    parameter are read."""
    if description is None:
        description = description_of(func)[0]
    context_param = None
    try:
        hints = typing.get_type_hints(described_function(func), include_extras=True)
    except Exception:  # noqa: BLE001 - with an explicit schema, hints are optional
        hints = {}
    for name, hint in hints.items():
        if name != "return" and is_context(hint):
            context_param = name
    defaults: dict[str, Callable[[], Any]] = {}
    try:
        declared = parameters_of(func)
    except (TypeError, ValueError):
        declared = []  # nothing to read: no defaults to give
    for param in declared:
        field_info = _field_info(param.default)
        if field_info is not None:
            make_default = _field_default(field_info)[1]
            if make_default is not None:
                defaults[param.name] = make_default
    return InferredSignature(
        description,
        parameters,
        context_param,
        _NOTHING,
        defaults or _NOTHING,
        tool_name=tool_name,
    )


def infer_signature(func: Callable[..., Any], tool_name: str) -> InferredSignature:
    """Build the parameters schema and argument converters for ``func``.

    Raises:
        ConfigError: a parameter kind, type or default that JSON cannot carry, or a parameter
            without a type hint; the message names the tool and the parameter.
    """
    description, param_docs = description_of(func)
    hints = type_hints(func, tool_name)
    properties: dict[str, Any] = {}
    required: list[str] = []
    defs: dict[str, Any] = {}
    converters: dict[str, Callable[[Any], Any]] = {}
    defaults: dict[str, Callable[[], Any]] = {}
    whole_numbers: list[str] = []
    context_param: str | None = None
    tagged = False
    try:
        declared = parameters_of(func)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"tool {tool_name!r}: cannot read the signature: {exc}") from None
    for param in declared:
        if param.kind in (_VAR_POSITIONAL, _VAR_KEYWORD):
            raise ConfigError(
                f"tool {tool_name!r}: *{param.name} cannot be described to a model; "
                "declare each parameter, or pass schema="
            )
        if param.kind is _POSITIONAL_ONLY:
            raise ConfigError(
                f"tool {tool_name!r}: positional-only parameter {param.name!r}: arguments arrive "
                "by name; remove the '/' from the signature"
            )
        if param.name not in hints:
            raise ConfigError(
                f"tool {tool_name!r}: parameter {param.name!r} has no type hint; add one "
                f"({param.name}: str, {param.name}: int, {param.name}: list[str], ...) so the "
                f"model is told what to send, or {param.name}: Any to take any JSON value"
            )
        annotation = hints[param.name]
        if is_context(annotation):
            context_param = param.name
            continue
        default = param.default
        field_info = _field_info(default)
        if field_info is not None:
            annotation = typing.Annotated[annotation, _without_default(field_info)]
            default, make_default = _field_default(field_info)
            if make_default is not None:
                defaults[param.name] = make_default
        try:
            schema, param_defs, param_tagged = _type_schema(annotation)
        except ConfigError as exc:
            raise ConfigError(
                f"tool {tool_name!r}: parameter {param.name!r}: {exc} Use a type JSON can carry "
                "(str, int, float, bool, or a list, dict, TypedDict, dataclass or pydantic model "
                "of those), describe it with Annotated[..., pydantic.WithJsonSchema({...})], "
                "or pass schema="
            ) from None
        tagged = tagged or param_tagged
        for key, value in param_defs.items():
            if defs.setdefault(key, value) != value:
                raise ConfigError(
                    f"tool {tool_name!r}: two different types are both named {key!r}; pass schema="
                )
        schema = dict(schema)
        if param.name in param_docs and "description" not in schema:
            schema["description"] = param_docs[param.name]
        if default is inspect.Parameter.empty:
            required.append(param.name)
        elif default is not _NO_SCHEMA_DEFAULT:
            schema["default"] = _json_default(tool_name, param.name, annotation, default)
        properties[param.name] = schema
        if _needs_conversion(annotation):
            converters[param.name] = _converter(annotation)
        elif _is_whole_number(annotation):
            whole_numbers.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    parameters["additionalProperties"] = False
    if defs:
        parameters["$defs"] = defs
    if tagged:
        # A variant's tag is required wherever the variant is used: on a copy, since the
        # type schemas are shared through the cache.
        parameters = json.loads(json.dumps(parameters))
        doc.require_tags(parameters)
    return InferredSignature(
        description,
        parameters,
        context_param,
        converters or _NOTHING,
        defaults or _NOTHING,
        tuple(whole_numbers),
        _pydantic_formats() if converters else _NOTHING,
        tool_name,
    )


# -- defaults -----------------------------------------------------------------------------------

#: A default the schema does not state (a factory whose value is made per call).
_NO_SCHEMA_DEFAULT: Final = object()


def _field_info(default: Any) -> Any:
    """The pydantic ``FieldInfo`` used as a parameter's default, or ``None``."""
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, str | int | float | bool | list | dict | tuple | enum.Enum):
        return None
    from pydantic.fields import FieldInfo

    return default if isinstance(default, FieldInfo) else None


def _without_default(field_info: Any) -> Any:
    """The ``Field`` with its constraints and description but no default, to describe the type."""
    from pydantic_core import PydanticUndefined

    stripped = copy.copy(field_info)
    stripped.default = PydanticUndefined
    stripped.default_factory = None
    attributes = getattr(stripped, "_attributes_set", None)
    if isinstance(attributes, dict):
        stripped._attributes_set = {
            k: v for k, v in attributes.items() if k not in ("default", "default_factory")
        }
    return stripped


def _field_default(field_info: Any) -> tuple[Any, Callable[[], Any] | None]:
    """``(what the schema states, what makes the value the function receives)`` for a Field.

    ``Field(...)`` or no default: required. ``Field(default=v)``: ``v``, a copy per call when
    it is mutable. ``Field(default_factory=f)``: a fresh ``f()`` per call; the schema states
    the value ``f()`` gives when that is plain JSON (``[]``, ``{}``, ``0``).
    """
    from pydantic_core import PydanticUndefined

    factory = field_info.default_factory
    if factory is not None:
        if getattr(field_info, "default_factory_takes_data", False):
            return _NO_SCHEMA_DEFAULT, None
        try:
            sample = factory()
        except Exception:  # noqa: BLE001 - a factory that needs the call to run states nothing
            return _NO_SCHEMA_DEFAULT, factory
        return (sample if _is_json_value(sample) else _NO_SCHEMA_DEFAULT), factory
    value = field_info.default
    if value is PydanticUndefined or value is Ellipsis:
        return inspect.Parameter.empty, None
    if isinstance(value, list | dict | set):
        return value, lambda: copy.deepcopy(value)
    return value, lambda: value


def _json_default(tool_name: str, name: str, annotation: Any, value: Any) -> Any:
    """The default as the schema states it: JSON, or what pydantic writes for the type.

    Raises:
        ConfigError: the default cannot be written as JSON, naming the parameter.
    """
    if isinstance(value, enum.Enum) and _is_json_value(value.value):
        return value.value
    if _is_json_value(value):
        return list(value) if isinstance(value, tuple) else value
    import pydantic

    try:
        dumped = pydantic.TypeAdapter(annotation).dump_python(value, mode="json", warnings=False)
    except Exception:  # noqa: BLE001 - whatever pydantic cannot write is refused below
        dumped = _NO_SCHEMA_DEFAULT
    if dumped is not _NO_SCHEMA_DEFAULT and _is_json_value(dumped):
        return dumped
    raise ConfigError(
        f"tool {tool_name!r}: the default of parameter {name!r} ({type(value).__name__}) is not "
        "a JSON value, so the model cannot be told it; use a JSON value (a string, number, "
        "boolean, None, or a list or dict of those) or a value of the parameter's type that "
        "pydantic can write as JSON"
    )


def _is_json_value(value: Any) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return not isinstance(value, enum.Enum)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_is_json_value(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json_value(v) for k, v in value.items())
    return False


# -- type schemas -------------------------------------------------------------------------------


def _type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """The type's schema, its definitions, and whether it holds a discriminated union."""
    try:
        return _cached_type_schema(annotation)
    except TypeError:  # unhashable annotation (Annotated with a FieldInfo, say)
        return _build_type_schema(annotation)


@functools.lru_cache(maxsize=1024)
def _cached_type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any], bool]:
    return _build_type_schema(annotation)


def _converter(annotation: Any) -> Callable[[Any], Any]:
    import pydantic

    return pydantic.TypeAdapter(annotation).validate_python


def _build_type_schema(annotation: Any) -> tuple[dict[str, Any], dict[str, Any], bool]:
    import pydantic

    try:
        schema = pydantic.TypeAdapter(annotation).json_schema(ref_template="#/$defs/{model}")
    except (pydantic.PydanticUserError, pydantic.errors.PydanticSchemaGenerationError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"its type {_type_name(annotation)} cannot be described as JSON Schema ({reason})."
        ) from None
    doc.check_bounds(None, schema)
    _strip_titles(schema)
    doc.close_objects(schema)
    # Compiled once per type, with its definitions: a pattern that is no regular expression
    # (pydantic.WithJsonSchema, a pattern pydantic's engine takes and the validator's does not)
    # stops the definition, and a tool's schema made of these parts compiles.
    doc.compile_validator(None, schema, {})
    tagged = any("discriminator" in node for node in doc.walk(schema))
    defs = schema.pop("$defs", {})
    return schema, defs, tagged


def _type_name(annotation: Any) -> str:
    annotation = _strip_annotated(annotation)
    return getattr(annotation, "__qualname__", None) or repr(annotation)


def _strip_titles(schema: Any) -> None:
    """Drop pydantic's generated titles: noise in every prompt, and refused by some providers."""
    for node in doc.walk(schema):
        if isinstance(node.get("title"), str) and isinstance(node, dict):
            del node["title"]


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = annotation.__origin__
    return annotation


def _is_whole_number(annotation: Any) -> bool:
    """An ``int`` parameter (or ``int | None``...) that may be sent a whole float such as 3.0."""
    try:
        return _cached_is_whole_number(annotation)
    except TypeError:  # unhashable annotation
        return _decide_whole_number(annotation)


@functools.lru_cache(maxsize=1024)
def _cached_is_whole_number(annotation: Any) -> bool:
    return _decide_whole_number(annotation)


def _decide_whole_number(annotation: Any) -> bool:
    annotation = _strip_annotated(annotation)
    if annotation is int:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = {_strip_annotated(a) for a in typing.get_args(annotation)}
        return int in members and float not in members
    return False


def _needs_conversion(annotation: Any) -> bool:
    try:
        return _cached_needs_conversion(annotation)
    except TypeError:  # unhashable annotation
        return _decide_conversion(annotation, top=True)


@functools.lru_cache(maxsize=1024)
def _cached_needs_conversion(annotation: Any) -> bool:
    return _decide_conversion(annotation, top=True)


def _decide_conversion(annotation: Any, *, top: bool) -> bool:
    """Whether the JSON value must go through pydantic to reach the declared type.

    Plain JSON shapes (str, float, bool, None, Literal, lists and str-keyed dicts of those,
    TypedDicts) arrive as they are, and so does a top-level ``int`` (a whole float is made an
    int without pydantic); an ``int`` inside a container, enums, dataclasses, models, tuples,
    sets, dates and the like go through pydantic.
    """
    annotation = _strip_annotated(annotation)
    if annotation is int:
        return not top
    if annotation in _PLAIN_SCALARS:
        return False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return False
    if origin in (typing.Union, types.UnionType):
        return any(_decide_conversion(a, top=top) for a in args)
    if origin is list or annotation is list:
        return any(_decide_conversion(a, top=False) for a in args)
    if origin is dict or annotation is dict:
        return any(_decide_conversion(a, top=False) for a in args)
    if typing.is_typeddict(annotation):
        hints = typing.get_type_hints(annotation)
        return any(_decide_conversion(a, top=False) for a in hints.values())
    return True


@functools.cache
def _pydantic_formats() -> Mapping[str, Callable[[str], bool]]:
    """Format checks that accept what the declared types accept: pydantic's parsers.

    ``"2024-05-01T00:00:00"`` (no offset) is a ``datetime`` to pydantic but not an RFC 3339
    date-time; a parameter takes what its type takes.
    """
    import pydantic

    def accepts(kind: type) -> Callable[[str], bool]:
        validate: Callable[[Any], Any] = pydantic.TypeAdapter(kind).validate_python

        def check(value: str) -> bool:
            try:
                validate(value)
            except pydantic.ValidationError:
                return False
            return True

        return check

    return {
        "date-time": accepts(datetime.datetime),
        "date": accepts(datetime.date),
        "time": accepts(datetime.time),
        "duration": accepts(datetime.timedelta),
        "uuid": accepts(uuid.UUID),
    }
