"""Tools and tool packs: decorators, descriptions, inferred schemas, conversion."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import json
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

import jsonschema
import pydantic
import pytest
import toolwire
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from .conftest import MakeDispatcher


class Units(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Filter(pydantic.BaseModel):
    field: str
    value: float


class Address(TypedDict):
    street: str
    number: int


def test_decorator_forms_make_tools() -> None:
    """`@pack.tool`, `@pack.tool(...)` and `@toolwire.tool` all make registered Tools."""
    pack = toolwire.Toolset("p", description="things")

    @pack.tool
    def one() -> str:
        """First."""
        return "1"

    @pack.tool(name="renamed", description="Explicit description.")
    def two() -> str:
        """Ignored docstring."""
        return "2"

    @toolwire.tool
    def lone(x: int) -> int:
        """Alone."""
        return x

    assert [t.name for t in pack] == ["one", "renamed"]
    assert pack["renamed"].description == "Explicit description."
    assert pack["one"].description == "First." and pack["one"].pack == "p"
    assert isinstance(lone, toolwire.Tool) and lone.pack is None and lone(3) == 3


@pytest.mark.parametrize(
    "doc",
    [
        """Look up a city.

        Args:
            city: The city's name.
            days: How many days ahead.
        """,
        """Look up a city.

        Parameters
        ----------
        city : str
            The city's name.
        days : int
            How many days ahead.
        """,
        """Look up a city.

        :param city: The city's name.
        :param days: How many days ahead.
        """,
    ],
    ids=["google", "numpy", "rest"],
)
def test_parameter_descriptions_come_from_every_docstring_style(doc: str) -> None:
    """Google, NumPy and reST docstrings all give the description of each parameter."""

    def lookup(city: str, days: int = 1) -> str:
        return city

    lookup.__doc__ = doc
    made = toolwire.tool(lookup)
    assert made.description == "Look up a city."
    props = made.parameters["properties"]
    assert props["city"]["description"] == "The city's name."
    assert props["days"]["description"] == "How many days ahead."


def test_schema_is_inferred_from_type_hints() -> None:
    """Every supported kind of type hint becomes the JSON Schema a model can follow."""

    @toolwire.tool
    def everything(
        text: str,
        count: int,
        ratio: float,
        flag: bool,
        maybe: Optional[str],  # noqa: UP045 - the spelling is what is tested
        nothing: None,
        mode: Literal["a", "b"],
        units: Units,
        items: list[int],
        pair: tuple[int, str],
        tags: set[str],
        mapping: dict[str, int],
        address: Address,
        point: Point,
        flt: Filter,
        described: Annotated[int, pydantic.Field(description="From Field.", ge=0)],
        with_default: int = 3,
    ) -> None:
        """Everything at once."""

    params = everything.parameters
    props = params["properties"]
    jsonschema.Draft202012Validator.check_schema(params)
    assert props["text"] == {"type": "string"}
    assert props["count"] == {"type": "integer"}
    assert props["ratio"] == {"type": "number"}
    assert props["flag"] == {"type": "boolean"}
    assert props["maybe"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert props["nothing"] == {"type": "null"}
    assert props["mode"]["enum"] == ["a", "b"]
    assert props["units"]["enum"] == ["celsius", "fahrenheit"]
    assert props["items"] == {"type": "array", "items": {"type": "integer"}}
    assert props["pair"]["prefixItems"] == [{"type": "integer"}, {"type": "string"}]
    assert props["tags"]["uniqueItems"] is True
    assert props["mapping"]["additionalProperties"] == {"type": "integer"}
    assert props["address"]["required"] == ["street", "number"]
    assert props["point"]["properties"]["y"]["default"] == 0
    assert props["flt"]["additionalProperties"] is False
    assert props["described"]["description"] == "From Field."
    assert props["described"]["minimum"] == 0
    assert props["with_default"] == {"type": "integer", "default": 3}
    assert "with_default" not in params["required"]
    assert params["additionalProperties"] is False
    assert "title" not in json.dumps(params)


def test_explicit_schema_wins_and_is_closed() -> None:
    """An explicit schema= replaces the inferred one; unknown keys stay refused."""
    schema = {"type": "object", "properties": {"q": {"type": "string", "minLength": 2}}}

    @toolwire.tool(schema=schema)
    def search(**kwargs: Any) -> Any:
        return kwargs

    assert search.parameters["properties"]["q"]["minLength"] == 2
    assert search.parameters["additionalProperties"] is False
    assert "additionalProperties" not in schema  # the caller's dict is not changed


def test_invalid_schema_is_an_error_naming_the_tool() -> None:
    """A schema the metaschema refuses stops registration and names the tool."""
    with pytest.raises(toolwire.ConfigError, match=r"'bad_tool'.*invalid JSON Schema"):

        @toolwire.tool(name="bad_tool", schema={"type": "object", "properties": {"a": {"type": 5}}})
        def anything() -> None: ...


@pytest.mark.parametrize(
    "name", ["", "has space", "dots.are.bad", "x" * 65, "ünïcode", "1st", "-dash"]
)
def test_names_must_be_valid_for_every_provider(name: str) -> None:
    """Names outside ^[A-Za-z_][A-Za-z0-9_-]{0,63}$ are refused at definition."""
    with pytest.raises(toolwire.ConfigError, match="not valid for every provider"):
        toolwire.tool(name=name)(lambda: None)


def test_varargs_are_refused() -> None:
    """*args and **kwargs cannot be described to a model without an explicit schema."""
    with pytest.raises(toolwire.ConfigError, match=r"\*kwargs"):

        @toolwire.tool
        def loose(**kwargs: Any) -> None: ...


def test_call_context_is_injected_not_described(make: MakeDispatcher) -> None:
    """A CallContext parameter is absent from the schema and receives the call's context."""

    @toolwire.tool
    def whoami(ctx: toolwire.CallContext) -> dict[str, Any]:
        """Tell who calls."""
        return {
            "id": ctx.call_id,
            "role": ctx.role,
            "state": dict(ctx.state),
            "tool": ctx.tool.name if ctx.tool else None,
        }

    assert whoami.parameters["properties"] == {}
    dispatcher = make(whoami)
    result = dispatcher.dispatch_sync("whoami", "{}", call_id="c1", role="r", state={"k": 1})
    assert result.result == {"id": "c1", "role": "r", "state": {"k": 1}, "tool": "whoami"}
    sent = dispatcher.dispatch_sync("whoami", '{"ctx": {"role": "admin"}}')
    assert sent.error is not None and sent.error.kind == "invalid_arguments"
    assert "set by the host" in sent.error.message


