"""Helpers for testing tool packs and hosts: a dispatcher, model responses, a pack check, and
a plugin installed for other processes with the ``toolwire`` command run as an operator runs it.

Nothing here needs a provider SDK or a network: responses are built as the plain JSON each
API sends, and go through the same ``process_response`` a host uses.

Why one module of this length: it is the one public module plugin authors import their test
helpers from (``toolwire.testing``), as the API reference documents it; its helpers are small
and independent, and splitting them would only move the import.
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pydantic

from ._config import Config, config_from_dict
from ._dispatcher import Dispatcher
from ._errors import ConfigError
from ._tools import Tool, Toolset
from ._values import CallContext, DispatchResult, ToolCall
from .hookspecs import hookimpl

__all__ = [
    "REQUIRE_REDIS",
    "CallRecorder",
    "ModelStub",
    "RedisServer",
    "ToolsetReport",
    "build_response",
    "build_wheel",
    "check_toolset",
    "closing_all",
    "free_port",
    "fresh_venv",
    "install_plugin",
    "make_dispatcher",
    "process_environment",
    "registered_plugin",
    "registered_plugins",
    "run_process",
    "run_toolwire",
    "running_redis",
    "schema_keys",
    "sdk_validate",
]

CallSpec = ToolCall | tuple[str, Any] | tuple[str, Any, str]


def make_dispatcher(*objs: Any, config: Mapping[str, Any] | Config | None = None) -> Dispatcher:
    """A dispatcher with built-in plugins only (nothing installed is loaded), plus ``objs``.

    Args:
        *objs: Toolsets, tools or plugins to add.
        config: A config mapping (validated like a file) or ``Config``.
    """
    if isinstance(config, Mapping):
        config = config_from_dict(config)
    dispatcher = Dispatcher(config)
    for obj in objs:
        dispatcher.add(obj)
    return dispatcher


class CallRecorder:
    """A plugin that keeps every call the dispatcher finished, in order, as the
    ``toolwire_call_finished`` hook sees it: ``(call, result, context)`` in :attr:`finished`.

    Register it with the dispatcher (``make_dispatcher(pack, recorder)``) and read what observers
    saw; a subclass can add a view of its own over :attr:`finished`.
    """

    def __init__(self) -> None:
        self.finished: list[tuple[ToolCall, DispatchResult, CallContext]] = []

    @hookimpl
    def toolwire_call_finished(
        self, call: ToolCall, result: DispatchResult, context: CallContext
    ) -> None:
        self.finished.append((call, result, context))


def closing_all(build: Callable[..., Dispatcher]) -> Iterator[Callable[..., Dispatcher]]:
    """For a fixture: ``yield from closing_all(build)`` hands the test ``build``, and closes
    every dispatcher it made once the test is done."""
    made: list[Dispatcher] = []

    def keep(*args: Any, **kwargs: Any) -> Dispatcher:
        made.append(build(*args, **kwargs))
        return made[-1]

    try:
        yield keep
    finally:
        for dispatcher in made:
            dispatcher.close()


def registered_plugins(dispatcher: Dispatcher) -> set[str]:
    """The names registered with a dispatcher's own plugin manager now.

    Unlike ``dispatcher.plugins()`` (every plugin's row, failed and disabled ones included),
    this lists only what is registered, so a test can prove a failed plugin left nothing.
    """
    return dispatcher._host.registered()


def registered_plugin(dispatcher: Dispatcher, name: str) -> Any:
    """The object registered under ``name`` with a dispatcher (a plugin class's instance).

    Raises:
        KeyError: nothing is registered under that name.
    """
    plugin = dispatcher._host.pm.get_plugin(name)
    if plugin is None:
        raise KeyError(name)
    return plugin


def _calls(calls: Iterable[CallSpec]) -> list[ToolCall]:
    counter = itertools.count(1)
    out = []
    for spec in calls:
        if isinstance(spec, ToolCall):
            call = spec
        elif len(spec) == 3:
            call = ToolCall(spec[0], spec[1], spec[2])
        else:
            call = ToolCall(spec[0], spec[1])
        if not call.call_id:
            call = ToolCall(call.name, call.arguments, f"call_{next(counter)}")
        out.append(call)
    return out


def _json_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        return arguments
    return json.dumps({} if arguments is None else arguments)


def _json_object(arguments: Any) -> Any:
    if isinstance(arguments, str):
        return json.loads(arguments)
    return {} if arguments is None else arguments


def build_response(provider: str, calls: Iterable[CallSpec], *, text: str = "") -> dict[str, Any]:
    """A model response, as the provider's API sends it, that makes ``calls``.

    Arguments given as strings are sent as they are (for providers that carry JSON text),
    so a test can send exactly what a model would, malformed JSON included.

    Args:
        provider: ``openai-responses``, ``openai-chat``, ``anthropic`` or ``gemini``.
        calls: ``ToolCall`` objects or ``(name, arguments[, call_id])`` tuples.
        text: Optional assistant text before the calls.
    """
    made = _calls(calls)
    if provider == "openai-responses":
        output: list[dict[str, Any]] = []
        if text:
            output.append(
                {
                    "type": "message",
                    "id": "msg_1",
                    "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            )
        output += [
            {
                "type": "function_call",
                "id": f"fc_{i}",
                "call_id": c.call_id,
                "name": c.name,
                "arguments": _json_text(c.arguments),
                "status": "completed",
            }
            for i, c in enumerate(made, 1)
        ]
        return {
            "id": "resp_1",
            "object": "response",
            "created_at": 0,
            "model": "test",
            "status": "completed",
            "output": output,
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
        }
    if provider == "openai-chat":
        return {
            "id": "chatcmpl_1",
            "object": "chat.completion",
            "created": 0,
            "model": "test",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "tool_calls",
                    "message": {
                        "role": "assistant",
                        "content": text or None,
                        "tool_calls": [
                            {
                                "id": c.call_id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": _json_text(c.arguments)},
                            }
                            for c in made
                        ],
                    },
                }
            ],
        }
    if provider == "anthropic":
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [
            {
                "type": "tool_use",
                "id": c.call_id,
                "name": c.name,
                "input": _json_object(c.arguments),
            }
            for c in made
        ]
        return {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "test",
            "content": content,
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    if provider == "gemini":
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        parts += [
            {"functionCall": {"id": c.call_id, "name": c.name, "args": _json_object(c.arguments)}}
            for c in made
        ]
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ]
        }
    raise ConfigError(f"build_response does not know provider {provider!r}")


@dataclass
class ModelStub:
    """Plays the model: sends calls the way a provider would and collects what comes back.

    Args:
        dispatcher: The dispatcher under test.
        provider: The API whose wire format is used.
    """

    dispatcher: Dispatcher
    provider: str = "openai-responses"
    history: list[Any] = field(default_factory=list)

    def call(
        self,
        name: str,
        arguments: Any = None,
        call_id: str = "call_1",
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> DispatchResult:
        """Send one call as the model would (arguments may be a raw JSON string)."""
        return self.dispatcher.dispatch_sync(
            name, arguments, call_id=call_id, role=role, state=state
        )

    def respond(
        self,
        calls: Iterable[CallSpec],
        *,
        role: str | None = None,
        state: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Send a whole response with these calls; return the items to append (also kept)."""
        response = build_response(self.provider, calls)
        items = self.dispatcher.process_response_sync(
            response, self.provider, role=role, state=state
        )
        self.history.extend(items)
        return items


@dataclass
class ToolsetReport:
    """What ``check_toolset`` found: the same verdict ``toolwire check`` gives.

    Attributes:
        pack: The pack's name.
        problems: Mistakes, one line each: every one fails ``raise_for_problems``.
        notes: What a provider changes or drops, parameters without a description: worth
            knowing, never a failure unless asked for.
    """

    pack: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"  - problem: {p}" for p in self.problems]
        lines += [f"  - note: {n}" for n in self.notes]
        if not lines:
            return f"{self.pack}: no problems, no notes"
        counts = f"{len(self.problems)} problem(s), {len(self.notes)} note(s)"
        return f"{self.pack}: {counts}\n" + "\n".join(lines)

    def raise_for_problems(
        self, *, fail_on_notes: bool = False, accept: Sequence[str] = ()
    ) -> None:
        """Fail (``AssertionError``, readable in pytest) on any problem.

        Args:
            fail_on_notes: Fail on notes too, except those ``accept`` names.
            accept: Notes a pack accepts: a note containing one of these strings does not
                fail (``accept=["parameter 'raw' has no description"]``).
        """
        refused = [n for n in self.notes if not any(a in n for a in accept)]
        if self.problems or (fail_on_notes and refused):
            raise AssertionError(str(self))


def check_toolset(pack: Toolset | Sequence[Tool]) -> ToolsetReport:
    """Check a pack the way ``toolwire check`` and every built-in provider see it.

    The checker is ``toolwire check``'s own: problems (a name taken twice or not valid for
    every provider, a schema the metaschema or OpenAI strict mode refuses, a provider that
    cannot describe a tool, a tool without a description) fail both; notes (what a provider
    changes or drops, a parameter without a description) fail neither.
    """
    from ._check import check_tools

    report = ToolsetReport(pack.name if isinstance(pack, Toolset) else "tools")
    with Dispatcher(config_from_dict({"plugins": {"disable": ["roles", "calllog"]}})) as builtins:
        providers = builtins.providers()
    problems, notes = check_tools([(tool, None) for tool in pack], providers)
    report.problems = [str(p) for p in problems]
    report.notes = [str(n) for n in notes]
    return report


#: Set to ``1`` where Redis must be tested (CI): a missing ``redis-server`` then fails the
#: test instead of skipping it.
REQUIRE_REDIS: Final = "TOOLWIRE_TEST_REQUIRE_REDIS"


def _exhaust(value: Any) -> Any:
    """Consume pydantic's lazy iterators (``Iterable[...]`` fields) so their items are checked."""
    if isinstance(value, dict):
        return {k: _exhaust(v) for k, v in value.items()}
    if isinstance(value, str | bytes | pydantic.BaseModel):
        return value
    if isinstance(value, collections.abc.Iterable):
        return [_exhaust(v) for v in value]
    return value


@functools.cache
def _adapter(type_: Any) -> pydantic.TypeAdapter[Any]:
    # Wrapped in a list: pydantic takes a config for a list, not for a TypedDict itself, and
    # the list's config reaches the TypedDicts inside.
    return pydantic.TypeAdapter(list[type_], config=pydantic.ConfigDict(extra="forbid"))


def sdk_validate(type_: Any, value: Any) -> Any:
    """Validate ``value`` against an SDK's param type (a ``TypedDict`` such as
    ``openai.types.responses.ResponseInputItemParam``), unknown keys refused, every item of an
    iterable field checked; the validated value. Raises ``pydantic.ValidationError``."""
    return _exhaust(_adapter(type_).validate_python([value]))[0]


def schema_keys(schema: Any) -> set[str]:
    """Every property key and ``required`` name anywhere in a JSON Schema document (the
    values of ``enum``, ``const`` and ``default`` aside): what a provider will see as names."""
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                found.update(node["properties"])
            if isinstance(node.get("required"), list):
                found.update(k for k in node["required"] if isinstance(k, str))
            stack.extend(v for k, v in node.items() if k not in ("enum", "const", "default"))
        elif isinstance(node, list):
            stack.extend(node)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RedisServer:
    """A ``redis-server`` of the test's own on 127.0.0.1 (from ``running_redis``).

    Attributes:
        process: The server process (a test may stop, freeze or kill it).
        port: Its port.
        directory: Its working directory (nothing is saved there: persistence is off).
    """

    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT``."""
        return f"redis://127.0.0.1:{self.port}"

    def command(self, *words: str) -> str:
        """Send one command (inline protocol) and return the first line of the answer."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
            conn.sendall(" ".join(words).encode() + b"\r\n")
            return conn.makefile("rb").readline().decode().strip()

    def ping(self) -> bool:
        """Whether the server answers ``PING``."""
        return self.command("PING") == "+PONG"

    def count(self, pattern: str) -> int:
        """How many keys match ``pattern``."""
        return int(self.command("KEYS", pattern)[1:])

    def stop(self) -> None:
        """Kill the server and wait for it to end."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@contextlib.contextmanager
def running_redis(directory: str | os.PathLike[str] | None = None) -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free loopback port, ready when this yields, killed after.

    Args:
        directory: Its working directory (a temporary one, removed after, when omitted).

    Raises:
        pytest.skip.Exception: no ``redis-server`` on the PATH; the message names the package
            to install. With ``TOOLWIRE_TEST_REQUIRE_REDIS=1`` the test fails instead.
        RuntimeError: the server did not answer ``PING`` within 10 seconds.
    """
    import pytest

    binary = shutil.which("redis-server")
    if binary is None:
        why = "no redis-server on PATH: install the redis-server package (apt-get install redis-server)"
        if os.environ.get(REQUIRE_REDIS, "").strip() not in ("", "0", "false"):
            pytest.fail(f"{why}; {REQUIRE_REDIS} says Redis must be tested")
        pytest.skip(why)
    with contextlib.ExitStack() as stack:
        folder = (
            Path(directory)
            if directory is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="toolwire-redis-")))
        )
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server = RedisServer(process, port, folder)
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError):
                    if server.ping():
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on port {port} did not answer PING")
                time.sleep(0.05)
            yield server
        finally:
            server.stop()


