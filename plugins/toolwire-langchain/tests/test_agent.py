"""A whole ``create_agent`` loop with LangChain's fake chat model, every call through toolwire."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import langchain_helpers as lh
import pydantic
import pytest
import toolwire
import toolwire_langchain
from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage
from langchain_helpers import Finished, MakeDispatcher, Ran, Run
from toolwire_fixtures import deferred


def ask(text: str = "go") -> dict[str, Any]:
    return {"messages": [HumanMessage(text)]}


def test_a_call_succeeds_through_the_pipeline(
    dispatcher: toolwire.Dispatcher, ran: Ran, finished: Finished, run: Run
) -> None:
    """The model's call runs once through toolwire's pipeline, under the model's call id, and
    the model reads toolwire's output in a successful tool message."""
    fake = lh.model(
        lh.calls(("get_weather", {"location": "Paris"}, "call_1")), AIMessage("21 in Paris")
    )
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    out = run(agent, ask())
    (message,) = lh.tool_messages(out["messages"])
    assert message.status == "success" and message.tool_call_id == "call_1"
    assert json.loads(str(message.content)) == {
        "location": "Paris",
        "temperature": 21,
        "units": "celsius",
    }
    assert message.artifact["call_id"] == "call_1" and message.artifact["success"] is True
    assert ran.calls == [("get_weather", {"location": "Paris", "units": "celsius"})]
    assert [(name, call_id, kind) for name, call_id, kind, _, _ in finished.calls] == [
        ("get_weather", "call_1", None)
    ]
    assert out["messages"][-1].content == "21 in Paris"


def test_invalid_arguments_come_back_and_the_model_corrects_them(
    dispatcher: toolwire.Dispatcher, ran: Ran, run: Run
) -> None:
    """Arguments toolwire refuses reach the model as toolwire's invalid_arguments error (the
    tool does not run, LangChain validates nothing), and the model's corrected call runs."""
    fake = lh.model(
        lh.calls(("get_weather", {"city": "Oslo"}, "call_1")),
        lh.calls(("get_weather", {"location": "Oslo"}, "call_2")),
        AIMessage("done"),
    )
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    out = run(agent, ask())
    refused, answered = lh.tool_messages(out["messages"])
    error = lh.error_of(refused)
    assert error["error"] == "invalid_arguments" and "'city'" in error["message"]
    assert answered.status == "success" and answered.tool_call_id == "call_2"
    assert refused in fake.seen[1]  # the model read the error before it corrected its call
    assert ran.calls == [("get_weather", {"location": "Oslo", "units": "celsius"})]
    assert out["messages"][-1].content == "done"


