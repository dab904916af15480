"""MCP over HTTP facing strangers: Host and Origin whatever the bind, the token's audience,
sessions bound to their caller, slow and idle connections cut, refusals summarised.

Everything runs for real on 127.0.0.1: ``toolwire mcp serve`` as an operator starts it (or
``asgi_app`` under uvicorn), driven by the official SDK's streamable HTTP client, httpx and
raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_helpers import SERVERS, ServedHttp, serving, wait_until
from toolwire.testing import free_port

TOOLWIRE = [sys.executable, "-m", "toolwire.cli"]
SERVE = ["mcp", "serve", "--transport", "http", "--port", "0"]
ADMIN, USER = "adm-6f1d2c9e-token", "usr-0b7a44e1-token"
TOKENS = {"TW_SEC_ADMIN": ADMIN, "TW_SEC_USER": USER}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
ACCEPT = {"Accept": "application/json, text/event-stream"}


@contextlib.contextmanager
def toolwire_serve(
    tmp_path: Path, serve: str = "", *, files: int | None = None, log_level: str = "warning"
) -> Iterator[ServedHttp]:
    """``toolwire mcp serve --transport http --port 0`` with the demo pack, an admin and a user
    token, and ``serve`` added to ``[plugins.mcp.serve]``; at most ``files`` open files."""
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n'
        f"[plugins.mcp.serve]\n{serve}\n"
        '[plugins.mcp.serve.tokens]\nadmin = "TW_SEC_ADMIN"\nuser = "TW_SEC_USER"\n'
    )

    def limit_files() -> None:
        if files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

    process = subprocess.Popen(
        [*TOOLWIRE, "--log-level", log_level, *SERVE, "--config", str(config)],
        env={**os.environ, **TOKENS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limit_files,
    )
    served = None
    try:
        served = ServedHttp(process)
        yield served
    finally:
        if served is not None:
            served.stop()
        else:
            process.kill()
            process.wait(30)


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str, mode: str = "legacy") -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30.0)
    )
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        yield client


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@pytest.mark.slow
async def test_a_valid_client_is_served_while_a_thousand_slow_clients_hold_on(
    tmp_path: Path,
) -> None:
    """With 1,000 slow clients trickling headers for 30 s at a server limited to 1,024 open
    files, a client with a valid token still completes tools/call (p99 under 1 s), and the
    server's log stays under 100 lines."""
    with toolwire_serve(tmp_path, files=1024) as served:
        attack = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SERVERS / "slow_clients.py"),
            "127.0.0.1",
            str(served.port),
            "1000",
            "30",
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.sleep(5)  # the slow clients hold every connection they can get
            latencies: list[float] = []
            async with mcp_client(served.url, USER) as client:
                for i in range(100):
                    started = time.perf_counter()
                    result = await client.call_tool("get_weather", {"location": f"City {i}"})
                    latencies.append(time.perf_counter() - started)
                    assert not result.is_error
                    await asyncio.sleep(0.1)
            assert attack.returncode is None, "every call is made while the attack goes on"
            out, _ = await attack.communicate()
        finally:
            if attack.returncode is None:
                attack.kill()
                await attack.wait()
        stats = json.loads(out)
        assert served.process.poll() is None, "the server died"
    print(
        stats,
        f"p99={_p99(latencies):.3f}s",
        f"median={sorted(latencies)[len(latencies) // 2]:.3f}s",
        f"log lines={len(served.lines)}",
    )
    assert stats["connected"] >= 1000 and stats["cut"] > 0
    assert _p99(latencies) < 1.0, sorted(latencies)[-5:]
    assert len(served.lines) < 100, "".join(served.lines[:20])


# -- Host and Origin, whatever the bind ---------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A dispatcher with the demo pack and an admin and a user token in the environment."""
    import toolwire

    for variable, token in TOKENS.items():
        monkeypatch.setenv(variable, token)
    config = tmp_path / "demo.toml"
    config.write_text('[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n')
    dispatcher = toolwire.Dispatcher.from_config(config)
    yield dispatcher
    dispatcher.close()


