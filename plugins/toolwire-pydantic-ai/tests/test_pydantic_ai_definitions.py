"""What the model is told about each tool: toolwire's own definitions, in Pydantic AI's terms."""

from __future__ import annotations

from typing import Any, Literal

import toolwire
from pydantic import BaseModel
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import ToolDefinition
from toolwire.testing import make_dispatcher
from toolwire_pydantic_ai import ToolwireToolset
from toolwire_pydantic_ai._definitions import return_schema


class Forecast(BaseModel):
    location: str
    temperature: float


async def offered(toolset: ToolwireToolset[Any]) -> dict[str, ToolDefinition]:
    """The tool definitions the model receives on the first request."""
    seen: dict[str, ToolDefinition] = {}

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.update({t.name: t for t in info.function_tools})
        return ModelResponse(parts=[TextPart("done")])

    await Agent(FunctionModel(model), toolsets=[toolset]).run("hi")
    return seen


async def test_definitions_carry_toolwires_schema_description_and_hints() -> None:
    """Name, description and parameter schema are toolwire's (a copy); strict is left to Pydantic
    AI; the return type is the return schema; behaviour hints ride in metadata, never sent."""
    pack = toolwire.Toolset("weather")

    @pack.tool(read_only=True)
    def get_weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> Forecast:
        """Get the current weather for a location.

        Args:
            location: City name.
        """
        return Forecast(location=location, temperature=21)

    with make_dispatcher(pack) as dispatcher:
        (tool,) = dispatcher.tools()
        definition = (await offered(ToolwireToolset(dispatcher)))["get_weather"]
        returning = (await offered(ToolwireToolset(dispatcher).include_return_schemas()))[
            "get_weather"
        ]
    assert definition.parameters_json_schema == tool.parameters
    assert definition.parameters_json_schema is not tool.parameters
    assert definition.description == tool.description
    assert definition.strict is None and definition.sequential is False
    assert definition.metadata == {"toolwire": {"pack": "weather", "read_only": True}}
    # Sent only where the agent asks for return schemas, as for its own tools; a model without
    # a field for it (FunctionModel here) reads it in the description.
    assert definition.return_schema is None
    assert returning.description is not None
    assert returning.description.startswith(tool.description)
    assert '"title": "Forecast"' in returning.description


def test_a_tool_without_a_return_type_has_no_return_schema() -> None:
    """No annotation (or Any) gives no return schema rather than a guess."""
    pack = toolwire.Toolset("misc")

    @pack.tool
    def ping():  # type: ignore[no-untyped-def]
        """Answer."""
        return "pong"

    @pack.tool
    def echo(text: str) -> Any:
        """Echo."""
        return text

    with make_dispatcher(pack) as dispatcher:
        tools = {tool.name: tool for tool in dispatcher.tools()}
    assert return_schema(tools["ping"]) is None
    assert return_schema(tools["echo"]) is None


def test_a_tool_toolwire_defers_is_deferred_and_carries_its_output_schema() -> None:
    """toolwire's defer_loading policy is the definition's, and output_schema= overrides the
    return schema as it overrides toolwire's own."""
    from toolwire_pydantic_ai._definitions import definition

    pack = toolwire.Toolset("many")

    @pack.tool(defer_loading=True, output_schema={"type": "object", "properties": {}})
    def rarely(x: int) -> Forecast:
        """Rarely needed."""
        return Forecast(location="x", temperature=x)

    @pack.tool
    def often(x: int) -> int:
        """Often needed."""
        return x

    with make_dispatcher(pack) as dispatcher:
        rare = definition(dispatcher.tools()[1], dispatcher.policy("rarely"))
        common = definition(dispatcher.tools()[0], dispatcher.policy("often"))
    assert rare.name == "rarely" and rare.defer_loading is True
    assert rare.return_schema == {"type": "object", "properties": {}}
    assert common.defer_loading is False
    assert common.return_schema == {"type": "integer"}