def test_arguments_arrive_in_the_declared_types(make: MakeDispatcher) -> None:
    """Enums, dataclasses, pydantic models, tuples and sets are converted before the call."""
    received: dict[str, Any] = {}

    @toolwire.tool
    def typed(
        units: Units,
        point: Point,
        flt: Filter,
        pair: tuple[int, str],
        tags: set[str],
        plain: list[int],
    ) -> str:
        received.update(units=units, point=point, flt=flt, pair=pair, tags=tags, plain=plain)
        return "ok"

    result = make(typed).dispatch_sync(
        "typed",
        {
            "units": "fahrenheit",
            "point": {"x": 1},
            "flt": {"field": "a", "value": 2},
            "pair": [1, "b"],
            "tags": ["x", "y"],
            "plain": [1, 2],
        },
    )
    assert result.success, result.output
    assert received["units"] is Units.FAHRENHEIT
    assert received["point"] == Point(1, 0)
    assert received["flt"] == Filter(field="a", value=2.0)
    assert received["pair"] == (1, "b") and received["tags"] == {"x", "y"}
    assert received["plain"] == [1, 2]


def test_toolset_refuses_two_tools_with_one_name() -> None:
    """One pack cannot hold two tools with the same name."""
    pack = toolwire.Toolset("p")
    pack.tool(name="same")(lambda: None)
    with pytest.raises(toolwire.ConfigError, match="already has a tool named 'same'"):
        pack.tool(name="same")(lambda: None)


