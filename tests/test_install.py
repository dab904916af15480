"""A real install: wheels of the core and packs, a fresh virtual environment, a new interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
pytestmark = pytest.mark.slow

NEW_PACK = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=69"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "tiny-pack"
        version = "0.0.1"
        dependencies = ["toolwire"]

        [project.entry-points.toolwire]
        tiny = "tiny_pack:pack"
    """,
    "tiny_pack/__init__.py": '''
        import toolwire

        pack = toolwire.Toolset("tiny")


        @pack.tool
        def shout(text: str) -> str:
            """Shout the text back."""
            return text.upper() + "!"
    ''',
}

CHECK = """
import json, toolwire
d = toolwire.Dispatcher.from_config()
weather = d.dispatch_sync("get_weather", '{"location": "Paris"}', call_id="w1")
shout = d.dispatch_sync("shout", {"text": "hi"}, call_id="s1")
print(json.dumps({
    "plugins": {p.name: [p.status, p.distribution, p.tools] for p in d.plugins()},
    "weather": [weather.success, weather.call_id, json.loads(weather.output)["location"]],
    "shout": [shout.success, shout.output],
    "file": toolwire.__file__,
}))
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with wheels of toolwire, the demo pack and a pack written in the test."""
    base = tmp_path_factory.mktemp("install")
    pack_dir = base / "tiny"
    for name, text in NEW_PACK.items():
        (pack_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (pack_dir / name).write_text(textwrap.dedent(text))
    wheels = base / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "-w",
        wheels,
        ROOT,
        ROOT / "plugins" / "toolwire-demo",
        pack_dir,
    )
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", *sorted(wheels.glob("*.whl")))
    return env_dir


def test_wheels_install_and_packs_are_discovered(installed: Path, tmp_path: Path) -> None:
    """From a separate interpreter, the demo pack and a never-seen pack load and dispatch."""
    # The last line: an unconfigured structlog prints the call log to stdout before it.
    stdout = run(installed / "bin" / "python", "-c", CHECK, cwd=tmp_path)
    out = json.loads(stdout.strip().splitlines()[-1])
    assert str(installed) in out["file"]  # the installed wheel, not the source tree
    assert out["plugins"]["demo"] == ["enabled", "toolwire-demo", 4]
    assert out["plugins"]["tiny"] == ["enabled", "tiny-pack", 1]
    assert out["weather"] == [True, "w1", "Paris"]
    assert out["shout"] == [True, "HI!"]


def test_installed_cli_lists_the_packs(installed: Path, tmp_path: Path) -> None:
    """The installed `toolwire plugins --json` lists both packs as enabled with their tools."""
    rows = json.loads(run(installed / "bin" / "toolwire", "plugins", "--json", cwd=tmp_path))
    by_name = {row["name"]: row for row in rows}
    assert by_name["demo"]["status"] == "enabled" and by_name["demo"]["tools"] == 4
    assert by_name["tiny"]["distribution"] == "tiny-pack"
    items = json.loads(
        run(
            installed / "bin" / "toolwire",
            "dispatch",
            ROOT / "examples" / "openai-responses.json",
            "--json",
            cwd=tmp_path,
        )
    )
    outputs = [i for i in items if i.get("type") == "function_call_output"]
    assert outputs and all('"error"' not in o["output"] for o in outputs)
