"""A real install: the wheel in a fresh virtual environment, toolwire from the checkout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolwire.testing import build_wheel, fresh_venv, run_process

PLUGIN = Path(__file__).resolve().parents[1]
ROOT = PLUGIN.parents[1]
pytestmark = pytest.mark.slow

LOOP = """
import json
from importlib.metadata import distribution

import toolwire
import toolwire_langchain
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage


class Model(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


pack = toolwire.Toolset("tiny")


@pack.tool
def shout(text: str) -> str:
    \"\"\"Shout the text back.\"\"\"
    return text.upper() + "!"


dispatcher = toolwire.Dispatcher().add(pack)
call = {"name": "shout", "args": {"text": "hi"}, "id": "call_1", "type": "tool_call"}
model = Model(messages=iter([AIMessage("", tool_calls=[call]), AIMessage("done")]))
agent = create_agent(model, toolwire_langchain.tools(dispatcher))
out = agent.invoke({"messages": [HumanMessage("shout hi")]})
dist = distribution("toolwire-langchain")
print(json.dumps({
    "file": toolwire_langchain.__file__,
    "version": toolwire_langchain.__version__,
    "answers": [[m.type, m.content] for m in out["messages"]],
    "entry_points": [ep.name for ep in dist.entry_points if ep.group == "toolwire"],
    "typed": any(str(f).endswith("toolwire_langchain/py.typed") for f in dist.files or []),
}))
"""


def test_the_wheel_installs_and_runs_an_agent_loop(tmp_path: Path) -> None:
    """The wheel installs with toolwire into a fresh environment, brings LangChain, and a
    ``create_agent`` loop with LangChain's fake chat model dispatches through toolwire."""
    wheel = build_wheel(PLUGIN, tmp_path / "wheels")
    env = tmp_path / "venv"
    python = fresh_venv(env, ROOT, wheel)
    assert wheel.name.startswith("toolwire_langchain-")
    ran = run_process([python, "-c", LOOP], cwd=tmp_path, timeout=900)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout.strip().splitlines()[-1])
    assert out["file"].startswith(str(env))  # the installed wheel, not the checkout
    assert out["version"] == "0.1.0"
    assert out["answers"] == [
        ["human", "shout hi"],
        ["ai", ""],
        ["tool", "HI!"],
        ["ai", "done"],
    ]
    assert out["entry_points"] == [] and out["typed"] is True
    # Not a plugin of toolwire's: nothing for `toolwire plugins` to load or report failed.
    listed = run_process([env / "bin" / "toolwire", "plugins", "--json"], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert all(row["status"] != "failed" for row in rows)
