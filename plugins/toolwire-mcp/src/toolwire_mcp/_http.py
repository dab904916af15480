"""Serving over streamable HTTP: an ASGI app, with every caller's role from its bearer token.

Static tokens (``[plugins.mcp.serve.tokens]``: role -> the environment variable holding its
token), compared in constant time; or an OAuth 2.1 resource server, the token checked by the
SDK's ``TokenVerifier`` protocol (introspection, RFC 7662, from config; any verifier from
Python) and the role taken from a named claim or from the token's scopes. A request without
a valid token gets 401 with ``WWW-Authenticate``, unless an anonymous role is named and the
request carries no token at all.
"""

from __future__ import annotations

import hmac
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence

import toolwire
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ._serve import PRINCIPAL_KEY, ROLE_KEY, server
from ._settings import OAuthSettings, ServeSettings

_ROLE_CLAIM = "toolwire_role"

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
            scopes=[],
            claims={_ROLE_CLAIM: found},
        )


class IntrospectionVerifier:
    """A ``TokenVerifier`` asking an OAuth authorization server (RFC 7662 introspection).

    Args:
        endpoint: The introspection endpoint.
        resource: This server's URL; a token whose ``aud`` names other resources is refused.
        client_id: The client this server authenticates as, if the endpoint wants one.
        client_secret: Its secret.
    """

    def __init__(
        self,
        endpoint: str,
        resource: str,
        client_id: str | None = None,
        client_secret: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.resource = resource.rstrip("/")
        self._auth: tuple[str | bytes, str | bytes] | None = (
            (client_id, client_secret or "") if client_id else None
        )

    async def verify_token(self, token: str) -> AccessToken | None:
        import httpx2

        try:
            async with httpx2.AsyncClient(timeout=10.0, auth=self._auth) as http:
                response = await http.post(
                    self.endpoint, data={"token": token}, headers={"Accept": "application/json"}
                )
            data = response.json() if response.status_code == 200 else {}
        except Exception:  # noqa: BLE001 - an unreachable authorization server admits nobody
            return None
        if not isinstance(data, dict) or data.get("active") is not True:
            return None
        audience = data.get("aud")
        audiences = [audience] if isinstance(audience, str) else list(audience or [])
        if audiences and self.resource not in [str(a).rstrip("/") for a in audiences]:
            return None
        scope = data.get("scope")
        expires = data.get("exp")
        return AccessToken(
            token=token,
            client_id=str(data.get("client_id") or ""),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            resource=self.resource,
            subject=str(data["sub"]) if data.get("sub") is not None else None,
            claims=data,
        )


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


class _Gate:
    """Lets a request through with its role in the ASGI scope, or answers 401/403."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier | None,
        role_of: RoleOfToken,
        anonymous_role: str | None,
        metadata_url: str | None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.role_of = role_of
        self.anonymous_role = anonymous_role
        self.metadata_url = metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = _header(scope, b"authorization")
        if header is None:
            if self.anonymous_role is None:
                await self._refuse(send, 401, "invalid_token", "Authentication required")
                return
            scope[ROLE_KEY] = self.anonymous_role
            scope[PRINCIPAL_KEY] = None
            await self.app(scope, receive, send)
            return
        scheme, _, token = header.partition(" ")
        access = None
        if scheme.lower() == "bearer" and token and self.verifier is not None:
            access = await self.verifier.verify_token(token.strip())
        if access is None or (access.expires_at is not None and access.expires_at < time.time()):
            await self._refuse(send, 401, "invalid_token", "The token is not valid")
            return
        role = self.role_of(access)
        if role is None:
            await self._refuse(send, 403, "insufficient_scope", "The token gives no role")
            return
        scope[ROLE_KEY] = role
        scope[PRINCIPAL_KEY] = access.subject or access.client_id or role
        scope["user"] = AuthenticatedUser(access)
        await self.app(scope, receive, send)

    async def _refuse(self, send: Send, status: int, error: str, description: str) -> None:
        parts = [f'error="{error}"', f'error_description="{description}"']
        if self.metadata_url:
            parts.append(f'resource_metadata="{self.metadata_url}"')
        body = json.dumps({"error": error, "error_description": description}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", f"Bearer {', '.join(parts)}".encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def asgi_app(
    dispatcher: toolwire.Dispatcher,
    *,
    settings: ServeSettings | None = None,
    token_verifier: TokenVerifier | None = None,
    role_claim: str | None = None,
    scope_roles: Mapping[str, str] | None = None,
    anonymous_role: str | None = None,
    path: str | None = None,
    host: str | None = None,
    stateless: bool = False,
    json_response: bool = False,
    allowed_hosts: Sequence[str] | None = None,
) -> Starlette:
    """An ASGI app serving ``dispatcher``'s tools over streamable HTTP, to mount or run.

    Who may call comes from ``settings`` (by default ``[plugins.mcp.serve]`` of the
    dispatcher's config: static tokens, OAuth, anonymous role) or, from Python, a
    ``token_verifier`` with ``role_claim``/``scope_roles``. Each caller lists and calls only
    its role's tools.

    Args:
        dispatcher: The dispatcher whose tools are served.
        settings: The serving settings; read from the dispatcher's config when omitted.
        token_verifier: Any ``mcp.server.auth.provider.TokenVerifier``; replaces the
            settings' tokens and OAuth.
        role_claim: With ``token_verifier``: the claim whose value is the role.
        scope_roles: With ``token_verifier``: scope -> role, first match wins.
        anonymous_role: The role of requests without a token; replaces the settings' one.
        path: Where the endpoint is (default ``/mcp``).
        host: The host it is served on; on a loopback host, requests naming another host
            (DNS rebinding) are refused.
        stateless: No session ids: every request stands alone.
        json_response: Answer with JSON instead of an SSE stream.
        allowed_hosts: ``Host`` values to accept besides the loopback ones.

    Raises:
        toolwire.ConfigError: nobody could ever call (no tokens, no OAuth, no anonymous
            role), or a token's environment variable is not set.
    """
    if settings is None:
        from ._settings import Settings

        settings = Settings.from_config(dispatcher.config).serve
    anonymous = anonymous_role if anonymous_role is not None else settings.anonymous_role
    metadata_url: str | None = None
    routes: list[Route] = []
    verifier: TokenVerifier | None
    if token_verifier is not None:
        if role_claim is None and not scope_roles:
            raise toolwire.ConfigError(
                "asgi_app(token_verifier=...) needs role_claim or scope_roles: where a "
                "caller's role comes from"
            )
        verifier, role_of = token_verifier, role_from(role_claim, scope_roles)
    elif settings.oauth is not None:
        verifier, role_of = (
            _oauth_verifier(settings.oauth),
            role_from(settings.oauth.role_claim, settings.oauth.scopes),
        )
        resource = AnyHttpUrl(settings.oauth.resource)
        metadata_url = str(build_resource_metadata_url(resource))
        routes += create_protected_resource_routes(
            resource_url=resource,
            authorization_servers=[AnyHttpUrl(settings.oauth.issuer)],
            scopes_supported=list(settings.oauth.scopes) or None,
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
    where = host if host is not None else settings.host
    security = None
    if where in ("127.0.0.1", "localhost", "::1") or allowed_hosts:
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*", *(allowed_hosts or ())],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    manager = StreamableHTTPSessionManager(
        app=server(dispatcher),
        stateless=stateless,
        json_response=json_response,
        security_settings=security,
    )
    gate = _Gate(StreamableHTTPASGIApp(manager), verifier, role_of, anonymous, metadata_url)
    routes.append(Route(path or settings.path, endpoint=gate))
    return Starlette(routes=routes, lifespan=lambda app: manager.run())


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
        oauth.introspection_endpoint, oauth.resource, oauth.client_id, secret
    )