def test_policy_options_are_validated() -> None:
    """Nonsense policy values are refused where the tool is declared."""
    with pytest.raises(toolwire.ConfigError, match="timeout must be a positive"):
        toolwire.tool(timeout=0)(lambda: None)
    with pytest.raises(toolwire.ConfigError, match="roles must be a list"):
        toolwire.tool(roles="admin")(lambda: None)


# -- parameters: what a pack author writes, refused at definition with what to do --------------


def test_call_context_may_be_spelt_optional(make: MakeDispatcher) -> None:
    """`ctx: toolwire.CallContext | None = None`, the form type checkers want, gets the context."""

    @toolwire.tool
    def whoami(ctx: toolwire.CallContext | None = None) -> str | None:
        """Tell who calls."""
        return ctx.call_id if ctx is not None else None

    assert whoami.parameters["properties"] == {}
    assert make(whoami).dispatch_sync("whoami", {}, call_id="c9").result == "c9"


def test_a_type_that_cannot_be_described_names_the_tool_the_parameter_and_what_to_do() -> None:
    """A parameter type with no JSON Schema stops the definition with the way out."""
    with pytest.raises(toolwire.ConfigError) as raised:

        @toolwire.tool
        def schedule(when: str, callback: Callable[[], None]) -> None:
            """Schedule."""

    message = str(raised.value)
    assert message.startswith("tool 'schedule': parameter 'callback': its type ")
    assert "cannot be described as JSON Schema" in message
    assert "WithJsonSchema" in message and "pass schema=" in message


def test_a_default_that_is_not_json_is_refused_naming_the_parameter() -> None:
    """A default the model cannot be told is an error naming the parameter."""
    with pytest.raises(toolwire.ConfigError) as raised:

        @toolwire.tool
        def scale(factor: float = float("nan")) -> None:
            """Scale."""

    assert str(raised.value).startswith(
        "tool 'scale': the default of parameter 'factor' (float) is not a JSON value"
    )
    with pytest.raises(toolwire.ConfigError, match="default of parameter 'marker' "):

        @toolwire.tool
        def mark(marker: Any = object()) -> None:  # noqa: B008 - the bad default is the point
            """Mark."""


def test_a_default_pydantic_can_write_is_stated_as_json(make: MakeDispatcher) -> None:
    """A date default is told to the model in JSON form; the function still gets the date."""

    @toolwire.tool
    def agenda(day: datetime.date = datetime.date(2024, 5, 1)) -> str:
        """Agenda."""
        return repr(day)

    assert agenda.parameters["properties"]["day"]["default"] == "2024-05-01"
    assert make(agenda).dispatch_sync("agenda", {}).result == "datetime.date(2024, 5, 1)"


def test_field_defaults_describe_the_parameter_and_give_the_function_values(
    make: MakeDispatcher,
) -> None:
    """Field(...) as a default carries its constraints, description and requiredness, never itself."""
    calls: list[dict[str, Any]] = []

    @toolwire.tool
    def search(
        limit: int = pydantic.Field(..., gt=10, le=100),
        note: str = pydantic.Field(default="hi", description="A note."),
        tags: list[str] = pydantic.Field(default_factory=list, description="Tags."),
    ) -> str:
        """Search."""
        tags.append("seen")
        calls.append({"limit": limit, "note": note, "tags": tags})
        return "ok"

    props = search.parameters["properties"]
    assert search.parameters["required"] == ["limit"]
    assert props["limit"] == {"type": "integer", "exclusiveMinimum": 10, "maximum": 100}
    assert props["note"] == {"type": "string", "description": "A note.", "default": "hi"}
    assert props["tags"] == {
        "type": "array", "items": {"type": "string"}, "description": "Tags.", "default": []
    }  # fmt: skip
    dispatcher = make(search)
    assert dispatcher.dispatch_sync("search", {"limit": 11}).success
    assert dispatcher.dispatch_sync("search", {"limit": 50, "note": "yo"}).success
    assert calls == [
        {"limit": 11, "note": "hi", "tags": ["seen"]},
        {"limit": 50, "note": "yo", "tags": ["seen"]},  # a fresh list each call
    ]
    refused = dispatcher.dispatch_sync("search", {"limit": 10})
    assert (
        refused.error is not None
        and "limit: must be greater than 10, got 10" in refused.error.message
    )
    missing = dispatcher.dispatch_sync("search", {})
    assert (
        missing.error is not None and "missing required argument 'limit'" in missing.error.message
    )


