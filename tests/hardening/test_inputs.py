"""What a model sends that it should not: each gets a clear structured error, and no tool runs."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
import toolwire
from toolwire.testing import build_response

from ..conftest import MakeDispatcher

runs: Counter[str] = Counter()

pack = toolwire.Toolset("inputs")


@pack.tool
def book(city: str, nights: int = 1) -> str:
    """Book a hotel.

    Args:
        city: Where.
        nights: How long.
    """
    runs["book"] += 1
    return f"{city} x{nights}"


@pack.tool
def ping() -> str:
    """Answer pong."""
    runs["ping"] += 1
    return "pong"


@pack.tool
def whoami(user: str, ctx: toolwire.CallContext) -> str:
    """Say who the host says the caller is.

    Args:
        user: A display name.
    """
    runs["whoami"] += 1
    return f"{user}:{ctx.state.get('principal')}"


@pack.tool(enabled=False)
def drop_tables() -> str:
    """Disabled in code."""
    runs["drop_tables"] += 1
    return "dropped"


FORMATS: dict[str, tuple[str, str]] = {
    "date-time": ("2024-01-02T03:04:05Z", "yesterday at noon"),
    "date": ("2024-01-02", "2024-13-45"),
    "time": ("03:04:05Z", "25:99"),
    "duration": ("P3D", "three days"),
    "email": ("a@example.com", "not-an-email"),
    "idn-email": ("a@example.com", "still not an email"),
    "hostname": ("example.com", "-bad-.com_"),
    "idn-hostname": ("example.com", "-bad-"),
    "ipv4": ("192.168.0.1", "999.1.1.1"),
    "ipv6": ("::1", "not:ipv6::x::"),
    "uri": ("https://example.com/x", "not a uri"),
    "uri-reference": ("/x/y", "\\\\bad uri ref"),
    "iri": ("https://例え.jp/", "not an iri"),
    "iri-reference": ("/x", "\\\\ bad"),
    "uri-template": ("/x/{id}", "/x/{id"),
    "uuid": ("123e4567-e89b-12d3-a456-426614174000", "1234"),
    "json-pointer": ("/a/b", "a/b"),
    "relative-json-pointer": ("1/a", "/a"),
    "regex": ("^a+$", "(unclosed"),
}


def _formatted(value: str) -> str:
    runs["formatted"] += 1
    return value


# One explicit-schema tool per format, each taking a single string of that format.
formats = toolwire.Toolset("formats")
for _name in FORMATS:
    formats.tool(
        name="fmt_" + _name.replace("-", "_"),
        description=f"Take a {_name}.",
        schema={
            "type": "object",
            "properties": {"value": {"type": "string", "format": _name, "description": "It."}},
            "required": ["value"],
        },
    )(_formatted)


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    runs.clear()
    yield
    runs.clear()


@pytest.fixture
def dispatcher(make: MakeDispatcher) -> toolwire.Dispatcher:
    return make(pack, formats)


def _refused(result: toolwire.DispatchResult, kind: str = "invalid_arguments") -> str:
    """Assert the call ended with ``kind`` without running, its output the error JSON; the message."""
    assert not result.success and result.error is not None, result
    assert result.error.kind == kind, result.error
    assert result.attempts == 0
    assert json.loads(result.output)["error"] == kind
    return result.error.message


MALFORMED = {
    "truncated": '{"city": "Paris", "nights": 2',
    "truncated_string": '{"city": "Par',
    "lone_brace": "{",
    "array": '["Paris", 2]',
    "string": '"Paris"',
    "number": "42",
    "float": "3.5",
    "null": "null",
    "boolean": "true",
    "markdown_fence": '```json\n{"city": "Paris"}\n```',
    "bare_fence": '```\n{"city": "Paris"}\n```',
    "single_quotes": "{'city': 'Paris'}",
    "python_call": "dict(city='Paris')",
    "trailing_comma": '{"city": "Paris",}',
    "trailing_comma_in_array": '{"city": "Paris", "nights": [1, 2,]}',
    "two_objects": '{"city": "Paris"} {"city": "Rome"}',
    "trailing_garbage": '{"city": "Paris"} and then some',
    "nan": '{"city": "Paris", "nights": NaN}',
    "infinity": '{"city": "Paris", "nights": Infinity}',
    "minus_infinity": '{"city": "Paris", "nights": -Infinity}',
    "overflow_is_infinity": '{"city": "Paris", "nights": 1e999}',
    "not_utf8": b'{"city": "\xff\xfe"}',
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_arguments_are_refused_and_the_tool_never_runs(
    dispatcher: toolwire.Dispatcher, raw: Any
) -> None:
    """Broken or non-object JSON is an invalid_arguments error; nothing is repaired or eval'd."""
    message = _refused(await dispatcher.dispatch("book", raw, call_id="c1"))
    assert "JSON" in message or "UTF-8" in message
    assert runs["book"] == 0