def install_plugin(
    site: str | os.PathLike[str],
    distribution: str,
    entry_points: Mapping[str, str],
    modules: Mapping[str, str] | None = None,
    *,
    version: str = "1.0",
) -> Path:
    """Install a plugin distribution into the folder ``site`` as pip would for other processes:
    its metadata, its ``toolwire`` entry points and its modules' source.

    A process with ``site`` on its ``PYTHONPATH`` (``process_environment(pythonpath=site)``) finds
    the plugin exactly as it finds an installed one.

    Args:
        site: The folder (made when missing); several distributions may share one.
        distribution: The distribution's name (``my-plugin``).
        entry_points: The ``toolwire`` group: entry point name to ``module:attribute``.
        modules: Module name to source text, written as ``site/NAME.py``.
        version: The distribution's version.

    Returns:
        ``site`` as a ``Path``.
    """
    folder = Path(site)
    dist_info = folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n", encoding="utf-8"
    )
    lines = [f"{name} = {target}" for name, target in entry_points.items()]
    (dist_info / "entry_points.txt").write_text(
        "[toolwire]\n" + "".join(f"{line}\n" for line in lines), encoding="utf-8"
    )
    for name, source in (modules or {}).items():
        (folder / f"{name}.py").write_text(source, encoding="utf-8")
    return folder


