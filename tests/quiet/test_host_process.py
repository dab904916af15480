"""A real host program, in a process of its own: its stdout is its own, whatever toolwire does.

The program dispatches through every public entry point (one call, a batch, a provider response
of each built-in API, the sync twins), has a tool fail with a secret in its message, a hook fail,
a plugin fail to load from a real entry point, and tools whose definitions have problems. It
prints one JSON line of its own. Whatever toolwire logs goes where the host's logging setup
says, or, with none, where Python sends an unconfigured library's warnings: stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolwire.testing import install_plugin, process_environment, run_process

SECRET = "hunter2-in-the-log"

HOST = textwrap.dedent(
    '''
    import asyncio
    import json
    import sys

    SETUP = sys.argv[1]
    if SETUP == "stdlib":
        import logging

        logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    elif SETUP == "structlog":
        import logging

        import structlog

        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(),
            ],
            wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        )

    import toolwire
    from toolwire.testing import build_response

    pack = toolwire.Toolset("host")


    @pack.tool
    def greet(name: str) -> str:
        """Greet someone."""
        return f"hello {name}"


    @pack.tool
    def login(user: str, password: str) -> str:
        """Log in."""
        raise RuntimeError(f"login failed with password {password}")


    @pack.tool
    def tag(labels: dict[str, str]) -> int:
        """Tag: an open mapping cannot be described in strict mode, a definition problem."""
        return len(labels)


    class Hooks:
        @toolwire.hookimpl
        def toolwire_after_call(self, call, result, context):
            if call.name == "greet" and call.arguments.get("name") == "boom":
                raise ValueError(f"after hook broke on {call.arguments!r}")


    dispatcher = toolwire.Dispatcher.from_config("toolwire.toml").add(pack)
    dispatcher.add(Hooks(), name="host-hooks")
    seen = []
    seen.append(dispatcher.dispatch_sync("greet", {"name": "Ada"}).success)
    seen.append(dispatcher.dispatch_sync("login", {"user": "ada", "password": SECRET}).success)
    seen.append(dispatcher.dispatch_sync("greet", {"name": "boom"}).success)
    batch = [
        toolwire.ToolCall("greet", '{"name": "Bo"}', "b1"),
        toolwire.ToolCall("nope", "{}", "b2"),
        toolwire.ToolCall("greet", "{not json", "b3"),
        toolwire.ToolCall("login", {"user": "bo", "password": SECRET}, "b4"),
    ]
    seen += [r.success for r in asyncio.run(dispatcher.dispatch_many(batch))]
    for provider in ("openai-responses", "openai-chat", "anthropic", "gemini"):
        dispatcher.tool_definitions(provider)
        response = build_response(
            provider, [("greet", {"name": "Cy"}), ("login", {"user": "cy", "password": SECRET})]
        )
        seen.append(len(dispatcher.process_response_sync(response)))
    plugins = {p.name: p.status for p in dispatcher.plugins()}
    dispatcher.close()
    print(json.dumps({"seen": seen, "broken": plugins.get("broken-pack")}))
    '''
).replace("SECRET", repr(SECRET))

CONFIG = """
[plugins]
autoload = false
enable = ["broken-pack"]

[logging]
level = "debug"
"""


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """The host program, its config, and a distribution whose entry point imports nothing real."""
    (tmp_path / "host.py").write_text(HOST, encoding="utf-8")
    (tmp_path / "toolwire.toml").write_text(CONFIG, encoding="utf-8")
    install_plugin(
        tmp_path / "site", "broken-pack", {"broken-pack": "broken_pack_that_is_not_there:plugin"}
    )
    return tmp_path


def run_host(host: Path, setup: str) -> subprocess.CompletedProcess[str]:
    env = process_environment(pythonpath=host / "site")
    env.pop("PYTHONWARNINGS", None)
    return run_process([sys.executable, host / "host.py", setup], cwd=host, env=env)


EXPECTED = {"seen": [True, False, False, True, False, False, False, 4, 3, 2, 2], "broken": "failed"}


@pytest.mark.slow
@pytest.mark.parametrize("setup", ["nothing", "stdlib", "structlog"])
def test_stdout_is_only_the_host_programs_own(host: Path, setup: str) -> None:
    """Whatever the host's logging setup, toolwire adds not one byte to the host's stdout."""
    done = run_host(host, setup)
    assert done.returncode == 0, done.stderr
    assert done.stdout == json.dumps(EXPECTED) + "\n"


@pytest.mark.slow
def test_with_no_logging_configured_warnings_and_tracebacks_go_to_stderr(host: Path) -> None:
    """Unconfigured, Python's last resort puts warnings and errors on stderr, secrets masked."""
    done = run_host(host, "nothing")
    for event in (
        "toolwire.plugin_failed_to_load",
        "toolwire.definition_problem",
        "toolwire.tool_failed",
        "toolwire.plugin_failed",
    ):
        assert event in done.stderr
    calls = [line for line in done.stderr.splitlines() if line.startswith("toolwire.call ")]
    # Failed calls log at warning; successes at info, below what Python keeps by default.
    assert calls and all("outcome='error'" in line for line in calls)
    assert "RuntimeError: login failed with password [redacted]" in done.stderr
    assert SECRET not in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("setup", ["stdlib", "structlog"])
def test_the_hosts_setup_decides_and_secrets_stay_masked(host: Path, setup: str) -> None:
    """Configured at debug, every call is logged where the host said; no secret in any line."""
    done = run_host(host, setup)
    assert done.returncode == 0, done.stderr
    calls = [line for line in done.stderr.splitlines() if "toolwire.call" in line]
    assert len(calls) == 3 + 4 + 4 * 2
    if setup == "structlog":
        events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
        failed = [e for e in events if e["event"] == "toolwire.tool_failed"]
        assert failed and all(
            "login failed with password [redacted]" in e["exception"] for e in failed
        )
    assert "[redacted]" in done.stderr
    assert SECRET not in done.stderr
