"""The tools with ``bind_tools`` and a hand-run loop, in LangGraph's ``ToolNode`` and a graph of
one's own, described strictly; cancellation and parallel calls."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import langchain_helpers as lh
import pytest
import toolwire
import toolwire_langchain
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_helpers import FakeChatModel, MakeDispatcher, Ran, Run
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command


def test_the_model_is_told_toolwires_schema_and_description(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """``bind_tools`` describes each tool with toolwire's own description and JSON Schema."""
    fake = lh.model()
    fake.bind_tools(toolwire_langchain.tools(dispatcher))
    described = {t["function"]["name"]: t["function"] for t in fake.bound[0]}
    tool = {t.name: t for t in dispatcher.tools()}["get_weather"]
    assert described["get_weather"]["description"] == tool.description
    assert described["get_weather"]["parameters"] == tool.parameters


def test_a_hand_run_loop_gets_tool_messages(dispatcher: toolwire.Dispatcher, ran: Ran) -> None:
    """With ``bind_tools`` and ``tool.invoke(tool_call)``, as LangChain's tool-calling guide
    runs a loop, each call gives a tool message: toolwire's output, or its error."""
    fake = lh.model(
        lh.calls(("get_weather", {"location": "Paris"}, "call_1"), ("get_weather", {}, "call_2"))
    )
    by_name = {t.name: t for t in toolwire_langchain.tools(dispatcher)}
    turn = fake.bind_tools(list(by_name.values())).invoke([HumanMessage("weather?")])
    answered, refused = [by_name[call["name"]].invoke(call) for call in turn.tool_calls]
    assert isinstance(answered, ToolMessage) and answered.tool_call_id == "call_1"
    assert json.loads(str(answered.content))["location"] == "Paris"
    assert refused.tool_call_id == "call_2"
    assert lh.error_of(refused)["error"] == "invalid_arguments"
    assert ran.names() == ["get_weather"]


def test_a_tool_invoked_with_bare_arguments_returns_the_content(
    dispatcher: toolwire.Dispatcher,
) -> None:
    """Invoked with arguments rather than a tool call, a tool returns toolwire's output text;
    an argument named like the runtime parameter is an unknown argument to toolwire."""
    (get_weather,) = [t for t in toolwire_langchain.tools(dispatcher) if t.name == "get_weather"]
    assert json.loads(get_weather.invoke({"location": "Rome"}))["location"] == "Rome"
    refused = json.loads(get_weather.invoke({"location": "Rome", "_toolwire_runtime": 1}))
    assert refused["error"] == "invalid_arguments" and "_toolwire_runtime" in refused["message"]


def test_strict_tools_take_toolwires_strict_schema(make: MakeDispatcher) -> None:
    """``strict=True`` describes a tool by toolwire's strict rewrite, which ``bind_tools(...,
    strict=True)`` keeps; the model's null for a left-out argument runs with the default."""
    pack = toolwire.Toolset("strict")

    @pack.tool
    def get_weather(location: str, units: str = "celsius") -> str:
        """Get the current weather for a location."""
        return f"{location} in {units}"

    dispatcher = make(pack)
    (tool,) = toolwire_langchain.tools(dispatcher, strict=True)
    described = convert_to_openai_tool(tool, strict=True)["function"]
    assert described["strict"] is True
    assert described["parameters"]["required"] == ["location", "units"]
    assert described["parameters"]["properties"]["units"]["type"] == ["string", "null"]
    answer = tool.invoke({"location": "Oslo", "units": None})
    assert answer == "Oslo in celsius"


def test_strict_mode_refuses_a_tool_it_cannot_describe(make: MakeDispatcher) -> None:
    """A tool whose schema has no strict-mode form stops ``tools(strict=True)``, named with
    the reason, rather than reaching the model described wrongly."""
    pack = toolwire.Toolset("open")

    @pack.tool
    def tag(labels: dict[str, str]) -> str:
        """Tag something with free-form labels."""
        return "ok"

    with pytest.raises(ValueError, match="tag"):
        toolwire_langchain.tools(make(pack), strict=True)
    assert len(toolwire_langchain.tools(make(pack))) == 1


