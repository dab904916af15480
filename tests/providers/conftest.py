"""Fixtures for the provider tests: recorded-shape responses, a tool, results, SDK validation.

Every shape is checked against the official SDK's own types, never against hand-written
expectations alone: ``sdk_validate`` validates with pydantic, refusing keys the type does not
declare and walking the lazily validated ``Iterable`` fields the SDKs' TypedDicts use.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import google.auth
import pytest
import toolwire
from toolwire import DispatchResult, ToolCall, ToolError

from ..sdk_checks import sdk_validate as check

FIXTURES = Path(__file__).parent / "fixtures"
#: Seconds an SDK client waits for the local server playing a model API.
TIMEOUT = 5.0


@pytest.fixture
def load_fixture() -> Callable[[str], dict[str, Any]]:
    """Read ``fixtures/<name>.json``."""

    def load(name: str) -> dict[str, Any]:
        with (FIXTURES / f"{name}.json").open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
        return data

    return load


@pytest.fixture
def sdk_validate() -> Callable[[Any, Any], Any]:
    """Validate a value against an SDK param type, unknown keys refused; raises ValidationError."""
    return check


@pytest.fixture
def weather_tool() -> toolwire.Tool:
    """The design document's example tool: one required and one defaulted parameter."""

    @toolwire.tool
    def get_weather(location: str, units: Literal["celsius", "fahrenheit"] = "celsius") -> dict:
        """Get the current weather for a location.

        Args:
            location: City name, e.g. "Paris".
            units: Temperature units.
        """
        return {"location": location, "units": units}

    return get_weather


@pytest.fixture
def make_result() -> Callable[[ToolCall, bool], DispatchResult]:
    """A result for a call as the core makes it: the tool's text, or the compact error object."""

    def make(call: ToolCall, success: bool) -> DispatchResult:
        if success:
            return DispatchResult(True, call.call_id, call.name, {"t": 21}, output='{"t":21}')
        error = ToolError("City not found", kind="execution_error")
        text = json.dumps(error.to_dict(), separators=(",", ":"))
        return DispatchResult(False, call.call_id, call.name, None, error, output=text)

    return make


# Environment that would send the clients elsewhere, or switch google-genai to Vertex AI.
_ENVIRONMENT = (
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_API_USE_MTLS_ENDPOINT",
    "GOOGLE_API_USE_CLIENT_CERTIFICATE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@dataclass(frozen=True)
class Request:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeModelAPI:
    """A model API on 127.0.0.1: answers each POST, whatever its path, with the next reply."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.replies: list[dict[str, Any]] = []
        lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = json.loads(raw) if raw else None
                with lock:
                    api.requests.append(Request(self.command, self.path, headers, body))

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._record()
                with lock:
                    reply = api.replies.pop(0) if api.replies else None
                if reply is None:
                    self._send(500, {"error": {"message": "no reply queued", "type": "test"}})
                else:
                    self._send(200, reply)

            def do_GET(self) -> None:
                self._record()
                self._send(404, {"error": {"message": "only POST is served", "type": "test"}})

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep the test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeModelAPI]:
    """The fake API, serving from a background thread; shut down after the test."""
    for name in _ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    fake = FakeModelAPI()
    thread = threading.Thread(
        target=fake.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def outside_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (and list) any look-up or connection off the loopback, and any Google credentials."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def local(address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # a Unix socket: not the network
        try:
            return ipaddress.ip_address(address[0]).is_loopback
        except ValueError:
            return False

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in (None, "localhost") and not local((name, 0)):
            attempts.append(name)
            raise socket.gaierror(socket.EAI_NONAME, f"test refused to look up {name!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(sock: socket.socket, address: Any) -> None:
        if not local(address):
            attempts.append(address)
            raise OSError(errno.ENETUNREACH, f"test refused a connection to {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if not local(address):
            attempts.append(address)
            return errno.ENETUNREACH
        return real_connect_ex(sock, address)

    def no_credentials(*args: Any, **kwargs: Any) -> Any:
        attempts.append("google.auth.default")
        raise google.auth.exceptions.DefaultCredentialsError("refused by the test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(google.auth, "default", no_credentials)
    return attempts
