"""A real install: the wheel in a fresh virtual environment, toolwire from its checkout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from toolwire.testing import build_wheel, fresh_venv, run_process

DIST = Path(__file__).parent.parent
ROOT = DIST.parent.parent
pytestmark = pytest.mark.slow

LOOP = """
import asyncio, json
import toolwire, toolwire_pydantic_ai
from pydantic_ai import Agent
from pydantic_ai.models.test import TestModel

pack = toolwire.Toolset("weather")

@pack.tool
def get_weather(location: str) -> dict:
    \"\"\"Get the current weather for a location.\"\"\"
    return {"location": location, "temperature": 21}

with toolwire.Dispatcher().add(pack) as dispatcher:
    agent = Agent(TestModel(), toolsets=[toolwire_pydantic_ai.ToolwireToolset(dispatcher)])
    result = asyncio.run(agent.run("What is the weather?"))
    rows = [[p.name, p.status] for p in toolwire.Dispatcher.from_config().plugins()]
print(json.dumps({
    "output": json.loads(result.output),
    "file": toolwire_pydantic_ai.__file__,
    "version": toolwire_pydantic_ai.__version__,
    "failed": [row for row in rows if row[1] != "enabled"],
}))
"""


def test_the_wheel_installs_and_runs_an_agent_loop(tmp_path: Path) -> None:
    """Built as a wheel and installed with toolwire into a new venv, the adapter imports, runs a
    TestModel agent loop through toolwire, and adds no failed plugin to toolwire's list."""
    wheel = build_wheel(DIST, tmp_path / "wheels")
    assert wheel.name.startswith("toolwire_pydantic_ai-")
    env = tmp_path / "venv"
    loop = run_process([fresh_venv(env, ROOT, wheel), "-c", LOOP], cwd=tmp_path, timeout=900)
    assert loop.returncode == 0, loop.stderr
    out = json.loads(loop.stdout.strip().splitlines()[-1])
    assert out["output"] == {"get_weather": '{"location":"a","temperature":21}'}
    assert str(env) in out["file"]  # the installed wheel, not the checkout
    assert out["version"] == "0.1.0"
    assert out["failed"] == []