def graph_for(dispatcher: toolwire.Dispatcher, fake: FakeChatModel) -> Any:
    """A graph of one's own: model, ToolNode, and the approvals node between them."""
    tools = toolwire_langchain.tools(dispatcher)
    bound = fake.bind_tools(tools)
    approvals = toolwire_langchain.ApprovalMiddleware(dispatcher)

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [bound.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", call_model)
    builder.add_node("tools", ToolNode(tools))
    builder.add_node("approvals", approvals.before_model)
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    builder.add_edge("tools", "approvals")
    builder.add_edge("approvals", "model")
    return builder.compile(checkpointer=InMemorySaver())


def test_a_tool_node_graph_runs_and_asks_for_approvals(
    dispatcher: toolwire.Dispatcher, ran: Ran, run: Run
) -> None:
    """In a hand-built graph, ``ToolNode`` runs the tools under the model's call ids and the
    approvals node asks a person about the gated call before the model reads it."""
    fake = lh.model(
        lh.calls(
            ("get_weather", {"location": "Paris"}, "call_1"),
            ("delete_user", {"user_id": 2}, "call_2"),
        ),
        AIMessage("done"),
    )
    graph, config = graph_for(dispatcher, fake), {"configurable": {"thread_id": uuid.uuid4().hex}}
    out = run(graph, {"messages": [HumanMessage("go")]}, config)
    (paused,) = out["__interrupt__"]
    (request,) = paused.value["requests"]
    assert request["tool_call_id"] == "call_2"
    answer = {"by": "grace", "decisions": {request["approval_id"]: {"type": "approve"}}}
    out = run(graph, Command(resume=answer), config)
    weather, deleted = lh.tool_messages(out["messages"])
    assert weather.status == "success" and deleted.content == "deleted user 2"
    assert ran.names() == ["get_weather", "delete_user"]
    assert out["messages"][-1].content == "done"


async def test_cancelling_the_run_cancels_toolwires_call(make: MakeDispatcher) -> None:
    """A run cancelled while a tool runs cancels toolwire's call: the tool sees its
    cancellation, and the cancellation reaches whoever cancelled the run."""
    pack = toolwire.Toolset("waiting")
    started, cancelled = asyncio.Event(), asyncio.Event()

    @pack.tool
    async def wait_for_ever() -> str:
        """Waits until cancelled."""
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    from langchain.agents import create_agent

    fake = lh.model(lh.calls(("wait_for_ever", {}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(make(pack)))
    task = asyncio.create_task(agent.ainvoke({"messages": [HumanMessage("go")]}))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(cancelled.wait(), 30)


def meeting_pack(
    max_concurrency: int | None, patience: float
) -> tuple[toolwire.Toolset, list[int]]:
    """A tool that waits up to ``patience`` seconds for another call of it to run at the same
    time and says whether one did; and the number of calls running at each start."""
    pack = toolwire.Toolset("meeting")
    running: list[int] = [0]
    seen: list[int] = []

    @pack.tool(max_concurrency=max_concurrency)
    async def meet(name: str) -> str:
        """Wait a moment for the other caller."""
        running[0] += 1
        seen.append(running[0])
        try:
            for _ in range(int(patience / 0.01)):
                if max(seen) > 1:
                    return "together"
                await asyncio.sleep(0.01)
            return "alone"
        finally:
            running[0] -= 1

    return pack, seen


@pytest.mark.parametrize(
    ("limit", "patience", "expected"),
    [(None, 30.0, 2), (1, 0.2, 1)],  # a free call never waits long: the other one comes
    ids=["free", "limited"],
)
def test_parallel_calls_stay_parallel_unless_toolwire_serializes_them(
    make: MakeDispatcher, run: Run, limit: int | None, patience: float, expected: int
) -> None:
    """Two calls of one model turn run at the same time, unless toolwire's policy
    (``max_concurrency=1``) lets only one run at a time."""
    from langchain.agents import create_agent

    pack, seen = meeting_pack(limit, patience)
    fake = lh.model(
        lh.calls(("meet", {"name": "a"}, "call_1"), ("meet", {"name": "b"}, "call_2")),
        AIMessage("done"),
    )
    agent = create_agent(fake, toolwire_langchain.tools(make(pack)))
    out = run(agent, {"messages": [HumanMessage("go")]})
    assert max(seen) == expected
    answers = {m.content for m in lh.tool_messages(out["messages"])}
    assert answers == ({"together"} if expected == 2 else {"alone"})


def test_a_content_results_images_follow_its_text(make: MakeDispatcher) -> None:
    """A ``toolwire.Content`` result reaches the model as its text, then each image as an
    image content block."""
    pack = toolwire.Toolset("charts")

    @pack.tool
    def chart() -> toolwire.Content:
        """Draw a chart."""
        return toolwire.Content(
            [toolwire.TextPart("sales"), toolwire.ImagePart("iVBORw==", "image/png")]
        )

    (tool,) = toolwire_langchain.tools(make(pack))
    message = tool.invoke({"name": "chart", "args": {}, "id": "call_1", "type": "tool_call"})
    text, image = message.content
    assert text["type"] == "text" and text["text"].startswith("sales")
    assert image == {"type": "image", "base64": "iVBORw==", "mime_type": "image/png"}