@pytest.mark.parametrize("raw", [[1, 2], ("Paris",), 42, 3.5, True, object()])
async def test_host_passed_non_objects_are_refused(
    dispatcher: toolwire.Dispatcher, raw: Any
) -> None:
    """Arguments a host passes as a list, number or other non-mapping are refused the same way."""
    message = _refused(await dispatcher.dispatch("book", raw))
    assert "must be a JSON object" in message
    assert runs["book"] == 0


@pytest.mark.parametrize("raw", ["", "   \n", None, {}, "{}"])
async def test_empty_arguments_are_fine_only_without_parameters(
    dispatcher: toolwire.Dispatcher, raw: Any
) -> None:
    """Empty arguments call a tool that takes none, and name the missing key for one that needs it."""
    assert (await dispatcher.dispatch("ping", raw)).output == "pong"
    message = _refused(await dispatcher.dispatch("book", raw))
    assert "missing required argument 'city'" in message
    assert runs == Counter(ping=1)


DEEP = 100_000


@pytest.mark.parametrize(
    "text",
    [
        '{"city": "x", "nights": ' + "[" * DEEP + "]" * DEEP + "}",
        '{"city": "x", "nights": ' + '{"a":' * DEEP + "1" + "}" * DEEP + "}",
        "[" * DEEP,
        '{"a":' * DEEP,
    ],
    ids=["arrays", "objects", "unclosed_arrays", "unclosed_objects"],
)
@pytest.mark.parametrize("max_depth", [None, 10 * DEEP])
async def test_json_nested_100000_deep_is_refused_without_recursion_error(
    make: MakeDispatcher, text: str, max_depth: int | None
) -> None:
    """100,000 levels of JSON nesting are refused (within or far above the depth cap), never a crash."""
    limits = {"max_argument_depth": max_depth} if max_depth else {}
    dispatcher = make(pack, config={"limits": limits})
    message = _refused(await dispatcher.dispatch("book", text))
    assert "nested deeper" in message or "not valid JSON" in message
    assert runs["book"] == 0


def _deep_dict(levels: int) -> dict[str, Any]:
    top: dict[str, Any] = {}
    leaf = top
    for _ in range(levels):
        leaf["a"] = {}
        leaf = leaf["a"]
    return top


def _deep_list(levels: int) -> list[Any]:
    top: list[Any] = []
    leaf = top
    for _ in range(levels):
        leaf.append([])
        leaf = leaf[0]
    return top


