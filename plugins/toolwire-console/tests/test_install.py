"""A real install: the wheel in a fresh virtual environment beside toolwire from the checkout;
the entry point is found and ``toolwire console`` is a command there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

HERE = Path(__file__).parent.parent
ROOT = HERE.parent.parent
pytestmark = pytest.mark.slow

CHECK = """
import json
from importlib.metadata import entry_points
import toolwire_console
found = [ep.value for ep in entry_points(group="toolwire") if ep.name == "console"]
print(json.dumps({"found": found, "file": toolwire_console.__file__,
                  "version": toolwire_console.__version__}))
"""


def run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=900
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _core_sources(into: Path) -> Path:
    """A copy of what toolwire's own wheel is built from, in ``into``: built in the checkout,
    it would share the checkout's ``build/`` with the core's install test running alongside."""
    into.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, into / name)
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info", ".mypy_cache")
    shutil.copytree(ROOT / "core", into / "core", ignore=ignored)
    return into


def test_the_wheel_installs_and_brings_the_console_command(tmp_path: Path) -> None:
    """Installed from its wheel, the ``console`` entry point resolves to the plugin, its
    templates are in the wheel, and ``toolwire console --help`` works."""
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, HERE)
    (wheel,) = wheels.glob("toolwire_console-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run(python, "-m", "pip", "install", "-q", _core_sources(tmp_path / "toolwire"), wheel)
    out = json.loads(run(python, "-c", CHECK, cwd=tmp_path).strip().splitlines()[-1])
    assert out["found"] == ["toolwire_console:plugin"]
    assert str(env_dir) in out["file"]
    assert (Path(out["file"]).parent / "templates" / "approvals.html").is_file()
    assert "--port" in run(env_dir / "bin" / "toolwire", "console", "--help", cwd=tmp_path)