def _settings(**values: Any) -> Any:
    from toolwire_mcp._settings import ServeSettings

    return ServeSettings(tokens={"admin": "TW_SEC_ADMIN", "user": "TW_SEC_USER"}, **values)


async def _post(
    url: str, body: Any = INITIALIZE, token: str | None = ADMIN, **headers: str
) -> httpx2.Response:
    sent = {**ACCEPT, **headers}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(timeout=30.0) as http:
        return await http.post(url, json=body, headers=sent)


BINDS = ["0.0.0.0", "::", "192.0.2.10", "127.0.0.1"]


@contextlib.contextmanager
def _serving_bound(demo: Any, bind: str, **settings: Any) -> Iterator[str]:
    """The demo served with these settings as an app told it is bound on ``bind``; its URL."""
    import toolwire_mcp

    with serving(toolwire_mcp.asgi_app(demo, settings=_settings(**settings), host=bind)) as base:
        yield base


@pytest.mark.parametrize("bind", BINDS)
async def test_a_foreign_origin_is_refused_whatever_the_bind(demo: Any, bind: str) -> None:
    """Served on any address, a request whose Origin is not listed gets 403 (even with a valid
    token, and before any token is asked for); no Origin or a listed one is served."""
    origins = ("https://app.example", "http://localhost:*")
    with _serving_bound(demo, bind, allowed_origins=origins) as base:
        url = f"{base}/mcp"
        for origin in (
            "https://evil.example",
            "null",
            "https://app.example.evil",
            "http://localhost",
        ):
            for token in (ADMIN, None):
                answer = await _post(url, token=token, Origin=origin)
                assert answer.status_code == 403, (origin, token)
                assert answer.headers["connection"] == "close"
        for origin in (None, "https://app.example", "https://APP.example", "http://localhost:5173"):
            extra = {"Origin": origin} if origin else {}
            answer = await _post(url, **extra)
            assert answer.status_code == 200, origin
            assert answer.headers["mcp-session-id"]


@pytest.mark.parametrize("bind", BINDS)
async def test_a_foreign_host_is_refused_whatever_the_bind(demo: Any, bind: str) -> None:
    """Served on any address, a Host that is neither a loopback name, the address served on,
    nor listed gets 421 (DNS rebinding); the listed ones are served, a port only as listed."""
    hosts = ("tools.example", "api.example:8443")
    with _serving_bound(demo, bind, allowed_hosts=hosts) as base:
        url = f"{base}/mcp"
        port = base.rsplit(":", 1)[1]
        refused = ["evil.example", f"evil.example:{port}", "api.example:9000", "api.example",
                   "tools.example.evil", "localhost.evil.example", "127.0.0.1.nip.io"]  # fmt: skip
        served = [f"127.0.0.1:{port}", f"localhost:{port}", "tools.example", "tools.example:443",
                  "api.example:8443", "TOOLS.example"]  # fmt: skip
        if bind == "192.0.2.10":
            served.append("192.0.2.10:8000")
        else:
            refused.append("192.0.2.10:8000")
        for host in refused:
            answer = await _post(url, Host=host)
            assert answer.status_code == 421, host
        for host in served:
            assert (await _post(url, Host=host)).status_code == 200, host


async def test_a_security_header_sent_twice_is_refused(demo: Any) -> None:
    """Two Host, Origin, Authorization or Mcp-Session-Id headers get 400: the gate never
    guesses which one the SDK would read."""
    import toolwire_mcp

    with serving(toolwire_mcp.asgi_app(demo, settings=_settings())) as base:
        port = int(base.rsplit(":", 1)[1])
        body = json.dumps(INITIALIZE).encode()
        doubled = [
            (b"Host: 127.0.0.1\r\nHost: evil.example\r\n", b""),
            (b"Host: 127.0.0.1\r\n", b"Origin: https://evil.example\r\nOrigin: null\r\n"),
            (b"Host: 127.0.0.1\r\n", b"Authorization: Bearer x\r\n"),
        ]
        for host, extra in doubled:
            request = (
                b"POST /mcp HTTP/1.1\r\n" + host + extra
                + f"Authorization: Bearer {ADMIN}\r\n".encode()
                + b"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
            )  # fmt: skip
            status = await asyncio.to_thread(_raw_status, port, request)
            assert status in (400, 421), (host, extra, status)


