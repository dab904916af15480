"""A large registry: what a start builds for each tool, what waits for a tool's first use, and
that every check a start made before still stops it (issue 27). No test here times anything."""

from __future__ import annotations

import functools
import gc
import inspect
import tracemalloc
from typing import Annotated, Any, Literal

import jsonschema_rs
import pytest
import toolwire
from pydantic import WithJsonSchema
from toolwire import ConfigError
from toolwire._schema import parameters_of

from .conftest import MakeDispatcher


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every jsonschema-rs validator compiled from here on, in order."""
    made: list[Any] = []
    compile_schema = jsonschema_rs.validator_for

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(compile_schema(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(jsonschema_rs, "validator_for", counted)
    return made


def _given(name: str, **properties: Any) -> toolwire.Tool:
    schema = {"type": "object", "properties": properties or {"q": {"type": "string"}}}
    return toolwire.tool(name=name, description=f"{name}.", schema=schema)(dict)


def test_started_tools_compile_their_validator_on_first_call(
    make: MakeDispatcher, compiled: list[Any]
) -> None:
    """A schema is compiled when its tool is defined (the check; an inferred one type by
    type), and a tool's validator for calls only on its first call: a start and its
    definitions compile none."""
    pack = toolwire.Toolset("many")
    for i in range(3):
        pack.add(_given(f"given_{i}"))

    @pack.tool
    def inferred(q: str) -> str:
        """Echo."""
        return q

    defined = len(compiled)  # the given schemas, and ``str`` unless an earlier tool had it
    assert defined >= 3
    dispatcher = make(pack)
    dispatcher.start()
    dispatcher.tool_definitions("openai-responses")
    dispatcher.tool_definitions("anthropic")
    assert len(compiled) == defined
    assert dispatcher.dispatch_sync("given_1", {"q": "x"}).success
    assert len(compiled) == defined + 1
    assert dispatcher.dispatch_sync("given_1", {"q": 1}).error.kind == "invalid_arguments"
    assert dispatcher.dispatch_sync("inferred", {"q": "x"}).output == "x"
    assert len(compiled) == defined + 2


def test_unusable_given_schema_stops_the_definition() -> None:
    """A schema the metaschema takes but the validator cannot compile (a pattern that is no
    regular expression) still stops the definition, though calls compile their own later."""
    with pytest.raises(ConfigError, match=r"tool 'bad': the schema cannot be used"):
        _given("bad", q={"type": "string", "pattern": "(unclosed"})


def test_unusable_inferred_schema_stops_the_definition() -> None:
    """An inferred schema the validator cannot compile (a ``WithJsonSchema`` pattern that is no
    regular expression) stops the definition, not the tool's first call."""

    def bad(q: Annotated[str, WithJsonSchema({"type": "string", "pattern": "(unclosed"})]) -> str:
        """Echo."""
        return q

    with pytest.raises(ConfigError, match=r"tool 'bad': parameter 'q': its schema cannot be used"):
        toolwire.tool(bad)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        pytest.param(
            {"type": "object", "properties": {"a": {"$id": "https://x.test/a", "type": "string"}}},
            "embeds a resource with its own \\$id",
            id="embedded-id-without-ref",
        ),
        pytest.param(
            {
                "$schema": "https://json-schema.org/draft/2019-09/schema",
                "$recursiveAnchor": True,
                "type": "object",
                "anyOf": [{"$recursiveRef": "#"}],
            },
            "references loop",
            id="recursive-ref-loop",
        ),
        pytest.param(
            {"type": "object", "anyOf": [{"type": "object"}] * 10_001},
            "more than 10,000 subschemas apply",
            id="alternatives-without-ref",
        ),
    ],
)
def test_checks_with_little_to_look_at_still_run(schema: dict[str, Any], message: str) -> None:
    """The checks a schema without references skips are the ones it cannot fail: an embedded
    ``$id``, a draft 2019-09 ``$recursiveRef`` loop and too many alternatives still stop it."""
    with pytest.raises(ConfigError, match=message):
        toolwire.tool(name="t", schema=schema)(dict)


def _typed_tools(count: int) -> list[Any]:
    """``count`` functions with five typed, documented parameters (the registration bench's)."""

    def make(i: int) -> Any:
        def tool(
            query: str,
            limit: int = 10,
            mode: Literal["fast", "full"] = "fast",
            tags: list[str] | None = None,
            weight: float = 1.0,
        ) -> dict[str, Any]:
            """Search something.

            Args:
                query: What to look for.
                limit: How many results.
                mode: Fast or full search.
                tags: Optional tags.
                weight: Ranking weight.
            """
            return {}

        tool.__name__ = f"typed_{i}"
        return tool

    return [make(i) for i in range(count)]


