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
        roles = "tiny_pack:clash"
    """,
    "tiny_pack/__init__.py": '''
        import toolwire

        pack = toolwire.Toolset("tiny")


        @pack.tool
        def shout(text: str) -> str:
            """Shout the text back."""
            return text.upper() + "!"


        # A pack published under a built-in plugin's name: it cannot be loaded.
        clash = toolwire.Toolset("clash")


        @clash.tool
        def clash_tool() -> str:
            """Never reachable."""
            return "clash"
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


NAME_TAKEN = """
import json, logging, toolwire
records = []
logging.basicConfig(level=logging.WARNING)
logging.getLogger().addHandler(type("H", (logging.Handler,), {"emit": lambda s, r: records.append(r.getMessage())})())
try:
    toolwire.Dispatcher.from_config(toolwire.load_config("strict.toml"))
except toolwire.PluginError as exc:
    strict = str(exc)
d = toolwire.Dispatcher.from_config(toolwire.load_config("loose.toml"))
roles = next(p for p in d.plugins() if p.name == "roles")
print(json.dumps({
    "strict": strict,
    "roles": [roles.builtin, roles.distribution],
    "tools": [t.name for t in d.tools(all_roles=True)],
    "warned": [m for m in records if "plugin_name_taken" in m],
}))
"""


def test_an_installed_plugin_named_like_a_built_in_is_reported(
    installed: Path, tmp_path: Path
) -> None:
    """An entry point named like a built-in plugin is never loaded in its place: the start
    stops under strict, and a warning names it otherwise; the built-in keeps its row."""
    (tmp_path / "strict.toml").write_text("[plugins]\nstrict = true\n")
    (tmp_path / "loose.toml").write_text("[plugins]\n")
    out = json.loads(
        run(installed / "bin" / "python", "-c", NAME_TAKEN, cwd=tmp_path).strip().splitlines()[-1]
    )
    assert "'roles' (tiny-pack 0.0.1) is not loaded: a built-in plugin" in out["strict"]
    assert out["roles"] == [True, "toolwire"]
    assert "clash_tool" not in out["tools"] and "shout" in out["tools"]
    assert out["warned"], "a warning names the plugin that was not loaded"