def _raw_status(port: int, request: bytes) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        head = sock.recv(65536)
    return int(head.split(b" ", 2)[1])


# -- the token's audience ------------------------------------------------------------------------


@contextlib.contextmanager
def authority(tokens: dict[str, dict[str, Any]]) -> Iterator[str]:
    """An OAuth authorization server's introspection endpoint (RFC 7662); its base URL."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def introspect(request: Request) -> JSONResponse:
        form = await request.form()
        return JSONResponse(tokens.get(str(form.get("token")), {"active": False}))

    with serving(Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])) as base:
        yield base


@pytest.mark.parametrize("require_audience", [True, False])
async def test_an_oauth_token_must_be_issued_for_this_server(
    demo: Any, require_audience: bool
) -> None:
    """A token whose audience names this server is served (as a URL: case and a trailing slash
    aside); one for another resource is 401; one with no audience is 401 unless
    require_audience is false."""
    import toolwire_mcp
    from toolwire_mcp._settings import OAuthSettings, ServeSettings

    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    claims = {"active": True, "scope": "tools.use", "sub": "ada", "client_id": "c1"}
    tokens = {
        "for-us": {**claims, "aud": [f"HTTP://127.0.0.1:{port}/mcp/", "https://other.example"]},
        "for-us-alone": {**claims, "aud": resource},
        "for-another": {**claims, "aud": "https://other.example/mcp"},
        "for-nobody": claims,
        "for-none-listed": {**claims, "aud": []},
    }
    with authority(tokens) as issuer:
        oauth = OAuthSettings(
            issuer=issuer,
            resource=resource,
            introspection_endpoint=f"{issuer}/introspect",
            scopes={"tools.use": "user"},
            require_audience=require_audience,
        )
        app = toolwire_mcp.asgi_app(demo, settings=ServeSettings(oauth=oauth))
        with serving(app, port):
            for token in ("for-us", "for-us-alone"):
                assert (await _post(resource, token=token)).status_code == 200, token
            answer = await _post(resource, token="for-another")
            assert answer.status_code == 401
            assert 'error="invalid_token"' in answer.headers["www-authenticate"]
            for token in ("for-nobody", "for-none-listed"):
                status = (await _post(resource, token=token)).status_code
                assert status == (401 if require_audience else 200), token


@pytest.mark.parametrize(
    "exp",
    [1e400, 10**400, "4102444800", "1000", 1000, True, float("nan")],
    ids=["overflow", "huge-int", "string-future", "string-past", "past", "bool", "nan"],
)
async def test_an_expiry_that_is_no_future_number_refuses_the_token(demo: Any, exp: Any) -> None:
    """An introspection answer whose exp is no finite number in the future (too big, a
    string, a bool, past) is a 401, never a 500 or a token taken to never expire."""
    import toolwire_mcp
    from toolwire_mcp._settings import OAuthSettings, ServeSettings

    port = free_port()
    resource = f"http://127.0.0.1:{port}/mcp"
    claims = {"active": True, "scope": "tools.use", "sub": "ada", "aud": resource}
    tokens = {"odd": {**claims, "exp": exp}, "good": {**claims, "exp": time.time() + 600}}
    with authority(tokens) as issuer:
        oauth = OAuthSettings(
            issuer=issuer, resource=resource, introspection_endpoint=f"{issuer}/introspect",
            scopes={"tools.use": "user"},
        )  # fmt: skip
        app = toolwire_mcp.asgi_app(demo, settings=ServeSettings(oauth=oauth))
        with serving(app, port):
            assert (await _post(resource, token="good")).status_code == 200
            assert (await _post(resource, token="odd")).status_code == 401


async def test_a_python_token_verifier_needs_this_server_s_resource(demo: Any) -> None:
    """asgi_app(token_verifier=...) without resource= refuses to start unless
    require_audience=False; with it, a token whose AccessToken.resource names another server
    is 401."""
    import toolwire
    import toolwire_mcp
    from mcp.server.auth.provider import AccessToken

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            resource = {"ours": "http://tools.example/mcp", "theirs": "http://x.example/mcp"}
            return AccessToken(
                token=token, client_id="c", scopes=[], resource=resource.get(token),
                claims={"role": "user"},
            )  # fmt: skip

    with pytest.raises(toolwire.ConfigError, match="resource="):
        toolwire_mcp.asgi_app(demo, token_verifier=Verifier(), role_claim="role")
    app = toolwire_mcp.asgi_app(
        demo, token_verifier=Verifier(), role_claim="role", resource="http://tools.example/mcp"
    )
    with serving(app) as base:
        assert (await _post(f"{base}/mcp", token="ours")).status_code == 200
        assert (await _post(f"{base}/mcp", token="theirs")).status_code == 401
        assert (await _post(f"{base}/mcp", token="unnamed")).status_code == 401
    weaker = toolwire_mcp.asgi_app(
        demo, token_verifier=Verifier(), role_claim="role", require_audience=False
    )
    with serving(weaker) as base:
        assert (await _post(f"{base}/mcp", token="unnamed")).status_code == 200


# -- sessions ------------------------------------------------------------------------------------


async def test_a_session_answers_only_the_caller_that_opened_it(demo: Any) -> None:
    """A session opened with the admin token is 'not found' (404) with the user's token, with
    no token (as the anonymous role) and for DELETE by another caller; its owner goes on using
    it."""
    import toolwire_mcp

    app = toolwire_mcp.asgi_app(demo, settings=_settings(anonymous_role="guest"))
    with serving(app) as base:
        url = f"{base}/mcp"
        opened = await _post(url, token=ADMIN)
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        headers = {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await _post(url, initialized, token=ADMIN, **headers)).status_code == 202
        for token in (USER, None):
            refused = await _post(url, listing, token=token, **headers)
            assert refused.status_code == 404, token
            assert refused.json()["error"]["message"] == "Session not found"
        async with httpx2.AsyncClient() as http:
            deleted = await http.delete(url, headers={**headers, "Authorization": f"Bearer {USER}"})
        assert deleted.status_code == 404
        served = await _post(url, listing, token=ADMIN, **headers)
        assert served.status_code == 200 and "delete_user" in served.text


async def test_each_caller_holds_a_capped_number_of_sessions(demo: Any) -> None:
    """A caller at max_sessions_per_principal gets 429 for one more; another caller is not
    affected; ending one of its sessions (DELETE) makes room again."""
    import toolwire_mcp

    app = toolwire_mcp.asgi_app(demo, settings=_settings(max_sessions_per_principal=3))
    with serving(app) as base:
        url = f"{base}/mcp"
        sessions = [(await _post(url, token=USER)).headers["mcp-session-id"] for _ in range(3)]
        assert len(set(sessions)) == 3
        over = await _post(url, token=USER)
        assert over.status_code == 429 and "mcp-session-id" not in over.headers
        assert "Too many open sessions" in over.json()["error"]["message"]
        assert (await _post(url, token=ADMIN)).status_code == 200
        async with httpx2.AsyncClient() as http:
            ended = await http.delete(
                url,
                headers={"Mcp-Session-Id": sessions[0], "Authorization": f"Bearer {USER}",
                         "Mcp-Protocol-Version": "2025-11-25"},
            )  # fmt: skip
        assert ended.status_code == 200
        assert (await _post(url, token=USER)).status_code == 200


@pytest.mark.slow
async def test_an_idle_session_ends_and_frees_its_place(demo: Any) -> None:
    """A session without requests for session_idle_timeout ends (404 from then on) and no
    longer counts against its caller's cap."""
    import toolwire_mcp

    settings = _settings(max_sessions_per_principal=1, session_idle_timeout=1.0)
    with serving(toolwire_mcp.asgi_app(demo, settings=settings)) as base:
        url = f"{base}/mcp"
        session = (await _post(url, token=USER)).headers["mcp-session-id"]
        assert (await _post(url, token=USER)).status_code == 429
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
        headers = {"Mcp-Session-Id": session, "Mcp-Protocol-Version": "2025-11-25"}

        async def reopened() -> bool:
            return (await _post(url, token=USER)).status_code == 200

        deadline = time.monotonic() + 30
        while not await reopened():
            assert time.monotonic() < deadline, "the idle session never ended"
            await asyncio.sleep(0.5)
        assert (await _post(url, listing, token=USER, **headers)).status_code == 404