def test_a_role_sees_only_its_tools(dispatcher: toolwire.Dispatcher, ran: Ran, run: Run) -> None:
    """A role's tools are the ones it may call: the model is never told of another's, and a
    call to one anyway is answered as an unknown tool without running it."""
    fake = lh.model(lh.calls(("reset_station", {"station": "OSL"}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher, role="viewer"))
    out = run(agent, ask())
    offered = {tool["function"]["name"] for tool in fake.bound[0]}
    assert "reset_station" not in offered and "get_weather" in offered
    (message,) = lh.tool_messages(out["messages"])
    assert message.status == "error" and "reset_station is not a valid tool" in message.content
    assert ran.calls == []
    admin = {t.name for t in toolwire_langchain.tools(dispatcher, role="admin")}
    assert "reset_station" in admin


def test_the_role_travels_with_each_call(
    dispatcher: toolwire.Dispatcher, finished: Finished, run: Run
) -> None:
    """Each call is dispatched under the role the tools were made for."""
    fake = lh.model(lh.calls(("reset_station", {"station": "OSL"}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher, role="admin"))
    run(agent, ask())
    assert [(name, role) for name, _, _, role, _ in finished.calls] == [("reset_station", "admin")]


def test_a_timeout_is_an_error_the_model_reads(
    dispatcher: toolwire.Dispatcher, ran: Ran, run: Run
) -> None:
    """A call past its toolwire deadline ends with the timeout error in an error message, and
    the run goes on to the model's next turn."""
    fake = lh.model(
        lh.calls(("forecast", {"location": "Oslo"}, "call_1")), AIMessage("no forecast")
    )
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    out = run(agent, ask())
    (message,) = lh.tool_messages(out["messages"])
    assert lh.error_of(message)["error"] == "timeout"
    assert ran.names() == ["forecast"]
    assert out["messages"][-1].content == "no forecast"


@dataclasses.dataclass
class Deps:
    principal: str
    tenant: str


class PydanticDeps(pydantic.BaseModel):
    principal: str
    tenant: str


@pytest.mark.parametrize(
    "context",
    [
        {"principal": "ada", "tenant": "acme"},
        Deps("ada", "acme"),
        PydanticDeps(principal="ada", tenant="acme"),
    ],
    ids=["mapping", "dataclass", "pydantic"],
)
def test_the_run_context_is_the_call_state(
    dispatcher: toolwire.Dispatcher, finished: Finished, run: Run, context: Any
) -> None:
    """The context an agent runs with is the call's state, its principal the one toolwire
    records: a mapping as it is, a dataclass or a pydantic model as its fields."""
    fake = lh.model(lh.calls(("whoami", {}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher), context_schema=type(context))
    out = run(agent, ask(), context=context)
    (message,) = lh.tool_messages(out["messages"])
    assert json.loads(str(message.content)) == {"principal": "ada", "role": None}
    ((_, _, _, _, state),) = finished.calls
    assert dict(state) == {"principal": "ada", "tenant": "acme"}
    if isinstance(context, dict):
        assert state is context  # the host's own mapping


def test_a_context_toolwire_cannot_read_stops_the_run(dispatcher: toolwire.Dispatcher) -> None:
    """A context that is no mapping, dataclass or pydantic model is the host's mistake: the
    run stops with a message saying what to pass, and nothing is dispatched."""
    fake = lh.model(lh.calls(("whoami", {}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    with pytest.raises(TypeError, match="give a mapping, a dataclass or a pydantic model"):
        agent.invoke(ask(), context="ada")


def test_arguments_pass_through_untouched(make: MakeDispatcher, run: Run) -> None:
    """Parameters named like LangChain's own (config, run_manager, callbacks, runtime) reach
    the tool as the model sent them."""
    pack = toolwire.Toolset("names")
    seen: list[dict[str, Any]] = []

    @pack.tool
    def configure(config: str, run_manager: str, callbacks: list[str], runtime: int) -> str:
        """Configure something."""
        seen.append(
            {
                "config": config,
                "run_manager": run_manager,
                "callbacks": callbacks,
                "runtime": runtime,
            }
        )
        return "ok"

    sent = {"config": "fast", "run_manager": "ada", "callbacks": ["a"], "runtime": 3}
    fake = lh.model(lh.calls(("configure", sent, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(make(pack)))
    out = run(agent, ask())
    assert seen == [sent]
    assert lh.tool_messages(out["messages"])[0].status == "success"


class ToolStarts(BaseCallbackHandler):
    """Records what LangChain's callbacks (and so its tracers) are given at each tool start."""

    def __init__(self) -> None:
        self.starts: list[tuple[str, Any]] = []

    def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, inputs: Any = None, **kwargs: Any
    ) -> None:
        self.starts.append((input_str, inputs))


def test_callbacks_see_the_models_arguments_not_the_run_state(
    dispatcher: toolwire.Dispatcher, run: Run
) -> None:
    """What LangChain hands its callbacks and tracers at a tool start is the model's
    arguments alone: the runtime the tool receives (with the whole graph state and context)
    is left out."""
    fake = lh.model(lh.calls(("get_weather", {"location": "Paris"}, "call_1")), AIMessage("done"))
    agent = create_agent(fake, toolwire_langchain.tools(dispatcher))
    seen = ToolStarts()
    run(agent, ask("secret plans"), {"callbacks": [seen]}, context={"principal": "ada"})
    ((input_str, inputs),) = seen.starts
    assert inputs == {"location": "Paris"}
    assert "secret plans" not in input_str and "ada" not in input_str


@pytest.mark.parametrize("kind", [*toolwire.ERROR_KINDS, "an exception"])
def test_no_error_a_tool_ends_with_stops_the_run(make: MakeDispatcher, run: Run, kind: str) -> None:
    """Whatever error a call ends with (each of toolwire's kinds, or a tool's own exception),
    the model reads it in an error message and the run goes on."""
    pack = toolwire.Toolset("failing")

    @pack.tool
    def fail() -> str:
        """Fails."""
        if kind == "an exception":
            raise RuntimeError("boom")
        raise toolwire.ToolError("it failed", kind=kind)  # type: ignore[arg-type]

    fake = lh.model(lh.calls(("fail", {}, "call_1")), AIMessage("going on"))
    agent = create_agent(fake, toolwire_langchain.tools(make(pack)))
    out = run(agent, ask())
    (message,) = lh.tool_messages(out["messages"])
    assert lh.error_of(message)["error"] == ("execution_error" if kind == "an exception" else kind)
    assert out["messages"][-1].content == "going on"


def session_role(context: dict[str, Any]) -> str:
    return str(context["role"])


def test_the_role_can_come_from_the_run_context(
    dispatcher: toolwire.Dispatcher, ran: Ran, finished: Finished, run: Run
) -> None:
    """With ``RoleMiddleware`` and a role function, one agent offers each run the tools of
    the role its context names, and dispatches the run's calls under that role."""
    fake = lh.model(
        lh.calls(("whoami", {}, "call_1")),
        AIMessage("you are a viewer"),
        lh.calls(("reset_station", {"station": "OSL"}, "call_2")),
        AIMessage("reset"),
    )
    middleware = toolwire_langchain.RoleMiddleware(dispatcher, role=session_role)
    agent = create_agent(fake, middleware=[middleware])
    viewer = run(agent, ask(), context={"principal": "ada", "role": "viewer"})
    admin = run(agent, ask(), context={"principal": "bo", "role": "admin"})
    offered = [{tool["function"]["name"] for tool in bound} for bound in fake.bound]
    assert "reset_station" not in offered[0] and "reset_station" in offered[-1]
    assert json.loads(str(lh.tool_messages(viewer["messages"])[0].content)) == {
        "principal": "ada",
        "role": "viewer",
    }
    assert lh.tool_messages(admin["messages"])[0].content == "reset OSL"
    assert [(name, role) for name, _, _, role, _ in finished.calls] == [
        ("whoami", "viewer"),
        ("reset_station", "admin"),
    ]


def test_a_call_outside_the_runs_role_is_refused(
    dispatcher: toolwire.Dispatcher, ran: Ran, run: Run
) -> None:
    """A model that calls a tool its run's role was not offered is refused by toolwire
    (permission_denied), and the tool does not run."""
    fake = lh.model(lh.calls(("reset_station", {"station": "OSL"}, "call_1")), AIMessage("no"))
    middleware = toolwire_langchain.RoleMiddleware(dispatcher, role=session_role)
    agent = create_agent(fake, middleware=[middleware])
    out = run(agent, ask(), context={"role": "viewer"})
    (message,) = lh.tool_messages(out["messages"])
    assert lh.error_of(message)["error"] == "permission_denied"
    assert ran.calls == []


def test_a_role_function_that_gives_no_name_stops_the_run(dispatcher: toolwire.Dispatcher) -> None:
    """A role function that gives something other than a name is the host's mistake: the
    run stops with a message saying so, and nothing is dispatched."""
    fake = lh.model(lh.calls(("whoami", {}, "call_1")), AIMessage("done"))
    tools = toolwire_langchain.tools(dispatcher, role=lambda context: 42)  # type: ignore[arg-type,return-value]
    agent = create_agent(fake, tools)
    with pytest.raises(TypeError, match="must give a role name"):
        agent.invoke(ask(), context={})


def test_a_tool_with_a_role_function_needs_a_context(dispatcher: toolwire.Dispatcher) -> None:
    """A tool whose role comes from the run's context, invoked by hand (no context), raises
    rather than run under a guessed role."""
    (whoami,) = [
        t for t in toolwire_langchain.tools(dispatcher, role=session_role) if t.name == "whoami"
    ]
    with pytest.raises(TypeError, match="outside a ToolNode"):
        whoami.invoke({})


def test_a_tool_toolwire_defers_carries_langchains_defer_loading_extra() -> None:
    """A tool toolwire defers gets extras={"defer_loading": True}; the others none."""
    with toolwire.Dispatcher().add(deferred.pack) as dispatcher:
        extras = {t.name: t.extras for t in toolwire_langchain.tools(dispatcher)}
    assert extras == {"rarely": {"defer_loading": True}, "often": None}
