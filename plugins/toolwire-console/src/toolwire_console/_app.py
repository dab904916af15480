"""The console as a small starlette app: a few routes, autoescaped templates, plain forms.

Every request passes the gate first (``Host`` names this console; security headers on every
answer). Every post carries the session cookie and the session's CSRF token, and an
``Origin`` of this console; a decision also needs the ``approve`` permission. After a post the
browser is sent on with 303, so a reload never posts twice. The live update of the approvals
page is a small script that fetches the same page's list; without it the page works the same.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2
import toolwire
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from toolwire.types import Redaction

from . import _views
from ._auth import SESSION_COOKIE, Addresses, Session, Sessions
from ._limits import SignInLimiter
from ._settings import Grant, Settings

_log = toolwire.get_logger("toolwire.console")
_HERE: Final = Path(__file__).parent
MAX_FORM_BYTES: Final = 16 * 1024
#: Every answer's headers: no framing, no sniffing, scripts only from the console itself.
SECURITY_HEADERS: Final = (
    (b"content-security-policy",
     b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
     b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
)  # fmt: skip
_STATIC: Final = {"console.js": "text/javascript", "console.css": "text/css"}
#: What a decision's page may say happened, besides an error kind: ``ok`` (the call ran here
#: and succeeded), ``error``, ``approved`` (recorded; the host runs it) and ``decided`` (it
#: was decided before: the record says how).
_OUTCOMES: Final = frozenset({"ok", "error", "approved", "decided", *toolwire.ERROR_KINDS})


def _agrees(outcome: str, status: str) -> bool:
    """Whether a decision's notice (``?outcome=``, from the redirect after it) fits the
    record as it stands. The notices claim only what the record shows (a link could carry
    any ``outcome``): never that a call succeeded or failed, which its status does not say."""
    if outcome not in _OUTCOMES or status == "pending":
        return False
    if outcome == "approved":
        return status in ("approved", "running")
    if outcome == "approval_denied":
        return status == "rejected"
    if outcome == "approval_expired":
        return status == "expired"
    if outcome == "decided":
        return True
    return status in ("executed", "approved", "running")  # a run the console made: it ran


class _Gate:
    """Refuses a request whose ``Host`` does not name the console (DNS rebinding), and adds
    the security headers to every answer."""

    def __init__(self, app: ASGIApp, addresses: Addresses) -> None:
        self.app = app
        self.addresses = addresses

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if not self.addresses.host_ok(host):
            _log.warning("toolwire_console.refused", reason="host", host=(host or "")[:100])
            await PlainTextResponse("Invalid Host header", 421)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Console:
    """The routes, over one dispatcher; built by ``asgi_app``."""

    def __init__(
        self,
        dispatcher: toolwire.Dispatcher,
        settings: Settings,
        sessions: Sessions,
        addresses: Addresses,
    ) -> None:
        self.dispatcher = dispatcher
        self.settings = settings
        self.sessions = sessions
        self.addresses = addresses
        self.limiter = SignInLimiter(settings.sign_in_failures, settings.sign_in_failures_total)
        self.redaction = Redaction.from_config(dispatcher.config)
        self.templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )

    # -- pages ------------------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/approvals", 303)

    async def approvals(self, request: Request) -> Response:
        session, grant = self._visitor(request)
        if grant is None:
            return self._to_sign_in(request)
        records = await self.dispatcher.approvals()
        page = _views.approvals_page(records, self.redaction)
        fragment = request.query_params.get("fragment") == "pending"
        template = "_pending.html" if fragment else "approvals.html"
        return self._page(template, session, grant, page=page, section="approvals")

    async def approval(self, request: Request) -> Response:
        session, grant = self._visitor(request)
        if session is None or grant is None:
            return self._to_sign_in(request)
        return await self._record_page(request, session, grant)

    async def tools(self, request: Request) -> Response:
        session, grant = self._visitor(request)
        if grant is None:
            return self._to_sign_in(request)
        page = _views.tools_page(self.dispatcher)
        return self._page("tools.html", session, grant, page=page, section="tools")

    async def audit(self, request: Request) -> Response:
        session, grant = self._visitor(request)
        if grant is None:
            return self._to_sign_in(request)
        try:
            page = await asyncio.to_thread(
                _views.audit_page, self.dispatcher, self.settings.recent_calls
            )
        except (OSError, toolwire.ConfigError) as exc:
            page = {"state": "error", "why": str(exc)}
        return self._page("audit.html", session, grant, page=page, section="audit")

    async def sign_in_form(self, request: Request) -> Response:
        session, grant = self._visitor(request)
        if grant is not None:
            return RedirectResponse("/approvals", 303)
        return self._page("sign_in.html", session, None, failed=False, section="sign-in")

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in _STATIC:
            return PlainTextResponse("Not Found", 404)
        return Response((_HERE / "static" / name).read_bytes(), media_type=_STATIC[name])

    # -- posts ------------------------------------------------------------------------------

    async def sign_in(self, request: Request) -> Response:
        session, form, refused = await self._checked_post(request)
        if refused is not None:
            return refused
        assert session is not None
        client = _client(request)
        wait = self.limiter.wait_for(client)
        if wait > 0:  # before the token is looked at: a limited client learns nothing of it
            _log.warning("toolwire_console.sign_in_limited", client=client, retry_after=wait)
            response = self._page(
                "sign_in.html", session, None, failed=False, limited=True, section="sign-in"
            )
            response.status_code = 429
            response.headers["retry-after"] = str(max(1, round(wait)))
            return response
        grant = self.sessions.grant_of(form.get("token", ""))
        if grant is None:
            self.limiter.failed(client)
            _log.warning("toolwire_console.sign_in_refused", client=client)
            response = self._page("sign_in.html", session, None, failed=True, section="sign-in")
            response.status_code = 401
            return response
        self.sessions.end(session)
        signed_in = self.sessions.new(grant.principal)
        _log.info("toolwire_console.signed_in", principal=grant.principal, client=_client(request))
        moved = RedirectResponse("/approvals", 303)
        self._set_cookie(moved, signed_in)
        return moved

    async def sign_out(self, request: Request) -> Response:
        session, _, refused = await self._checked_post(request)
        if refused is not None:
            return refused
        assert session is not None
        self.sessions.end(session)
        response = RedirectResponse("/sign-in", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def decide(self, request: Request) -> Response:
        session, form, refused = await self._checked_post(request)
        if refused is not None:
            return refused
        assert session is not None
        grant = self.sessions.grant_for(session)
        if grant is None:
            return self._to_sign_in(request)
        approval_id = request.path_params["approval_id"]
        verb = request.path_params["verb"]
        if not grant.may_decide:
            _log.warning(
                "toolwire_console.refused", reason="permission", principal=grant.principal,
                approval_id=approval_id,
            )  # fmt: skip
            return self._refused(session, grant, 403, f"{grant.principal} may view, not decide")
        message = form.get("message", "").strip()[:500] or None
        try:
            if verb == "approve" and self.settings.run_in == "host":
                decided = await self.dispatcher.approve(approval_id, by=grant.principal, run=False)
                mine = decided.status == "approved" and decided.decided_by == grant.principal
                outcome = "approved" if mine else "decided"
                record: toolwire.Approval | None = decided
            else:
                if verb == "approve":
                    result = await self.dispatcher.approve(approval_id, by=grant.principal)
                else:
                    result = await self.dispatcher.reject(
                        approval_id, by=grant.principal, message=message
                    )
                error = result.error
                outcome = "ok" if result.success else (error.kind if error else "error")
                record = result.approval
        except toolwire.ApprovalError as exc:
            _log.warning(
                "toolwire_console.decision_failed", verb=verb, approval_id=approval_id,
                by=grant.principal, error=str(exc),
            )  # fmt: skip
            return await self._record_page(request, session, grant, error=str(exc), status=409)
        _log.info(
            "toolwire_console.decided", verb=verb, approval_id=approval_id, by=grant.principal,
            tool=record.tool if record else None, status=record.status if record else None,
            outcome=outcome,
        )  # fmt: skip
        query = urllib.parse.urlencode({"outcome": outcome})
        return RedirectResponse(f"/approvals/{urllib.parse.quote(approval_id)}?{query}", 303)

    # -- helpers ----------------------------------------------------------------------------

    async def _record_page(
        self,
        request: Request,
        session: Session,
        grant: Grant,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        approval_id = request.path_params["approval_id"]
        try:
            record = await self.dispatcher.approval(approval_id)
        except toolwire.ApprovalError:
            return self._refused(session, grant, 404, "no approval has this id")
        outcome = request.query_params.get("outcome")
        if outcome is not None and not _agrees(outcome, record.status):
            outcome = None  # a notice only says what the record says too (it is in the URL)
        view = _views.approval_view(record, self.redaction, time.time())
        response = self._page(
            "approval.html", session, grant, record=view, outcome=outcome, error=error,
            section="approvals",
        )  # fmt: skip
        response.status_code = status
        return response

    def _visitor(self, request: Request) -> tuple[Session | None, Grant | None]:
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        return session, self.sessions.grant_for(session)

    async def _checked_post(
        self, request: Request
    ) -> tuple[Session | None, dict[str, str], Response | None]:
        """The session and form of a post that passes every check, else the refusal."""
        session = self.sessions.read(request.cookies.get(SESSION_COOKIE))
        if not self.addresses.origin_ok(
            request.headers.get("origin"), request.headers.get("host"), request.url.scheme
        ):
            return None, {}, self._refusal(request, "origin", "cross-site request refused")
        form = await _form(request)
        if form is None:
            return None, {}, self._refusal(request, "form", "not a form of this console", 400)
        if session is None or not self.sessions.csrf_ok(session, form.get("csrf")):
            return None, {}, self._refusal(request, "csrf", "the form expired: reload the page")
        return session, form, None

    def _refusal(self, request: Request, reason: str, text: str, status: int = 403) -> Response:
        _log.warning(
            "toolwire_console.refused", reason=reason, path=request.url.path[:200],
            client=_client(request),
        )  # fmt: skip
        return PlainTextResponse(text, status)

    def _refused(self, session: Session, grant: Grant, status: int, why: str) -> Response:
        response = self._page("refused.html", session, grant, why=why, section="")
        response.status_code = status
        return response

    def _to_sign_in(self, request: Request) -> Response:
        if request.method == "GET" and request.query_params.get("fragment"):
            return PlainTextResponse("signed out", 401)
        return RedirectResponse("/sign-in", 303)

    def _page(
        self, template: str, session: Session | None, grant: Grant | None, **values: Any
    ) -> HTMLResponse:
        fresh = session is None
        if session is None:
            session = self.sessions.new()
        text = self.templates.get_template(template).render(
            grant=grant,
            csrf=self.sessions.csrf_token(session),
            refresh=self.settings.refresh,
            run_in=self.settings.run_in,
            **values,
        )
        response = HTMLResponse(text)
        if fresh:
            self._set_cookie(response, session)
        return response

    def _set_cookie(self, response: Response, session: Session) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            self.sessions.cookie(session),
            max_age=int(self.settings.session_ttl),
            path="/",
            secure=self.settings.secure_cookies,
            httponly=True,
            samesite="strict",
        )


async def _form(request: Request) -> dict[str, str] | None:
    """An url-encoded form of at most ``MAX_FORM_BYTES``, each field's first value."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = urllib.parse.parse_qs(body.decode("utf-8"), max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "-"