# -- connections: timeouts, the cap, bodies and headers (toolwire mcp serve) ---------------------


def _cut_by_server(sock: socket.socket, trickle: bytes = b"", every: float = 0.3) -> bool:
    """Send ``trickle`` a byte at a time; whether the server closed the connection (within
    60 s, far past any timeout the tests set)."""
    sock.settimeout(every)
    deadline = time.monotonic() + 60
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent : sent + 1])
                sent += 1
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset by the server
            return True
    return False


@pytest.mark.slow
def test_slow_headers_and_bodies_are_cut_off(tmp_path: Path) -> None:
    """A client that trickles its headers, or its body, is disconnected (and counted in the
    refusal summary) once header_timeout (or body_timeout) has passed, however steadily it
    sends, and a kept-alive connection that sends nothing is closed after idle_timeout."""
    serve = "header_timeout = 1\nbody_timeout = 1\nidle_timeout = 1\n"
    with toolwire_serve(tmp_path, serve) as served:
        head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        with socket.create_connection(("127.0.0.1", served.port)) as silent:
            assert _cut_by_server(silent)
        with socket.create_connection(("127.0.0.1", served.port)) as trickler:
            trickler.sendall(head)
            assert _cut_by_server(trickler, b"X-Slow: " + b"a" * 400)
        body = json.dumps(INITIALIZE).encode()
        with socket.create_connection(("127.0.0.1", served.port)) as slow_body:
            slow_body.sendall(
                head + f"Authorization: Bearer {USER}\r\n".encode()
                + b"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )  # fmt: skip
            assert _cut_by_server(slow_body, body)
        with socket.create_connection(("127.0.0.1", served.port)) as kept_alive:
            kept_alive.sendall(b"GET /elsewhere HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert kept_alive.recv(65536).startswith(b"HTTP/1.1 404")
            assert _cut_by_server(kept_alive)
    assert refused(served.lines) == {"header_timeout": 2, "body_timeout": 1}, served.lines


def refused(lines: list[str]) -> dict[str, int]:
    """The refusals a server's summary lines add up to, by reason."""
    counts: dict[str, int] = {}
    for line in lines:
        if "toolwire.mcp.refused" in line:
            for reason, number in re.findall(r"(\w+)=(\d+)", line):
                if reason not in ("total", "seconds"):
                    counts[reason] = counts.get(reason, 0) + int(number)
    return counts


@pytest.mark.slow
async def test_at_the_connection_cap_slow_clients_make_way_and_busy_ones_do_not(
    tmp_path: Path,
) -> None:
    """At max_connections, a new connection evicts the oldest one still waiting for its headers,
    so a valid client gets in past slow ones, and when every connection is busy with a request
    (here open event streams) a newcomer is refused instead, both counted in the summary."""
    serve = "max_connections = 8\nheader_timeout = 120\n"
    with toolwire_serve(tmp_path, serve) as served:
        slow = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(8)]
        try:
            for sock in slow:
                sock.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await asyncio.sleep(0.5)
            async with mcp_client(served.url, USER) as client:
                result = await client.call_tool("get_weather", {"location": "Oslo"})
                assert not result.is_error
            assert await asyncio.to_thread(_cut_by_server, slow[0])
        finally:
            for sock in slow:
                sock.close()
        async with contextlib.AsyncExitStack() as streams:
            http = await streams.enter_async_context(httpx2.AsyncClient(timeout=30.0))
            for _ in range(8):
                opened = await _post(served.url, token=USER)
                session = {"Mcp-Session-Id": opened.headers["mcp-session-id"],
                           "Mcp-Protocol-Version": "2025-11-25",
                           "Authorization": f"Bearer {USER}", "Accept": "text/event-stream"}  # fmt: skip
                stream = await streams.enter_async_context(
                    http.stream("GET", served.url, headers=session)
                )
                assert stream.status_code == 200
            with socket.create_connection(("127.0.0.1", served.port)) as newcomer:
                newcomer.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                assert await asyncio.to_thread(_cut_by_server, newcomer)
    counts = refused(served.lines)
    assert counts.get("evicted", 0) >= 1 and counts.get("connection_cap", 0) >= 1, counts


def test_a_connection_cap_beyond_the_open_file_limit_stops_the_start(tmp_path: Path) -> None:
    """max_connections more than the process may open files for is a config error naming the
    limit and what to do; the default cap shrinks to fit a low limit instead."""
    config = tmp_path / "toolwire.toml"
    config.write_text(
        '[plugins]\nautoload = false\nenable = ["mcp", "demo"]\n'
        "[plugins.mcp.serve]\nmax_connections = 1000\n"
        '[plugins.mcp.serve.tokens]\nuser = "TW_SEC_USER"\n'
    )

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))

    done = subprocess.run(
        [*TOOLWIRE, *SERVE, "--config", str(config)],
        env={**os.environ, **TOKENS},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit_files,
    )
    assert done.returncode == 2
    assert "max_connections = 1000" in done.stderr and "ulimit -n" in done.stderr
    with toolwire_serve(tmp_path, files=400) as served:
        assert "(at most 208 connections)" in served.lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("log_level", ["warning", "debug"])