def process_environment(
    *,
    drop: Sequence[str] = ("TOOLWIRE_",),
    pythonpath: str | os.PathLike[str] | None = None,
    **extra: str,
) -> dict[str, str]:
    """This process's environment for another one, without what would change how it starts.

    Args:
        drop: Prefixes of the variables left out (``TOOLWIRE_`` ones by default, so a
            variable set where the tests run does not reach the process under test).
        pythonpath: A folder for ``PYTHONPATH`` (a site from ``install_plugin``), put in front
            of what is left of it.
        **extra: Variables to set.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop))}
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def run_process(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    umask: int = -1,
) -> subprocess.CompletedProcess[str]:
    """Run a command to its end, its stdout and stderr kept as text.

    A failing exit status is returned, not raised: the test asserts on ``returncode``.

    Args:
        argv: The command and its arguments.
        cwd: Where it runs.
        env: Its whole environment (``process_environment()`` when omitted).
        stdin: Text for its standard input (none when omitted).
        timeout: Seconds before it is killed and ``subprocess.TimeoutExpired`` raised.
        umask: The process's umask (the caller's when ``-1``).
    """
    return subprocess.run(
        [str(a) for a in argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(process_environment() if env is None else env),
        timeout=timeout,
        umask=umask,
        check=False,
    )


def run_toolwire(*args: str | os.PathLike[str], **options: Any) -> subprocess.CompletedProcess[str]:
    """Run the ``toolwire`` command installed beside this interpreter, as an operator would.

    Args:
        *args: Its arguments.
        **options: As for ``run_process`` (``cwd``, ``env``, ``stdin``, ``timeout``, ``umask``).
    """
    script = Path(sys.executable).parent / ("toolwire.exe" if os.name == "nt" else "toolwire")
    return run_process([script, *args], **options)


def build_wheel(
    project: str | os.PathLike[str], into: str | os.PathLike[str], *, timeout: float = 900
) -> Path:
    """Build a project's wheel (without its dependencies) as pip builds it for an install.

    Args:
        project: The folder holding its ``pyproject.toml``.
        into: The folder the wheel is written to (made when missing; it should hold no other).
        timeout: Seconds before the build is stopped.

    Returns:
        The wheel's path.

    Raises:
        AssertionError: the build failed (its output in the message) or made no single wheel.
    """
    folder = Path(into)
    argv: list[str | os.PathLike[str]] = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps"]
    argv += ["-w", folder, project]
    _ran(run_process(argv, timeout=timeout), argv)
    (wheel,) = folder.glob("*.whl")
    return wheel


def fresh_venv(
    folder: str | os.PathLike[str],
    *requirements: str | os.PathLike[str],
    timeout: float = 900,
) -> Path:
    """A new virtual environment with ``requirements`` (wheels, project folders, names)
    installed by its own pip, as a user of a plugin would install it.

    Returns:
        The environment's ``python``.

    Raises:
        AssertionError: the install failed (pip's output in the message).
    """
    import venv

    venv.create(folder, with_pip=True)
    python = Path(folder) / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    argv: list[str | os.PathLike[str]] = [python, "-m", "pip", "install", "-q", *requirements]
    _ran(run_process(argv, timeout=timeout), argv)
    return python


def _ran(done: subprocess.CompletedProcess[str], argv: Sequence[object]) -> None:
    assert done.returncode == 0, f"{[str(a) for a in argv]}\n{done.stdout}\n{done.stderr}"
