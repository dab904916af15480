"""Serving over streamable HTTP: an ASGI app, with every caller's role from its bearer token.

Every request to the endpoint passes the gate, in this order, whatever address is served on:

1. ``Host`` names this server (a loopback name, the address served on, or one of
   ``allowed_hosts``), else 421; ``Origin`` is absent or one of ``allowed_origins``, else
   403. This is the transport security the MCP spec asks for against DNS rebinding and web
   pages, checked before anything else so a page learns nothing.
2. The bearer token: static tokens (``[plugins.mcp.serve.tokens]``: role -> the environment
   variable holding its token), compared in constant time; or an OAuth 2.1 resource server,
   the token checked by the SDK's ``TokenVerifier`` protocol (introspection, RFC 7662, from
   config; any verifier from Python), issued for this server (its audience names
   ``resource``, RFC 8707), the role taken from a named claim or from the token's scopes.
   A request without a valid token gets 401 with ``WWW-Authenticate``, unless an anonymous
   role is named and the request carries no token at all.
3. The session: an ``Mcp-Session-Id`` is accepted only from the caller that opened it; a
   caller holds at most ``max_sessions_per_principal`` sessions (429 above).

A refusal closes the connection and is counted in a logged summary, never logged alone.

A sessionless (2026-07-28) request whose client can read a stream is answered by the SDK's
JSON-response mode through an ``Exchange``, which keeps what the SDK's stream mode gives a
call at about half its cost (``_exchange`` says how), unless the host asked for JSON answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import math
import os
import time
import weakref
from collections.abc import AsyncIterator, Callable, Hashable, Mapping, Sequence
from typing import Any, Final

import toolwire
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier, principal_components
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import AnyHttpUrl, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._exchange import Exchange, response_header
from ._serve import OWNER_KEY, PRINCIPAL_KEY, ROLE_KEY, served_server
from ._sessions import SessionLedger
from ._settings import OAuthSettings, ServeSettings, host_pattern, origin_pattern

_ROLE_CLAIM: Final = "toolwire_role"
#: Host names that only a client on this machine (or a page it serves itself) sends.
_LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")
#: Addresses that mean "every interface": the Host a client uses cannot be told from them.
_EVERY_ADDRESS: Final = ("0.0.0.0", "::", "[::]", "")
#: Headers the gate decides on: each may come once; a second copy is refused, not guessed at.
_SINGLE: Final = (
    b"host",
    b"origin",
    b"authorization",
    b"mcp-session-id",
    b"mcp-protocol-version",
)
#: Introspection requests one event loop sends at once (each holds a socket).
_INTROSPECTIONS: Final = 16
#: The most header bytes a request may carry (names and values); h11 holds an incomplete
#: header block to the same, but not one that arrives whole.
MAX_HEADER_BYTES: Final = 16 * 1024

RoleOfToken = Callable[[AccessToken], "str | None"]


class StaticTokens:
    """A ``TokenVerifier`` for fixed bearer tokens, one per role.

    Args:
        tokens: Role -> token.

    Every token is compared, in constant time, whichever matches: how long a check takes
    says nothing about which token, or how much of one, was right.
    """

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(role, token.encode()) for role, token in tokens.items()]

    @classmethod
    def from_environment(
        cls, variables: Mapping[str, str], environ: Mapping[str, str] | None = None
    ) -> StaticTokens:
        """Tokens read from the environment: role -> variable name.

        Raises:
            toolwire.ConfigError: a variable is not set, is empty, or two roles share a token.
        """
        env = os.environ if environ is None else environ
        tokens: dict[str, str] = {}
        for role, variable in variables.items():
            value = env.get(variable, "")
            if not value:
                raise toolwire.ConfigError(
                    f"[plugins.mcp.serve.tokens] {role} = {variable!r}: the environment "
                    f"variable {variable} is not set (or empty); set it to the role's token"
                )
            if value in tokens.values():
                raise toolwire.ConfigError(
                    "[plugins.mcp.serve.tokens]: two roles share one token; give each its own"
                )
            tokens[role] = value
        return cls(tokens)

    async def verify_token(self, token: str) -> AccessToken | None:
        given = token.encode()
        found: str | None = None
        for role, expected in self._tokens:
            if hmac.compare_digest(given, expected):
                found = role
        if found is None:
            return None
        return AccessToken(
            token=token,
            client_id=f"token:{found}",
            subject=f"token:{found}",  # the principal: token:ROLE
            scopes=[],
            claims={_ROLE_CLAIM: found},
        )


def principal_of(access: AccessToken, role: str) -> str:
    """The principal a token stands for, as hooks, approvals and rate limits see it: its
    subject (a person, or ``token:ROLE`` for a static token); a token that names no subject
    (a client acting for itself) ``client:CLIENT_ID``, so that a client id never reads as a
    subject of the same text; with neither, the role."""
    if access.subject:
        return access.subject
    if access.client_id:
        return f"client:{access.client_id}"
    return role


class IntrospectionVerifier:
    """A ``TokenVerifier`` asking an OAuth authorization server (RFC 7662 introspection).

    Args:
        endpoint: The introspection endpoint.
        resource: This server's URL. A token must name it in its audience (``aud``, RFC
            8707): a token the same authorization server issued for another resource is
            refused.
        client_id: The client this server authenticates as, if the endpoint wants one.
        client_secret: Its secret.
        require_audience: With ``False``, a token that names no audience at all is accepted
            too (weaker); one naming other audiences is still refused.
    """

    def __init__(
        self,
        endpoint: str,
        resource: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        *,
        require_audience: bool = True,
    ) -> None:
        self.endpoint = endpoint
        self.resource = resource.rstrip("/")
        self.require_audience = require_audience
        self._auth: tuple[str | bytes, str | bytes] | None = (
            (client_id, client_secret or "") if client_id else None
        )
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        import httpx2

        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(_INTROSPECTIONS)
        try:
            async with slots, httpx2.AsyncClient(timeout=10.0, auth=self._auth) as http:
                response = await http.post(
                    self.endpoint, data={"token": token}, headers={"Accept": "application/json"}
                )
            data = response.json() if response.status_code == 200 else {}
        except Exception:  # noqa: BLE001 - an unreachable authorization server admits nobody
            return None
        if not isinstance(data, dict) or data.get("active") is not True:
            return None
        audience = data.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        resource: str | None = None
        if audiences is None or audiences == []:
            if self.require_audience:
                return None
        elif isinstance(audiences, list) and any(
            same_resource(str(a), self.resource) for a in audiences
        ):
            resource = self.resource
        else:
            return None
        scope = data.get("scope")
        expires = data.get("exp")
        if expires is not None and not _future_time(expires):
            # RFC 7662 makes exp a NumericDate: one that is no finite number, or is past, is
            # no expiry to trust (a "1000" string is not "never")
            return None
        return AccessToken(
            token=token,
            client_id=str(data.get("client_id") or ""),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            resource=resource,
            subject=str(data["sub"]) if data.get("sub") is not None else None,
            claims=data,
        )


def _future_time(value: object) -> bool:
    """Whether an introspection answer's ``exp`` is a NumericDate (RFC 7519: seconds since
    the epoch) still to come: a number, finite, past now (an int too big for a float is none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value) and value > time.time()
    except OverflowError:
        return False