def test_refusals_are_summarised_and_no_token_reaches_the_log(
    tmp_path: Path, log_level: str
) -> None:
    """Hundreds of refused requests (wrong tokens, foreign Origin and Host, oversize bodies and
    header blocks, unknown sessions) make a few summary lines; no token, valid or not, appears
    in the log at any level; the server goes on serving."""
    wrong = "wrong-7c1f0e55-token"
    serve = "max_body_bytes = 2000\n"
    fresh = httpx2.Limits(max_keepalive_connections=0)  # a refused client is hung up on
    with (
        toolwire_serve(tmp_path, serve, log_level=log_level) as served,
        httpx2.Client(limits=fresh) as http,
    ):
        good = {**ACCEPT, "Authorization": f"Bearer {USER}"}
        for _ in range(60):
            assert http.post(served.url, json=INITIALIZE, headers={**ACCEPT, "Authorization": f"Bearer {wrong}"}).status_code == 401  # fmt: skip
            assert http.post(served.url, json=INITIALIZE, headers={**good, "Origin": "https://evil.example"}).status_code == 403  # fmt: skip
            assert http.post(served.url, json=INITIALIZE, headers={**good, "Host": "evil.example"}).status_code == 421  # fmt: skip
            assert http.post(served.url, content=b"[" * 5000, headers={**good, "Content-Type": "application/json"}).status_code == 413  # fmt: skip
            assert http.post(served.url, json=INITIALIZE, headers={**good, "Mcp-Session-Id": "f" * 32}).status_code == 404  # fmt: skip
        flood = {f"X-Flood-{i}": "v" * 200 for i in range(100)}
        for _ in range(20):
            assert http.post(served.url, json=INITIALIZE, headers={**good, **flood}).status_code == 431  # fmt: skip
            with socket.create_connection(("127.0.0.1", served.port)) as raw:
                raw.sendall(
                    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Flood: " + b"v" * 20000
                )
                assert raw.recv(65536).startswith(b"HTTP/1.1 400")  # fmt: skip
        deep = b"[" * 999 + b"]" * 999  # past the JSON parser's recursion limit
        answer = http.post(served.url, content=deep, headers={**good, "Content-Type": "application/json"})  # fmt: skip
        assert answer.status_code in (200, 400)
        assert http.post(served.url, json=INITIALIZE, headers=good).status_code == 200
    log = "".join(served.lines)
    counts = refused(served.lines)
    assert counts == {"token": 60, "origin": 60, "host": 60, "body_too_large": 60,
                      "session": 60, "headers_too_large": 20, "bad_request": 20}, counts  # fmt: skip
    assert len(served.lines) < 10, log
    for secret in (wrong, USER, ADMIN):
        assert secret not in log


