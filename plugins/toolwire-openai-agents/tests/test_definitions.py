"""Tool definitions in the SDK's terms: toolwire's schemas, strict where toolwire can make them
strict, descriptions, output schemas, deferred loading; and results with images."""

from __future__ import annotations

import base64
from typing import Any

import toolwire
from agents import Runner
from agents.testing import ScriptedModel, assistant_message, function_call
from toolwire_fixtures import deferred
from toolwire_openai_agents import function_tools
from toolwire_openai_agents._tools import _strict_for_the_sdk
from typing_extensions import TypedDict  # pydantic describes typing's only from Python 3.12

from .conftest import MakeDispatcher, agent_with, one_call_then, tool_outputs


def by_name(tools: list[Any]) -> dict[str, Any]:
    return {tool.name: tool for tool in tools}


def test_schemas_are_toolwires_strict_definitions(dispatcher: toolwire.Dispatcher) -> None:
    """Each tool carries toolwire's OpenAI Responses definition: name, description, strict schema."""
    weather = by_name(function_tools(dispatcher))["get_weather"]
    (definition,) = [
        d for d in dispatcher.tool_definitions("openai-responses") if d["name"] == "get_weather"
    ]

    assert weather.strict_json_schema is True
    assert weather.params_json_schema == definition["parameters"]
    assert weather.params_json_schema["required"] == ["city", "units"]  # optional: nullable
    assert weather.description == "Get the current weather for a city."


def test_a_schema_strict_mode_cannot_express_is_sent_as_it_is(make: MakeDispatcher) -> None:
    """A tool toolwire cannot make strict (an open mapping) keeps its own schema, not strict."""
    pack = toolwire.Toolset("tags")

    @pack.tool
    def set_tags(tags: dict[str, int]) -> str:
        """Set counters by tag."""
        return "ok"

    dispatcher = make(pack)
    tool = by_name(function_tools(dispatcher))["set_tags"]

    assert tool.strict_json_schema is False
    assert tool.params_json_schema == by_name(dispatcher.tools())["set_tags"].parameters


def test_a_schema_the_sdk_refuses_as_strict_goes_without_strict_mode() -> None:
    """What the SDK's own strict conversion refuses is sent without strict mode, not dropped."""
    open_object = {
        "type": "object",
        "properties": {"labels": {"type": "object", "additionalProperties": True}},
        "required": ["labels"],
        "additionalProperties": False,
    }
    assert _strict_for_the_sdk(open_object) is False
    assert _strict_for_the_sdk({**open_object, "properties": {}, "required": []}) is True


async def test_an_omitted_optional_argument_takes_its_default(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """The null strict mode sends for a left-out optional argument becomes the tool's default."""
    model = one_call_then("get_weather", '{"city":"Oslo","units":null}', call_id="w1", then="cold")
    await Runner.run(agent_with(model, function_tools(dispatcher)), "Oslo?")

    assert tool_outputs(model)["w1"]["units"] == "celsius"


class Forecast(TypedDict):
    city: str
    temperature: int


def test_output_schemas_come_from_return_types(make: MakeDispatcher) -> None:
    """With output_schemas, a tool returning an object type describes it; others do not."""
    pack = toolwire.Toolset("forecasts")

    @pack.tool
    def forecast(city: str) -> Forecast:
        """Tomorrow's forecast."""
        return {"city": city, "temperature": 18}

    @pack.tool
    def summary(city: str) -> str:
        """A sentence about the weather."""
        return f"mild in {city}"

    dispatcher = make(pack)
    described = by_name(function_tools(dispatcher, output_schemas=True))
    schema = described["forecast"].output_json_schema

    assert schema is not None and schema["properties"]["temperature"]["type"] == "integer"
    assert described["summary"].output_json_schema is None
    assert by_name(function_tools(dispatcher))["forecast"].output_json_schema is None


def test_deferred_loading_marks_every_tool(dispatcher: toolwire.Dispatcher) -> None:
    """defer_loading hides the definitions until the Responses API's tool search loads them."""
    assert {t.defer_loading for t in function_tools(dispatcher, defer_loading=True)} == {True}
    assert {t.defer_loading for t in function_tools(dispatcher)} == {False}


def test_a_tool_toolwire_defers_is_deferred_by_default(make: MakeDispatcher) -> None:
    """By default each tool follows toolwire's defer_loading policy; False overrides it."""
    dispatcher = make(deferred.pack)
    deferred_by_name = {t.name: t.defer_loading for t in function_tools(dispatcher)}
    assert deferred_by_name["rarely"] is True and deferred_by_name["often"] is False
    assert {t.defer_loading for t in function_tools(dispatcher, defer_loading=False)} == {False}


PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24).decode()


async def test_a_result_with_images_sends_them_as_images(make: MakeDispatcher) -> None:
    """A toolwire.Content result reaches the model as its text, then each image."""
    pack = toolwire.Toolset("charts")

    @pack.tool
    def chart(city: str) -> toolwire.Content:
        """A temperature chart."""
        return toolwire.Content(
            [toolwire.TextPart(f"chart for {city}"), toolwire.ImagePart(PNG, "image/png")]
        )

    model = ScriptedModel(
        [[function_call("chart", {"city": "Rome"}, call_id="c1")], [assistant_message("here")]]
    )
    await Runner.run(agent_with(model, function_tools(make(pack))), "chart")

    text, image = tool_outputs(model)["c1"]
    assert text["type"] == "input_text" and text["text"].startswith("chart for Rome")
    assert (image["type"], image["image_url"]) == ("input_image", f"data:image/png;base64,{PNG}")
