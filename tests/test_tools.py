"""Tools and tool packs: decorators, descriptions, inferred schemas, conversion."""

from __future__ import annotations

import dataclasses
import enum
import json
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