# -- settings ------------------------------------------------------------------------------------


def _serve_settings(tmp_path: Path, toml: str) -> Any:
    import toolwire
    from toolwire_mcp import Settings

    path = tmp_path / "toolwire.toml"
    path.write_text(toml)
    return Settings.from_config(toolwire.load_config(path), {}).serve


def test_the_defaults_are_safe(tmp_path: Path) -> None:
    """With nothing set: no extra Host or Origin, the audience required, every cap and timeout
    on."""
    serve = _serve_settings(tmp_path, "")
    assert (serve.allowed_hosts, serve.allowed_origins) == ((), ())
    assert (serve.header_timeout, serve.body_timeout, serve.idle_timeout) == (10.0, 30.0, 5.0)
    assert (serve.max_sessions_per_principal, serve.session_idle_timeout) == (16, 600.0)
    assert serve.max_body_bytes == 4 * 1024 * 1024 and serve.max_connections is None
    oauth = _serve_settings(
        tmp_path,
        '[plugins.mcp.serve.oauth]\nissuer = "https://a"\nresource = "https://b/mcp"\n'
        'role_claim = "role"\n',
    ).oauth
    assert oauth.require_audience is True


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('allowed_origins = ["*"]', "'\\*' and 'null' are refused"),
        ('allowed_origins = ["null"]', "not an origin"),
        ('allowed_origins = ["app.example"]', "scheme://host"),
        ('allowed_origins = ["https://app.example/path"]', "not an origin"),
        ('allowed_hosts = ["*"]', "not a host"),
        ('allowed_hosts = ["*.example.com"]', "no wildcard name"),
        ('allowed_hosts = ["https://tools.example"]', "no scheme"),
        ("allowed_hosts = 'tools.example'", "list of strings"),
        ("max_connections = 0", "whole number above 0"),
        ("max_sessions_per_principal = 1.5", "whole number above 0"),
        ("max_body_bytes = true", "whole number above 0"),
        ("header_timeout = 0", "positive number of seconds"),
        ("body_timeout = -1", "positive number of seconds"),
        ("idle_timout = 3", "did you mean 'idle_timeout'"),
        ("sse_ping_interval = 0.001", "seconds, from 0.1 to 3600"),
        ("sse_ping_interval = 15000", "seconds, from 0.1 to 3600"),
        ("sse_ping_interval = '15'", "seconds, from 0.1 to 3600"),
        (
            "[plugins.mcp.serve.oauth]\nrequire_audience = 'no'",
            "require_audience: .no. is not true or false",
        ),
    ],
)
def test_serve_mistakes_stop_the_start(tmp_path: Path, toml: str, message: str) -> None:
    """Each mistake in the new [plugins.mcp.serve] keys is a ConfigError naming it: nothing
    quietly means 'any host', 'any origin' or 'no limit'."""
    import toolwire

    if toml.startswith("[plugins.mcp.serve.oauth]"):
        toml += '\nissuer = "https://a"\nresource = "https://b/mcp"\nrole_claim = "role"\n'
    with pytest.raises(toolwire.ConfigError, match=message):
        _serve_settings(tmp_path, f"[plugins.mcp.serve]\n{toml}\n")


