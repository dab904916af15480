"""Every way to check toolwire: tests, lint, types, docs, newest, dist, bench.

``python3 -m nox`` runs the default sessions (tests, lint, types, docs, newest, dist).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "types", "docs", "newest", "dist"]
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
PLUGINS = sorted(str(p) for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
FIXTURE_PLUGINS = str(ROOT / "tests" / "fixture_plugins")
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "pytest-xdist>=3.6",
    # hypothesis-jsonschema 0.23.1 drives hypothesis's many().more(), gone in 6.170.10.
    "hypothesis>=6.100,<6.170.10",
    "hypothesis-jsonschema>=0.23.1",
    "openai>=1.60",
    "anthropic>=0.40",
    "google-genai>=1.0",
    "redis>=5.2",
    "opentelemetry-sdk>=1.27",
    # toolwire-mcp's tests: a real MCP server from PyPI, and the process table.
    "mcp-server-time>=2025.9",
    "psutil>=5.9",
    # toolwire-console's tests drive the system's Chromium (apt-get install chromium).
    "selenium>=4.20",
]
# mkdocstrings: the API reference under docs/reference/, generated from the public docstrings.
DOCS_DEPS = ["mkdocs>=1.6", "mkdocstrings[python]>=1.0"]
#: Seeds the agreement properties also run with (beside the run's own random one).
AGREEMENT_SEEDS = (2, 12, 29)
# The core's tests that need nothing but toolwire: no SDK, no installed plugin, no wheel build.
NEWEST_TESTS = [
    "tests",
    "--ignore=tests/providers",
    "--ignore=tests/cli",
    "--ignore=tests/hardening/test_properties.py",
    "--ignore=tests/test_discovery.py",
    "--ignore=tests/test_install.py",
    "--ignore=tests/test_docs.py",
    "--ignore=tests/approvals/test_turns.py",  # the SDKs' param types
    "--ignore=tests/schemas/test_agreement.py",  # hypothesis-jsonschema
    "--ignore=tests/schemas/test_strict_peers.py",  # hypothesis-jsonschema
    "--ignore=tests/schemas/test_corpus.py",
]


@nox.session
def tests(session: nox.Session) -> None:
    """Install the core and every first-party plugin as a user would (wheels, not editable), run pytest."""
    session.install(".", *PLUGINS, FIXTURE_PLUGINS, *TEST_DEPS)
    # Two workers (the machines have two cores), each test file on one of them: much of the
    # suite waits on real servers and processes, so the run takes about half as long.
    session.run("pytest", *(session.posargs or ["-n", "2", "--dist", "loadfile"]))
    if not session.posargs:
        # The validator/strict-schema agreement properties again under other seeds, so that a
        # counterexample cannot hide behind the one seed a run happens to draw.
        for seed in AGREEMENT_SEEDS:
            session.run(
                "pytest", "-q", "-p", "no:cacheprovider", f"--hypothesis-seed={seed}",
                "tests/schemas/test_agreement.py",
            )  # fmt: skip


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything."""
    session.install("ruff>=0.8")
    session.run("ruff", "check", ".")


@nox.session
def types(session: nox.Session) -> None:
    """mypy, strict, on the core package."""
    # opentelemetry-api: the optional import of toolwire.propagation, checked with its types.
    session.install(".", "mypy>=1.13", "pytest>=8", "opentelemetry-api>=1.27")
    session.run("mypy")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with warnings as errors."""
    session.install(".", *DOCS_DEPS)
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp() + "/site"))


@nox.session
def newest(session: nox.Session) -> None:
    """The core's tests with toolwire's own dependencies at their newest releases, warnings as errors.

    Only toolwire and the test runner are installed: no SDK or test-only package can hold a
    dependency back (google-genai, for one, caps tenacity), so a deprecation in a new release
    fails here first.
    """
    session.install("--upgrade", "--upgrade-strategy", "eager", ".")
    # The fixture plugins depend on toolwire alone: they hold nothing back.
    session.install("pytest>=8", "pytest-asyncio>=0.24", "hypothesis>=6.100", FIXTURE_PLUGINS)
    session.run("python", "-m", "pip", "list", "--format=freeze")  # the versions tested
    session.run("pytest", "-W", "error", *NEWEST_TESTS, *session.posargs)


@nox.session
def dist(session: nox.Session) -> None:
    """Build every distribution (the core and each plugin), wheel and sdist; ``twine check`` them."""
    session.install("build>=1.2", "twine>=6.1")
    out = Path(session.create_tmp()) / "dist"
    shutil.rmtree(out, ignore_errors=True)
    for source in [str(ROOT), *PLUGINS]:
        session.run("python", "-m", "build", "--outdir", str(out), source, silent=True)
    built = sorted(str(p) for p in out.iterdir())
    expected = 2 * (1 + len(PLUGINS))
    if len(built) != expected:
        session.error(f"expected {expected} wheels and sdists, built: {built}")
    session.run("twine", "check", "--strict", *built)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: figures as ratios to a floor measured in the same run."""
    # fastmcp: the third MCP server the MCP benchmark compares with; the fixture tools give
    # the executor benchmark functions a worker can import by name.
    session.install(".", *PLUGINS, FIXTURE_PLUGINS, "fastmcp>=2.12")
    session.run("python", "bench/run.py", *session.posargs)