def same_resource(given: str, resource: str) -> bool:
    """Whether two URLs name the same resource: compared as URLs (case of scheme and host,
    a default port), a trailing ``/`` aside."""
    try:
        return str(AnyHttpUrl(given)).rstrip("/") == str(AnyHttpUrl(resource)).rstrip("/")
    except ValidationError:
        return False


def role_from(claim: str | None = None, scopes: Mapping[str, str] | None = None) -> RoleOfToken:
    """How a verified token gives a role: the value of ``claim``, else the first of ``scopes``
    (scope -> role, in order) that the token carries; ``None`` when neither does."""
    ordered = list((scopes or {}).items())

    def role_of(token: AccessToken) -> str | None:
        claims = token.claims or {}
        if claim is not None:
            value = claims.get(claim)
            if isinstance(value, str) and value:
                return value
        for scope, role in ordered:
            if scope in token.scopes:
                return role
        return None

    return role_of


def _static_role(token: AccessToken) -> str | None:
    role = (token.claims or {}).get(_ROLE_CLAIM)
    return role if isinstance(role, str) and token.client_id == f"token:{role}" else None


class Addresses:
    """Which ``Host`` and ``Origin`` values name this server.

    Args:
        host: The address served on. Unless it is every address (``0.0.0.0``, ``::``), a
            ``Host`` naming it is accepted.
        allowed_hosts: More ``Host`` values: ``name`` or ``name:*`` (any port), ``name:port``.
        allowed_origins: The ``Origin`` values accepted: ``scheme://host[:port]``, or with
            ``:*`` for any port. A request without ``Origin`` is accepted.

    The loopback names are always accepted as ``Host``: a page can only make a browser send
    one from this machine's own origin, and ``Origin`` is checked on its own.
    """

    def __init__(
        self, host: str, allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()
    ) -> None:
        names = [*_LOOPBACK_NAMES, *(host_pattern(h, "allowed_hosts") for h in allowed_hosts)]
        self._hosts = [_split_host(name) for name in names]
        bound = host.strip().lower()
        if bound not in _EVERY_ADDRESS:
            self._hosts.append((f"[{bound}]" if ":" in bound and "[" not in bound else bound, None))
        self._origins = [origin_pattern(o, "allowed_origins") for o in allowed_origins]

    def host_ok(self, value: str | None) -> bool:
        """Whether a ``Host`` header names this server."""
        if not value:
            return False
        name, port = _split_host(value.strip().lower())
        if port is not None and not port.isdigit():
            return False
        return any(
            name == allowed and (wanted in (None, "*") or wanted == port)
            for allowed, wanted in self._hosts
        )

    def origin_ok(self, value: str | None) -> bool:
        """Whether an ``Origin`` header is absent or allowed."""
        if value is None:
            return True
        origin = value.strip().lower()
        for allowed in self._origins:
            if origin == allowed:
                return True
            if allowed.endswith(":*"):
                base, _, port = origin.rpartition(":")
                if base == allowed[:-2] and port.isdigit():
                    return True
        return False


