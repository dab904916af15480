"""Results made of parts (text, images, files, audio, links) in each provider's next request,
checked with each SDK's own param types, and output schemas where an API takes one."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pydantic
import toolwire
from anthropic.types import MessageParam
from google.genai import types as genai_types
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import ResponseInputParam
from toolwire.testing import build_response

from ..sdk_checks import sdk_validate

PNG = b"\x89PNG\r\n\x1a\n-not-really"
PDF = b"%PDF-1.4 tiny"
WAV = b"RIFF....WAVE"

pack = toolwire.Toolset("media")


@pack.tool
def report(title: str) -> list[Any]:
    """A report: text, a chart, a PDF, a text file, a recording and a link.

    Args:
        title: Its title.
    """
    return [
        title,
        toolwire.Image(PNG, "image/png"),
        toolwire.File(PDF, "application/pdf", "report.pdf"),
        toolwire.File(b"plain words", "text/plain", "notes.txt"),
        toolwire.Audio(WAV, "audio/wav"),
        toolwire.LinkPart("https://example.org/r/1", "raw data", "text/csv", "all rows"),
    ]


class Forecast(pydantic.BaseModel):
    high_c: float = pydantic.Field(alias="highC")


@pack.tool
def forecast(city: str) -> Forecast:
    """Tomorrow's forecast.

    Args:
        city: Where.
    """
    return Forecast(highC=21.5)


def _items(provider: str, name: str = "report", arguments: str = '{"title": "Q3"}') -> list[Any]:
    dispatcher = toolwire.Dispatcher().add(pack)
    try:
        response = build_response(provider, [(name, arguments)])
        return asyncio.run(dispatcher.process_response(response, provider=provider))
    finally:
        dispatcher.close()


def _described(text: str) -> None:
    assert text.splitlines() == [
        "Q3",
        "[image: image/png, 19 bytes]",
        "[file: report.pdf, application/pdf, 13 bytes]",
        "[file: notes.txt, text/plain, 11 bytes]",
        "[audio: audio/wav, 12 bytes]",
        "[resource link: raw data <https://example.org/r/1> (text/csv): all rows]",
    ]


def test_openai_responses_gets_input_image_and_input_file_parts() -> None:
    """function_call_output carries the text, then the image and both files natively."""
    items = _items("openai-responses")
    sdk_validate(ResponseInputParam, items)
    output = items[-1]["output"]
    assert [part["type"] for part in output] == [
        "input_text", "input_image", "input_file", "input_file",
    ]  # fmt: skip
    _described(output[0]["text"])
    assert output[1]["image_url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert output[2] == {
        "type": "input_file",
        "file_data": "data:application/pdf;base64," + base64.b64encode(PDF).decode(),
        "filename": "report.pdf",
    }


def test_anthropic_gets_image_and_document_blocks() -> None:
    """tool_result holds a text block, the image, the PDF and the text file as documents."""
    items = _items("anthropic")
    for item in items:
        sdk_validate(MessageParam, item)
    (block,) = items[-1]["content"]
    content = block["content"]
    assert [part["type"] for part in content] == ["text", "image", "document", "document"]
    _described(content[0]["text"])
    assert content[1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": base64.b64encode(PNG).decode(),
    }
    assert content[2] == {
        "type": "document",
        "source": {
            "type": "base64",
            "media_type": "application/pdf",
            "data": base64.b64encode(PDF).decode(),
        },
        "title": "report.pdf",
    }
    assert content[3]["source"] == {
        "type": "text",
        "media_type": "text/plain",
        "data": "plain words",
    }


def test_gemini_gets_inline_data_parts_in_the_function_response() -> None:
    """functionResponse.parts carries the image, the PDF and the text file as inline data."""
    items = _items("gemini")
    contents = [genai_types.Content.model_validate_json(json.dumps(item)) for item in items]
    response = contents[-1].parts[0].function_response
    _described(response.response["output"])
    blobs = [part.inline_data for part in response.parts]
    assert [(b.mime_type, b.data, b.display_name) for b in blobs] == [
        ("image/png", PNG, "part1"),
        ("application/pdf", PDF, "report.pdf"),
        ("text/plain", b"plain words", "notes.txt"),
    ]


def test_openai_chat_gets_the_text_with_each_part_described() -> None:
    """A tool message takes text only: each part is described in it, no data is sent."""
    items = _items("openai-chat")
    for item in items:
        sdk_validate(ChatCompletionMessageParam, item)
    _described(items[-1]["content"])


def test_gemini_declares_the_output_schema_and_answers_with_matching_data() -> None:
    """responseJsonSchema is the output schema, and the response's output validates against it."""
    import jsonschema

    dispatcher = toolwire.Dispatcher().add(pack)
    try:
        (declaration,) = [
            d for d in dispatcher.tool_definitions("gemini") if d["name"] == "forecast"
        ]
    finally:
        dispatcher.close()
    genai_types.FunctionDeclaration.model_validate(declaration)
    schema = declaration["responseJsonSchema"]
    assert schema["properties"].keys() == {"highC"}
    items = _items("gemini", "forecast", '{"city": "Oslo"}')
    output = items[-1]["parts"][0]["functionResponse"]["response"]["output"]
    assert output == {"highC": 21.5}
    jsonschema.validate(output, schema)


def test_apis_without_an_output_schema_field_get_none() -> None:
    """OpenAI and Anthropic tool definitions have no output schema field: none is added."""
    dispatcher = toolwire.Dispatcher().add(pack)
    try:
        for provider in ("openai-responses", "openai-chat", "anthropic"):
            for definition in dispatcher.tool_definitions(provider):
                text = json.dumps(definition)
                assert "highC" not in text and "output" not in text.lower(), provider
    finally:
        dispatcher.close()