def test_field_defaults_reach_the_function_with_an_explicit_schema_too(
    make: MakeDispatcher,
) -> None:
    """With schema= given, a Field default still gives the function a value, never the Field."""
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}

    @toolwire.tool(schema=schema)
    def find(q: str = pydantic.Field(default="all"), **rest: Any) -> str:
        """Find."""
        return q

    assert make(find).dispatch_sync("find", {}).result == "all"


def test_an_untyped_parameter_is_refused_with_a_type_hint_to_add() -> None:
    """A parameter without a type hint says to add one (or Any for any JSON value)."""
    with pytest.raises(toolwire.ConfigError) as raised:

        @toolwire.tool
        def greet(name, times: int = 1):  # type: ignore[no-untyped-def]  # the point
            """Greet."""

    assert str(raised.value) == (
        "tool 'greet': parameter 'name' has no type hint; add one (name: str, name: int, "
        "name: list[str], ...) so the model is told what to send, or name: Any to take any "
        "JSON value"
    )


# -- callables: described by the function they wrap --------------------------------------------


def _forecast(city: str, days: int = 3, units: str = "metric") -> dict[str, Any]:
    """Forecast for a city.

    Args:
        city: Where.
        days: How many days.
        units: Unit system.
    """
    return {"city": city, "days": days, "units": units}


class Forecaster:
    """A forecaster object."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def forecast(self, city: str, days: int = 1) -> str:
        """Forecast, the method.

        Args:
            city: Which city.
        """
        return f"{self.prefix}{city}x{days}"

    def __call__(self, city: str) -> str:
        """Forecast, the instance.

        Args:
            city: The city, called.
        """
        return f"{self.prefix}{city}"


class AsyncForecaster:
    async def __call__(self, city: str) -> str:
        """Forecast, awaited."""
        return city.upper()


def test_a_partial_is_described_by_the_function_it_wraps(make: MakeDispatcher) -> None:
    """functools.partial gives the wrapped function's name, docstring and hints, minus what it binds."""
    made = toolwire.tool(functools.partial(_forecast, units="imperial"))
    assert made.name == "_forecast"
    assert made.description == "Forecast for a city."
    props = made.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "Where."}
    assert props["units"]["default"] == "imperial"
    result = make(made).dispatch_sync("_forecast", {"city": "Oslo"})
    assert result.result == {"city": "Oslo", "days": 3, "units": "imperial"}


def test_a_bound_method_and_a_callable_instance_are_described_by_their_functions(
    make: MakeDispatcher,
) -> None:
    """A bound method and an instance's __call__ give their own docstrings and hints; self is not a parameter."""
    forecaster = Forecaster("@")
    method = toolwire.tool(forecaster.forecast)
    instance = toolwire.tool(forecaster)
    assert method.name == "forecast" and method.description == "Forecast, the method."
    assert method.parameters["properties"]["city"] == {
        "type": "string",
        "description": "Which city.",
    }
    assert instance.name == "Forecaster" and instance.description == "Forecast, the instance."
    assert instance.parameters["properties"] == {
        "city": {"type": "string", "description": "The city, called."}
    }
    dispatcher = make(method, instance)
    assert dispatcher.dispatch_sync("forecast", {"city": "Rome", "days": 2}).result == "@Romex2"
    assert dispatcher.dispatch_sync("Forecaster", {"city": "Rome"}).result == "@Rome"


def test_an_async_callable_instance_is_awaited(make: MakeDispatcher) -> None:
    """An instance whose __call__ is async is an async tool."""
    made = toolwire.tool(name="shout", description=None)(AsyncForecaster())
    assert made.is_async and made.description == "Forecast, awaited."
    assert make(made).dispatch_sync("shout", {"city": "oslo"}).result == "OSLO"