def _split_host(value: str) -> tuple[str, str | None]:
    """``name[:port]`` -> (name, port or None); ``[v6]:port`` keeps its brackets."""
    if value.startswith("["):
        name, _, rest = value.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else None
    name, colon, port = value.rpartition(":")
    return (name, port) if colon else (value, None)


class _Gate:
    """Lets a request through with its role in the ASGI scope, or answers it and hangs up."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        addresses: Addresses,
        verifier: TokenVerifier | None,
        role_of: RoleOfToken,
        anonymous_role: str | None,
        metadata_url: str | None,
        resource: str | None,
        require_audience: bool,
        sessions: SessionLedger | None,
        refusals: toolwire.RefusalSummary,
        sessionless: ASGIApp | None,
        ping_interval: float,
    ) -> None:
        self.app = app
        #: The SDK's JSON-mode app, for sessionless requests answered through an ``Exchange``
        #: (``None``: every request goes to ``app``).
        self.sessionless = sessionless
        self.ping_interval = ping_interval
        self.addresses = addresses
        self.verifier = verifier
        self.role_of = role_of
        self.anonymous_role = anonymous_role
        self.metadata_url = metadata_url
        self.resource = resource
        self.require_audience = require_audience
        self.sessions = sessions
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if sum(len(k) + len(v) for k, v in scope.get("headers", ())) > MAX_HEADER_BYTES:
            await self._refuse(send, "headers_too_large", 431, "Request headers too large")
            return
        headers = _single_headers(scope)
        if headers is None:
            await self._refuse(send, "duplicate_header", 400, "A header came more than once")
            return
        if not self.addresses.host_ok(headers.get(b"host")):
            await self._refuse(send, "host", 421, "Invalid Host header")
            return
        if not self.addresses.origin_ok(headers.get(b"origin")):
            await self._refuse(send, "origin", 403, "Invalid Origin header")
            return
        owner = await self._authenticate(scope, headers.get(b"authorization"), send)
        if owner is None:
            return
        version = headers.get(b"mcp-protocol-version")
        sessionless = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS
        if self.sessions is None:
            await self._serve(scope, receive, send, sessionless)
            return
        session_id = headers.get(b"mcp-session-id")
        if session_id is not None:
            await self._serve_session(session_id, owner, scope, receive, send)
            return
        if sessionless:
            await self._serve(scope, receive, send, True)  # the sessionless revision opens none
            return
        await self._open_session(owner, scope, receive, send)

    async def _authenticate(self, scope: Scope, header: str | None, send: Send) -> Hashable | None:
        """The caller's identity (its role and principal put in the scope), or ``None`` once
        the request has been refused."""
        if header is None:
            if self.anonymous_role is None:
                await self._refuse_token(send, 401, "invalid_token", "Authentication required")
                return None
            scope[ROLE_KEY] = self.anonymous_role
            scope[PRINCIPAL_KEY] = None
            client = scope.get("client")
            anonymous = ("anonymous", client[0] if client else None)
            scope[OWNER_KEY] = anonymous
            return anonymous
        scheme, _, token = header.partition(" ")
        access = None
        if scheme.lower() == "bearer" and token.strip() and self.verifier is not None:
            access = await self.verifier.verify_token(token.strip())
        if access is None or (access.expires_at is not None and access.expires_at < time.time()):
            await self._refuse_token(send, 401, "invalid_token", "The token is not valid")
            return None
        if not self._for_this_resource(access):
            await self._refuse_token(
                send, 401, "invalid_token", "The token was not issued for this server"
            )
            return None
        role = self.role_of(access)
        if role is None:
            await self._refuse_token(send, 403, "insufficient_scope", "The token gives no role")
            return None
        scope[ROLE_KEY] = role
        scope[PRINCIPAL_KEY] = principal_of(access, role)
        scope["user"] = AuthenticatedUser(access)
        identity = ("token", role, *principal_components(access))
        scope[OWNER_KEY] = identity
        return identity

    def _for_this_resource(self, access: AccessToken) -> bool:
        if self.resource is None:
            return True
        if access.resource is None:
            return not self.require_audience
        return same_resource(access.resource, self.resource)

    async def _serve_session(
        self, session_id: str, owner: Hashable, scope: Scope, receive: Receive, send: Send
    ) -> None:
        assert self.sessions is not None
        if not self.sessions.begin(session_id, owner):
            # Another caller's session answers exactly as one that does not exist.
            await self._refuse(send, "session", 404, "Session not found")
            return
        try:
            status = await self._serve(scope, receive, send)
        finally:
            self.sessions.end(session_id)
        if status == 404 or (scope["method"] == "DELETE" and status is not None and status < 300):
            self.sessions.forget(session_id)

    async def _open_session(
        self, owner: Hashable, scope: Scope, receive: Receive, send: Send
    ) -> None:
        assert self.sessions is not None
        sessions = self.sessions
        if not sessions.reserve(owner):
            await self._refuse(
                send,
                "sessions_per_principal",
                429,
                "Too many open sessions for this caller: end one (DELETE) or let one expire",
            )
            return
        opened: str | None = None

        async def record(message: Message) -> None:
            nonlocal opened
            if message["type"] == "http.response.start" and message["status"] < 400:
                # Recorded before the client can read the id and use it.
                opened = response_header(message, b"mcp-session-id")
                if opened is not None:
                    sessions.release(owner, opened)
            await send(message)

        try:
            await self._serve(scope, receive, record)
        finally:
            if opened is None:
                sessions.release(owner, None)
            else:
                sessions.end(opened)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, sessionless: bool = False
    ) -> int | None:
        """Run the SDK's app (its JSON-mode one through an ``Exchange`` for a sessionless
        request); the status it answered with."""
        status: int | None = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status == 413:
                    self.refusals.note("body_too_large")
            await send(message)

        # A client that cannot read a stream goes to the SDK's stream mode, which refuses it
        # (406) as the SDK's own server does, instead of a stream it could not read.
        if sessionless and self.sessionless is not None and check_accept_headers(Request(scope))[1]:
            await Exchange(receive, watch, self.ping_interval).run(self.sessionless, scope)
        else:
            await self.app(scope, receive, watch)
        return status

    async def _refuse(self, send: Send, reason: str, status: int, message: str) -> None:
        """A JSON-RPC error without id, as the SDK answers transport errors."""
        self.refusals.note(reason)
        body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
        await _answer(send, status, json.dumps(body).encode(), [])

    async def _refuse_token(self, send: Send, status: int, error: str, description: str) -> None:
        self.refusals.note("token" if status == 401 else "no_role")
        parts = [f'error="{error}"', f'error_description="{description}"']
        if self.metadata_url:
            parts.append(f'resource_metadata="{self.metadata_url}"')
        body = json.dumps({"error": error, "error_description": description}).encode()
        challenge = (b"www-authenticate", f"Bearer {', '.join(parts)}".encode())
        await _answer(send, status, body, [challenge])


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """A whole JSON response that ends the connection: a refused client gets no keep-alive."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _single_headers(scope: Scope) -> dict[bytes, str] | None:
    """The headers the gate decides on, by lower-cased name; ``None`` if one came twice."""
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        name = bytes(key).lower()
        if name in _SINGLE:
            if name in found:
                return None
            found[name] = bytes(value).decode("latin-1")
    return found