async def test_host_passed_structures_100000_deep_are_refused(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """A dict or list nested 100,000 deep (or cyclic), passed already parsed, is refused, no crash."""
    cyclic: dict[str, Any] = {"city": "x"}
    cyclic["nights"] = cyclic
    for nested in (_deep_dict(DEEP), _deep_list(DEEP), cyclic):
        message = _refused(await dispatcher.dispatch("book", {"city": "x", "nights": nested}))
        assert "nested deeper" in message
    items = await dispatcher.process_response(
        build_response("anthropic", [("book", {"city": "x", "nights": _deep_dict(DEEP)}, "t1")])
    )
    assert "nested deeper" in items[-1]["content"][0]["content"]
    assert runs["book"] == 0


@pytest.mark.parametrize("as_bytes", [False, True])
async def test_a_50_mb_argument_is_refused_by_the_byte_cap(
    dispatcher: toolwire.Dispatcher, as_bytes: bool
) -> None:
    """A 50 MB argument string is refused by size alone, its size and the cap in the message."""
    text = '{"city": "' + "x" * 50_000_000 + '"}'
    raw: str | bytes = text.encode() if as_bytes else text
    result = await dispatcher.dispatch("book", raw)
    message = _refused(result)
    assert "limit is 1000000" in message and "50000012 bytes" in message
    assert result.error is not None and result.error.details == {"limit": 1_000_000}
    assert runs["book"] == 0


async def test_the_byte_cap_is_configurable_and_counts_utf8_bytes(make: MakeDispatcher) -> None:
    """[limits] max_argument_bytes sets the cap, counted in UTF-8 bytes (lone surrogates too)."""
    dispatcher = make(pack, config={"limits": {"max_argument_bytes": 64}})
    assert (await dispatcher.dispatch("book", {"city": "Paris"})).success
    assert (await dispatcher.dispatch("book", '{"city": "' + "x" * 40 + '"}')).success
    assert "limit is 64" in _refused(
        await dispatcher.dispatch("book", '{"city": "' + "é" * 30 + '"}')
    )
    # A lone surrogate (JSON can escape one) cannot be encoded strictly; it must still be counted.
    assert "limit is 64" in _refused(
        await dispatcher.dispatch("book", '{"city": "\ud800' + "x" * 60 + '"}')
    )
    assert runs["book"] == 2


async def test_unknown_and_misspelled_keys_are_listed_with_the_accepted_ones(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """Keys the schema does not declare are an error naming them, the accepted keys and a guess."""
    result = await dispatcher.dispatch("book", {"city": "Paris", "nigths": 2, "pets": True})
    message = _refused(result)
    assert "'nigths'" in message and "'pets'" in message
    assert "accepted: city, nights" in message and "'nigths' -> 'nights'" in message
    assert result.error is not None and result.error.details["accepted"] == ["city", "nights"]
    assert runs["book"] == 0


async def test_missing_required_keys_and_wrong_types_are_named(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """A missing key and each wrong type are named with what was expected; nothing is coerced."""
    assert "missing required argument 'city'" in _refused(
        await dispatcher.dispatch("book", {"nights": 2})
    )
    for arguments, expected in [
        ({"city": 7}, "city: expected string, got a number"),
        ({"city": "Paris", "nights": "2"}, "nights: expected integer, got a string"),
        ({"city": "Paris", "nights": 2.5}, "nights: expected integer, got a number"),
        ({"city": "Paris", "nights": True}, "nights: expected integer, got a boolean"),
        ({"city": None}, "city: expected string, got null"),
        ({"city": ["Paris"]}, "city: expected string, got an array"),
    ]:
        assert expected in _refused(await dispatcher.dispatch("book", arguments))
    assert runs["book"] == 0


@pytest.mark.parametrize("fmt", FORMATS)
async def test_declared_formats_are_enforced(dispatcher: toolwire.Dispatcher, fmt: str) -> None:
    """jsonschema-rs enforces every format a schema declares: a good value runs, a bad one does not."""
    name = "fmt_" + fmt.replace("-", "_")
    good, bad = FORMATS[fmt]
    assert (await dispatcher.dispatch(name, {"value": good})).output == good
    message = _refused(await dispatcher.dispatch(name, {"value": bad}))
    assert message.startswith(f"invalid arguments for {name}: value: must be a valid {fmt}, got ")
    assert runs["formatted"] == 1


async def test_the_model_cannot_set_what_the_host_injects(dispatcher: toolwire.Dispatcher) -> None:
    """A model sending the context parameter or host state is refused; the tool sees only the host's."""
    state = {"principal": "alice"}
    for arguments in (
        {"user": "x", "ctx": {"state": {"principal": "root"}}},
        {"user": "x", "ctx": None},
        '{"user": "x", "ctx": "root"}',
    ):
        message = _refused(await dispatcher.dispatch("whoami", arguments, state=state))
        assert "'ctx' is set by the host and cannot be sent" in message
    message = _refused(
        await dispatcher.dispatch("whoami", {"user": "x", "state": {"principal": "root"}})
    )
    assert "unknown argument(s) 'state'" in message
    assert runs["whoami"] == 0
    assert (await dispatcher.dispatch("whoami", {"user": "x"}, state=state)).output == "x:alice"


async def test_empty_null_and_huge_tool_names_are_unknown(dispatcher: toolwire.Dispatcher) -> None:
    """An empty, null, non-string or 10 kB tool name is unknown_tool, the name never echoed whole."""
    for name in ("", None, 42, "b" * 10_000, "book" + "k" * 10_000):
        result = await dispatcher.dispatch(name, {"city": "Paris"}, call_id="c1")  # type: ignore[arg-type]
        _refused(result, "unknown_tool")
        assert result.call_id == "c1" and len(result.output) < 300
    assert sum(runs.values()) == 0


async def test_disabled_tools_answer_exactly_like_unknown_ones(make: MakeDispatcher) -> None:
    """A tool disabled in code or config gets the very answer an unknown name gets, modulo the name."""
    disabled = make(
        pack,
        formats,
        config={"tools": {"ping": {"enabled": False}, "fmt_date": {"enabled": False}}},
    )
    without = toolwire.Toolset("formats")  # the same tools, fmt_date never registered at all
    for tool in formats:
        if tool.name != "fmt_date":
            without.add(tool)
    absent = make(pack, without, config={"tools": {"ping": {"enabled": False}}})

    async def answer(dispatcher: toolwire.Dispatcher, name: str) -> str:
        result = await dispatcher.dispatch(name, {}, call_id="same")
        _refused(result, "unknown_tool")
        items = await dispatcher.process_response(
            build_response("openai-chat", [(name, "{}", "same")])
        )
        return (result.output + json.dumps(items[-1])).replace(f"'{name}'", "'NAME'")

    # Far from any enabled name: the same text whatever the name.
    assert await answer(disabled, "drop_tables") == await answer(disabled, "wipe_volumes")
    assert await answer(disabled, "ping") == await answer(disabled, "zing")
    # Near enabled names the hints depend on the spelling only: a disabled name answers exactly
    # as the same name does where it was never registered.
    assert await answer(disabled, "fmt_date") == await answer(absent, "fmt_date")
    assert "fmt_date_time" in await answer(disabled, "fmt_date")
    assert "drop_tables" not in json.dumps(disabled.tool_definitions("openai-chat"))
    assert sum(runs.values()) == 0


async def test_disabled_tools_log_exactly_like_unknown_ones(make: MakeDispatcher) -> None:
    """The call log cannot tell a disabled tool from an unknown one either."""
    dispatcher = make(pack, config={"tools": {"ping": {"enabled": False}}})
    with structlog.testing.capture_logs() as logs:
        await dispatcher.dispatch("drop_tables", {}, call_id="same")
        await dispatcher.dispatch("wipe_volumes", {}, call_id="same")
    first, second = (
        {
            k: v.replace(event["tool"], "NAME") if k == "error" else v
            for k, v in event.items()
            if k not in ("elapsed_ms", "tool")
        }
        for event in logs
    )
    assert first == second and first["error_kind"] == "unknown_tool"


async def test_a_batch_of_bad_inputs_still_answers_every_call(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """One batch mixing every kind of bad input gets one error per call, in order, by call id."""
    raws = list(MALFORMED.values())
    calls = [toolwire.ToolCall("book", raw, f"c{i}") for i, raw in enumerate(raws)]
    calls.append(toolwire.ToolCall("", "{}", "empty-name"))
    calls.append(toolwire.ToolCall("book", '{"city": "ok"}', "fine"))
    results = await asyncio.wait_for(dispatcher.dispatch_many(calls), 30)
    assert [r.call_id for r in results] == [c.call_id for c in calls]
    assert [r.success for r in results] == [False] * (len(calls) - 1) + [True]
    assert runs == Counter(book=1)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        ' {"a": 1} ',
        '{"a": 1}\n',
        '{"a": 1} x',
        '{"a": 1}{"b": 2}',
        '{"a": NaN}',
        '{"a": 1e999}',
        '{"a": ',
        "{",
        '{"a": "\\ud800"}',
        '{"a": [1, {"b": null}]}',
        "[1]",
        '"text"',
    ],
)
def test_the_fast_object_parse_agrees_with_the_decoder(text: str) -> None:
    """Arguments that are one bare object are parsed by the C scanner directly; for any text,
    that gives what the decoder gives: the same value, or the same error."""
    from toolwire import _arguments

    def outcome(parse: Any) -> Any:
        try:
            return ("value", parse(text))
        except ValueError as exc:  # JSONDecodeError included
            return ("error", type(exc).__name__, str(exc))

    assert outcome(_arguments._loads) == outcome(_arguments._decode)