# -- arguments reach the function in the declared types ----------------------------------------


def test_a_whole_float_for_an_int_parameter_arrives_as_an_int(make: MakeDispatcher) -> None:
    """3.0 (what JSON producers and Gemini's protobuf send) arrives as 3, at any depth."""
    received: list[Any] = []

    @toolwire.tool
    def count(n: int, maybe: int | None = None, many: list[int] | None = None) -> str:
        """Count."""
        received.extend([n, maybe, many])
        return "ok"

    dispatcher = make(count)
    assert dispatcher.dispatch_sync("count", '{"n": 3.0, "maybe": 4.0, "many": [5.0, 6]}').success
    assert received == [3, 4, [5, 6]]
    assert [type(v) for v in received[:2]] == [int, int] and type(received[2][0]) is int
    half = dispatcher.dispatch_sync("count", {"n": 3.5})
    assert half.error is not None and "n: expected integer, got a number" in half.error.message


def test_gemini_numbers_reach_an_int_parameter_as_ints(make: MakeDispatcher) -> None:
    """A Gemini response's args (every number a float) become ints for int parameters."""
    from toolwire.testing import build_response

    seen: list[Any] = []

    @toolwire.tool
    def pick(index: int) -> int:
        """Pick."""
        seen.append(index)
        return index

    dispatcher = make(pick)
    items = dispatcher.process_response_sync(build_response("gemini", [("pick", '{"index": 2.0}')]))
    assert seen == [2] and type(seen[0]) is int
    assert items[-1]["parts"][0]["functionResponse"]["response"] == {"output": 2}


@pytest.mark.parametrize(
    ("kind", "sent", "expected"),
    [
        ("datetime", "2024-05-01T00:00:00", "datetime.datetime(2024, 5, 1, 0, 0)"),
        ("datetime", "2024-05-01 09:30", "datetime.datetime(2024, 5, 1, 9, 30)"),
        ("datetime", "2024-05-01T09:30:00+02:00",
         "datetime.datetime(2024, 5, 1, 9, 30, tzinfo=TzInfo(7200))"),
        ("date", "2024-05-01", "datetime.date(2024, 5, 1)"),
        ("time", "09:30", "datetime.time(9, 30)"),
        ("time", "09:30:00Z", "datetime.time(9, 30, tzinfo=TzInfo(0))"),
    ],
)  # fmt: skip
def test_dates_and_times_take_the_forms_pydantic_takes(
    make: MakeDispatcher, kind: str, sent: str, expected: str
) -> None:
    """datetime, date and time parameters accept what their types parse, offsets optional."""
    annotation = getattr(datetime, kind)

    def when(at: Any) -> str:
        return repr(at)

    when.__annotations__ = {"at": annotation, "return": str}
    made = toolwire.tool(name="when")(when)
    result = make(made).dispatch_sync("when", {"at": sent})
    assert result.success, result.output
    assert result.result == expected


@pytest.mark.parametrize(
    ("kind", "form"),
    [
        ("datetime", "a date and time in ISO 8601 form, such as 2024-05-01T09:30:00 or "
                     "2024-05-01T09:30:00+02:00 (the offset is optional)"),
        ("date", "a date in ISO 8601 form, such as 2024-05-01"),
        ("time", "a time in ISO 8601 form, such as 09:30, 09:30:15 or 09:30:00+02:00"),
    ],
)  # fmt: skip
def test_date_and_time_errors_say_the_expected_form(
    make: MakeDispatcher, kind: str, form: str
) -> None:
    """A value that is no date says which form is expected, and what was sent."""

    def when(at: Any) -> None:
        return None

    when.__annotations__ = {"at": getattr(datetime, kind)}
    result = make(toolwire.tool(name="when")(when)).dispatch_sync("when", {"at": "next tuesday"})
    assert result.error is not None
    assert (
        result.error.message
        == f'invalid arguments for when: at: must be {form}, got "next tuesday"'
    )