def asgi_app(
    dispatcher: toolwire.Dispatcher,
    *,
    settings: Settings | None = None,
    host: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ASGIApp:
    """The console for a host to serve or mount: its pages over ``dispatcher``.

    Args:
        dispatcher: Whose approvals, tools and plugins the pages show; decisions are made
            on it, ``by=`` the signed-in principal: ``Dispatcher.approve(..., run=False)``
            (the host that holds the call runs it) and ``reject``; with ``[plugins.console]
            run_in = "console"``, ``approve`` runs the call here, so the gated tools must be
            loaded, as ``toolwire approvals approve`` needs them.
        settings: The console's settings (default: ``[plugins.console]`` of the dispatcher's
            config).
        host: The address it is served on, accepted as ``Host`` (default: the settings').
        environ: Where the sign-in tokens are read (``os.environ`` when omitted).

    Raises:
        toolwire.ConfigError: the settings are wrong, no sign-in token is configured, or a
            token's variable is unset, weak or shared.
    """
    settings = settings if settings is not None else Settings.from_config(dispatcher.config)
    sessions = Sessions(settings.grants(environ), settings.session_ttl)
    addresses = Addresses(
        host if host is not None else settings.host,
        settings.allowed_hosts,
        settings.allowed_origins,
    )
    console = Console(dispatcher, settings, sessions, addresses)
    app = Starlette(
        routes=[
            Route("/", console.home),
            Route("/approvals", console.approvals),
            Route("/approvals/{approval_id}", console.approval),
            Route(
                "/approvals/{approval_id}/{verb:str}",
                _only_verbs(console.decide),
                methods=["POST"],
            ),
            Route("/tools", console.tools),
            Route("/audit", console.audit),
            Route("/sign-in", console.sign_in_form, methods=["GET"]),
            Route("/sign-in", console.sign_in, methods=["POST"]),
            Route("/sign-out", console.sign_out, methods=["POST"]),
            Route("/static/{name}", console.static),
        ]
    )
    return _Gate(app, addresses)


def _only_verbs(endpoint: Any) -> Any:
    async def checked(request: Request) -> Response:
        if request.path_params["verb"] not in ("approve", "reject"):
            return PlainTextResponse("Not Found", 404)
        response: Response = await endpoint(request)
        return response

    return checked
