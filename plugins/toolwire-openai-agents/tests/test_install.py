"""A real install: the wheel in a fresh virtual environment with toolwire from the checkout, and
an agent run there with the SDK's scripted model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolwire.testing import build_wheel, fresh_venv, run_process

HERE = Path(__file__).parent.parent
ROOT = HERE.parent.parent
pytestmark = pytest.mark.slow

RUN = """
import asyncio, json
from importlib.metadata import distribution, entry_points

import toolwire, toolwire_openai_agents
from agents import Agent, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

set_tracing_disabled(True)
pack = toolwire.Toolset("tiny")


@pack.tool
def shout(text: str) -> str:
    '''Shout the text back.'''
    return text.upper() + "!"


dispatcher = toolwire.Dispatcher().add(pack)
model = ScriptedModel(
    [[function_call("shout", {"text": "hi"}, call_id="s1")], [assistant_message("done")]]
)
agent = Agent(name="Assistant", model=model, tools=toolwire_openai_agents.function_tools(dispatcher))
result = asyncio.run(Runner.run(agent, "shout hi"))
given = [i for i in model.calls[-1].input if isinstance(i, dict) and i.get("type") == "function_call_output"]
print(json.dumps({
    "final": result.final_output,
    "output": given[0]["output"],
    "file": toolwire_openai_agents.__file__,
    "version": toolwire_openai_agents.__version__,
    "requires": distribution("toolwire-openai-agents").requires,
    "toolwire_entry_points": sorted(
        ep.name for ep in entry_points(group="toolwire")
        if ep.dist is not None and ep.dist.name == "toolwire-openai-agents"
    ),
}))
"""


def test_the_wheel_installs_and_runs_an_agent(tmp_path: Path) -> None:
    """Installed from its wheel beside toolwire, the adapter runs an agent's tool call."""
    env_dir = tmp_path / "venv"
    wheel = build_wheel(HERE, tmp_path / "wheels")
    python = fresh_venv(env_dir, ROOT, wheel)
    assert wheel.name.startswith("toolwire_openai_agents-")

    # The last line: toolwire's call log may come before it.
    done = run_process([python, "-c", RUN], cwd=tmp_path, timeout=900)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])

    assert str(env_dir) in out["file"]  # the installed wheel, not the source tree
    assert (out["final"], out["output"]) == ("done", "HI!")
    assert out["version"] == "0.1.0"
    assert any(r.startswith("openai-agents") for r in out["requires"])
    assert out["toolwire_entry_points"] == []  # it gives toolwire nothing to load