def test_a_thousand_typed_tools_fit_the_memory_budget(make: MakeDispatcher) -> None:
    """Registering 1,000 typed tools, starting and building their definitions allocates at
    most 8 MiB of Python objects at the peak (the issue's budget; tracemalloc counts it)."""
    make(toolwire.tool(_typed_tools(1)[0])).tool_definitions("openai-responses")  # imports first
    functions = _typed_tools(1000)
    gc.collect()
    tracemalloc.start()
    try:
        pack = toolwire.Toolset("many")
        for function in functions:
            pack.tool(function)
        dispatcher = make(pack)
        assert len(dispatcher.tool_definitions("openai-responses")) == 1000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 8 * 2**20, f"{peak / 2**20:.2f} MiB"


def test_strict_definitions_share_the_schema_text(make: MakeDispatcher) -> None:
    """A strict definition holds the tool's own description strings, not copies of them."""
    pack = toolwire.Toolset("text")
    pack.add(_given("described", q={"type": "string", "description": "What " + "to find." * 8}))
    dispatcher = make(pack)
    (definition,) = dispatcher.tool_definitions("openai-responses")
    assert definition["strict"] is True
    sent = definition["parameters"]["properties"]["q"]["description"]
    assert sent is dispatcher.tools()[0].parameters["properties"]["q"]["description"]


def test_tools_that_set_nothing_share_one_policy(make: MakeDispatcher) -> None:
    """Tools whose code and config set nothing share one policy object, in code and in the
    started plan (a copy per tool is memory a large registry pays for nothing)."""
    pack = toolwire.Toolset("plain")
    for i in range(3):
        pack.add(_given(f"plain_{i}"))
    limited = pack.add(toolwire.tool(name="limited", schema={"type": "object"}, timeout=5)(dict))
    assert pack["plain_0"].policy is pack["plain_1"].policy is not limited.policy
    dispatcher = make(pack)
    policies = [dispatcher.policy(f"plain_{i}") for i in range(3)]
    assert policies[0] is policies[1] is policies[2]
    assert policies[0].approval is False
    assert dispatcher.policy("limited").timeout == 5


def test_the_search_index_holds_one_string_per_word(
    make: MakeDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexing tools that repeat the same words passes one string object per distinct word
    to bm25s, not one per occurrence (a large registry repeats a few thousand words)."""
    import bm25s  # type: ignore[import-untyped]  # no type information

    given: list[list[str]] = []
    index = bm25s.BM25.index

    def seen(self: Any, corpus: list[list[str]], **kwargs: Any) -> Any:
        given.extend(corpus)
        return index(self, corpus, **kwargs)

    monkeypatch.setattr(bm25s.BM25, "index", seen)
    pack = toolwire.Toolset("twins")
    for name in ("read_report", "read_record"):
        text = "Read the quarterly figures."
        pack.add(toolwire.tool(name=name, description=text, schema={"type": "object"})(dict))
    dispatcher = make(pack)
    found = dispatcher.search_tools("quarterly figures", limit=2)
    assert sorted(t.name for t in found) == ["read_record", "read_report"]
    first, second = given
    shared = set(first) & set(second)
    assert {"read", "quarterly", "figures"} <= shared
    for word in shared:
        assert first[first.index(word)] is second[second.index(word)]


def _shapes() -> list[Any]:
    """Functions of every parameter shape, wrapped and not."""

    def plain(a: int, b: str = "x", *, c: float, d: bool = True) -> None: ...
    def positional(a: int, /, b: int = 2, *rest: int, c: int = 3, **more: int) -> None: ...
    def none() -> None: ...
    def only_kwargs(**kwargs: Any) -> None: ...
    def defaults_only(a: int = 1, b: list[int] | None = None) -> None: ...

    @functools.wraps(plain)
    def wrapper(*args: Any, **kwargs: Any) -> None: ...

    def signed(x: int) -> None: ...

    signed.__signature__ = inspect.signature(none)  # type: ignore[attr-defined]
    return [plain, positional, none, only_kwargs, defaults_only, wrapper, signed, len, dict]


@pytest.mark.parametrize("function", _shapes(), ids=lambda f: getattr(f, "__name__", "?"))
def test_parameters_are_read_as_inspect_reads_them(function: Any) -> None:
    """A tool's parameters (name, kind, default, in order) are what ``inspect.signature``
    gives, whether read from the code object or through ``inspect``."""
    try:
        expected = [
            (p.name, p.kind, p.default) for p in inspect.signature(function).parameters.values()
        ]
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            parameters_of(function)
        return
    assert [tuple(p) for p in parameters_of(function)] == expected
