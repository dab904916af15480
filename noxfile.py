"""Every way to check toolwire: tests, lint, types, docs, bench.

``python3 -m nox`` runs the default sessions (tests, lint, types, docs).
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "types", "docs"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(str(p) for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
FIXTURE_PLUGINS = str(ROOT / "tests" / "fixture_plugins")
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.24",
    # hypothesis-jsonschema 0.23.1 drives hypothesis's many().more(), gone in 6.170.10.
    "hypothesis>=6.100,<6.170.10",
    "hypothesis-jsonschema>=0.23.1",
    "openai>=1.60",
    "anthropic>=0.40",
    "google-genai>=1.0",
    "redis>=5.2",
]
DOCS_DEPS = ["mkdocs>=1.6"]


@nox.session
def tests(session: nox.Session) -> None:
    """Install the core and every first-party plugin as a user would (wheels, not editable), run pytest."""
    session.install(".", *PLUGINS, FIXTURE_PLUGINS, *TEST_DEPS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")


@nox.session
def types(session: nox.Session) -> None:
    """mypy, strict, on the core package."""
    session.install(".", "mypy>=1.13", "pytest>=8")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install(".", *DOCS_DEPS)
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp() + "/site"))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: figures as ratios to a floor measured in the same run."""
    session.install(".", *PLUGINS)
    session.run("python", "bench/run.py", *session.posargs)