def asgi_app(
    dispatcher: toolwire.Dispatcher,
    *,
    settings: ServeSettings | None = None,
    token_verifier: TokenVerifier | None = None,
    role_claim: str | None = None,
    scope_roles: Mapping[str, str] | None = None,
    resource: str | None = None,
    require_audience: bool | None = None,
    anonymous_role: str | None = None,
    path: str | None = None,
    host: str | None = None,
    stateless: bool = False,
    json_response: bool = False,
    allowed_hosts: Sequence[str] | None = None,
    allowed_origins: Sequence[str] | None = None,
) -> Starlette:
    """An ASGI app serving ``dispatcher``'s tools over streamable HTTP, to mount or run.

    Who may call comes from ``settings`` (by default ``[plugins.mcp.serve]`` of the
    dispatcher's config: static tokens, OAuth, anonymous role) or, from Python, a
    ``token_verifier`` with ``role_claim``/``scope_roles``. Each caller lists and calls only
    its role's tools. ``Host`` and ``Origin`` are checked on every request, whatever the
    address served on. The app's ``state.refusals`` counts what it refused.

    Args:
        dispatcher: The dispatcher whose tools are served.
        settings: The serving settings; read from the dispatcher's config when omitted.
        token_verifier: Any ``mcp.server.auth.provider.TokenVerifier``; replaces the
            settings' tokens and OAuth.
        role_claim: With ``token_verifier``: the claim whose value is the role.
        scope_roles: With ``token_verifier``: scope -> role, first match wins.
        resource: With ``token_verifier``: this server's URL, which a token's
            ``AccessToken.resource`` (its RFC 8707 audience) must name; the settings'
            ``oauth.resource`` when omitted.
        require_audience: With ``token_verifier``: ``False`` accepts a token whose
            ``resource`` is ``None`` (weaker); the settings' value when omitted, else true.
        anonymous_role: The role of requests without a token; replaces the settings' one.
        path: Where the endpoint is (default ``/mcp``).
        host: The address it is served on (default: the settings' ``host``): a ``Host``
            naming it is accepted, unless it is every address (``0.0.0.0``).
        stateless: No session ids: every request stands alone.
        json_response: Answer with JSON instead of an SSE stream.
        allowed_hosts: ``Host`` values to accept besides the loopback names and ``host``;
            replaces the settings' ``allowed_hosts``.
        allowed_origins: ``Origin`` values to accept; replaces the settings' ones.

    Raises:
        toolwire.ConfigError: nobody could ever call (no tokens, no OAuth, no anonymous
            role), a token's environment variable is not set, a ``token_verifier`` comes
            without ``resource`` (unless ``require_audience=False``), an allowed host or
            origin is not one, or ``request_state_key_env`` names an unset variable or a
            weak key.
    """
    if settings is None:
        from ._settings import Settings

        settings = Settings.from_config(dispatcher.config).serve
    anonymous = anonymous_role if anonymous_role is not None else settings.anonymous_role
    metadata_url: str | None = None
    routes: list[Route] = []
    verifier: TokenVerifier | None
    audience: str | None = None
    required = True
    if token_verifier is not None:
        if role_claim is None and not scope_roles:
            raise toolwire.ConfigError(
                "asgi_app(token_verifier=...) needs role_claim or scope_roles: where a "
                "caller's role comes from"
            )
        verifier, role_of = token_verifier, role_from(role_claim, scope_roles)
        audience = resource or (settings.oauth.resource if settings.oauth else None)
        required = (
            require_audience
            if require_audience is not None
            else (settings.oauth.require_audience if settings.oauth else True)
        )
        if audience is None and required:
            raise toolwire.ConfigError(
                "asgi_app(token_verifier=...) needs resource=...: this server's URL, which "
                "a token's AccessToken.resource (its audience, RFC 8707) must name; "
                "require_audience=False skips the check (weaker: a token issued for another "
                "server would work here)"
            )
    elif settings.oauth is not None:
        oauth = settings.oauth
        verifier = _oauth_verifier(oauth)
        role_of = role_from(oauth.role_claim, oauth.scopes)
        audience, required = oauth.resource, oauth.require_audience
        url = AnyHttpUrl(oauth.resource)
        metadata_url = str(build_resource_metadata_url(url))
        routes += create_protected_resource_routes(
            resource_url=url,
            authorization_servers=[AnyHttpUrl(oauth.issuer)],
            scopes_supported=list(oauth.scopes) or None,
        )
    elif settings.tokens:
        verifier, role_of = StaticTokens.from_environment(settings.tokens), _static_role
    else:
        verifier, role_of = None, _static_role
    if verifier is None and anonymous is None:
        raise toolwire.ConfigError(
            "serving MCP over HTTP needs a way to tell callers apart: "
            "[plugins.mcp.serve.tokens] (role = env var holding its token), "
            "[plugins.mcp.serve.oauth], or anonymous_role (the role of every caller)"
        )
    try:
        addresses = Addresses(
            host if host is not None else settings.host,
            settings.allowed_hosts if allowed_hosts is None else allowed_hosts,
            settings.allowed_origins if allowed_origins is None else allowed_origins,
        )
    except toolwire.ConfigError as exc:
        raise toolwire.ConfigError(f"[plugins.mcp.serve] {exc}") from None
    refusals = toolwire.RefusalSummary("toolwire.mcp", "toolwire.mcp.refused")
    mcp_server, stop_tasks = served_server(
        dispatcher, request_state_key=settings.request_state_key()
    )
    manager = _manager(mcp_server, settings, stateless=stateless, json_response=json_response)
    # Sessionless requests: the SDK's JSON-response mode, the stream kept by an Exchange
    # (_exchange says why). A host that asked for JSON answers gets the SDK's JSON mode as is.
    # Only sessionless requests reach it: the SDK answers them before any session.
    answering = (
        None
        if json_response
        else _manager(mcp_server, settings, stateless=True, json_response=True)
    )
    gate = _Gate(
        StreamableHTTPASGIApp(manager),
        addresses=addresses,
        verifier=verifier,
        role_of=role_of,
        anonymous_role=anonymous,
        metadata_url=metadata_url,
        resource=audience,
        require_audience=required,
        sessions=None
        if stateless
        else SessionLedger(settings.max_sessions_per_principal, settings.session_idle_timeout),
        refusals=refusals,
        sessionless=None if answering is None else StreamableHTTPASGIApp(answering),
        ping_interval=settings.sse_ping_interval,
    )
    routes.append(Route(path or settings.path, endpoint=gate))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with manager.run(), answering.run() if answering else contextlib.nullcontext():
                yield
        finally:
            # Before the process goes: a SIGTERM ends it once the server has stopped, and a
            # task still running would read working until its lease ran out.
            stop_tasks()
            refusals.flush()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.refusals = refusals
    return app