@pytest.mark.slow
def test_a_caller_cannot_flood_the_log_through_the_sdk(tmp_path: Path) -> None:
    """Malformed notifications, each of which the SDK drops with a warning, sent by a caller
    (here an anonymous one) hundreds of times, leave a few lines in the log; the rest are
    counted in the summary."""
    with toolwire_serve(tmp_path, 'anonymous_role = "guest"\n') as served, httpx2.Client() as http:
        opened = http.post(served.url, json=INITIALIZE, headers=ACCEPT)
        session = {**ACCEPT, "Mcp-Session-Id": opened.headers["mcp-session-id"],
                   "Mcp-Protocol-Version": "2025-11-25"}  # fmt: skip
        ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert http.post(served.url, json=ready, headers=session).status_code == 202
        malformed = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                     "params": {"requestId": {"not": "an id"}}}  # fmt: skip
        for _ in range(300):
            assert http.post(served.url, json=malformed, headers=session).status_code == 202
        assert http.post(served.url, json=INITIALIZE, headers=ACCEPT).status_code == 200
        assert wait_until(lambda: refused(served.lines).get("log_flood", 0) > 0, 30)
    assert len(served.lines) < 30, "".join(served.lines)


@pytest.mark.slow
async def test_strangers_waiting_on_a_slow_authorization_server_make_way(tmp_path: Path) -> None:
    """At max_connections, requests whose tokens the authorization server is slow to check
    are evicted for a newcomer (they were never let in, and their checks are cancelled), so a
    caller with a good token is served."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    release = threading.Event()
    resource = "http://tools.test/mcp"

    async def introspect(request: Request) -> JSONResponse:
        token = str((await request.form()).get("token"))
        while token.startswith("slow") and not release.is_set():
            await asyncio.sleep(0.1)
        return JSONResponse({"active": token == "good", "aud": resource, "scope": "use",
                             "sub": "ada", "client_id": "c"})  # fmt: skip

    with serving(Starlette(routes=[Route("/introspect", introspect, methods=["POST"])])) as auth:
        serve = (
            "max_connections = 8\n[plugins.mcp.serve.oauth]\n"
            f'issuer = "{auth}"\nresource = "{resource}"\n'
            f'introspection_endpoint = "{auth}/introspect"\nscopes = {{ use = "user" }}\n'
        )
        try:
            with toolwire_serve(tmp_path, serve) as served:
                body = json.dumps(INITIALIZE).encode()
                waiting = []
                for i in range(8):
                    sock = socket.create_connection(("127.0.0.1", served.port))
                    sock.sendall(
                        b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + f"Authorization: Bearer slow-{i}\r\n".encode()
                        + b"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                        + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
                    )  # fmt: skip
                    waiting.append(sock)
                await asyncio.sleep(1.0)
                try:
                    async with mcp_client(served.url, "good") as client:
                        result = await client.call_tool("get_weather", {"location": "Lima"})
                        assert not result.is_error
                finally:
                    for sock in waiting:
                        sock.close()
        finally:
            release.set()
    assert refused(served.lines).get("evicted", 0) >= 1
    assert len(served.lines) < 10, "".join(served.lines)  # no traceback for a cut request


def test_a_client_id_never_reads_as_a_subject_of_the_same_text() -> None:
    """A token that names a subject stands for it; one that names none stands for its client,
    as client:ID, so a client whose id is another token's subject is another principal."""
    from mcp.server.auth.provider import AccessToken
    from toolwire_mcp._http import principal_of

    person = AccessToken(token="a", client_id="app1", subject="alice", scopes=[])
    client = AccessToken(token="b", client_id="alice", scopes=[])
    assert principal_of(person, "user") == "alice"
    assert principal_of(client, "user") == "client:alice"
    assert principal_of(AccessToken(token="c", client_id="", scopes=[]), "user") == "user"