def _manager(
    server: Any, settings: ServeSettings, *, stateless: bool, json_response: bool
) -> StreamableHTTPSessionManager:
    """The SDK's session manager for ``server``, with the serving settings' limits."""
    return StreamableHTTPSessionManager(
        app=server,
        stateless=stateless,
        json_response=json_response,
        # The gate checks Host and Origin on every request; the SDK's own check is off (it
        # logs every refusal, header value included).
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        session_idle_timeout=settings.session_idle_timeout,
        max_request_body_size=settings.max_body_bytes,
    )


def _oauth_verifier(oauth: OAuthSettings) -> TokenVerifier:
    if oauth.introspection_endpoint is None:
        raise toolwire.ConfigError(
            "[plugins.mcp.serve.oauth]: introspection_endpoint is required to check tokens "
            "from the command line; from Python, pass asgi_app(token_verifier=...)"
        )
    secret = None
    if oauth.client_secret_env is not None:
        secret = os.environ.get(oauth.client_secret_env)
        if not secret:
            raise toolwire.ConfigError(
                f"[plugins.mcp.serve.oauth] client_secret_env: the environment variable "
                f"{oauth.client_secret_env} is not set"
            )
    return IntrospectionVerifier(
        oauth.introspection_endpoint,
        oauth.resource,
        oauth.client_id,
        secret,
        require_audience=oauth.require_audience,
    )
