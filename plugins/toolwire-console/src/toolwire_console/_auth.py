"""Sign-in, sessions and the checks every request passes: ``Host``, ``Origin``, CSRF.

A session is a signed cookie (HMAC-SHA256 under a key made when the console starts, so a
restart signs everyone out): a random id, the principal (none before sign-in) and an expiry.
Every visitor has one, so every form, the sign-in form included, carries a CSRF token: the
HMAC of the session's id, checked against the cookie sent with the post. A post without the
cookie, without the token, or from another origin is refused; there is no exemption.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from ._settings import Grant

SESSION_COOKIE: Final = "toolwire_console"
_LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True, slots=True)
class Session:
    """One browser's session: its id, who signed in (``None`` before), and until when."""

    id: str
    principal: str | None
    expires: float


class Sessions:
    """Makes and reads session cookies and CSRF tokens; knows the sign-in tokens.

    Args:
        grants: Sign-in token -> grant (``Settings.grants``).
        ttl: Seconds a session lasts.
    """

    def __init__(self, grants: Mapping[bytes, Grant], ttl: float) -> None:
        self._key = secrets.token_bytes(32)
        self._grants = dict(grants)
        self._by_principal = {g.principal: g for g in grants.values()}
        self._ttl = ttl
        self._ended: set[str] = set()

    def new(self, principal: str | None = None) -> Session:
        """A new session (a new id: signing in never keeps the id a visitor had before)."""
        return Session(secrets.token_urlsafe(18), principal, time.time() + self._ttl)

    def cookie(self, session: Session) -> str:
        """The cookie's value: the session, signed."""
        body = json.dumps([session.id, session.principal, session.expires], separators=(",", ":"))
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{payload}.{self._sign('session', payload)}"

    def read(self, value: str | None) -> Session | None:
        """The session a cookie holds, or ``None`` when it is absent, forged, expired or ended."""
        if not value or len(value) > 1024 or "." not in value:
            return None
        payload, _, signature = value.rpartition(".")
        if not hmac.compare_digest(signature, self._sign("session", payload)):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            sid, principal, expires = json.loads(raw)
        except (ValueError, TypeError):
            return None
        session = Session(str(sid), principal if isinstance(principal, str) else None, expires)
        if not isinstance(expires, int | float) or expires < time.time() or sid in self._ended:
            return None
        return session

    def end(self, session: Session) -> None:
        """Sign a session out: its cookie is refused from now on, in this process."""
        self._ended.add(session.id)

    def csrf_token(self, session: Session) -> str:
        """The token every form of this session carries."""
        return self._sign("csrf", session.id)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        """Whether a posted token is this session's."""
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def grant_of(self, token: str) -> Grant | None:
        """The grant a sign-in token gives, compared in constant time with every known one."""
        given = token.encode("utf-8", "surrogateescape")
        found: Grant | None = None
        for known, grant in self._grants.items():
            if hmac.compare_digest(given, known):
                found = grant
        return found

    def grant_for(self, session: Session | None) -> Grant | None:
        """The signed-in principal's grant, as configured now (``None`` when signed out)."""
        if session is None or session.principal is None:
            return None
        return self._by_principal.get(session.principal)

    def _sign(self, purpose: str, text: str) -> str:
        mac = hmac.new(self._key, f"{purpose}|{text}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=")


class Addresses:
    """Which ``Host`` and ``Origin`` values name this console.

    Args:
        host: The address served on; a ``Host`` naming it (or a loopback name) is accepted.
        allowed_hosts: More ``Host`` names, ``name`` (any port) or ``name:port``.
        allowed_origins: ``scheme://host[:port]`` values a form may come from besides the
            console's own origin (the ``Host`` the request came to).
    """

    def __init__(
        self, host: str, allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()
    ) -> None:
        bound = host.strip().lower()
        if ":" in bound and not bound.startswith("["):
            bound = f"[{bound}]"
        self._hosts = {*_LOOPBACK_NAMES, bound, *(h.strip().lower() for h in allowed_hosts)}
        self._origins = frozenset(o.strip().lower().rstrip("/") for o in allowed_origins)

    def host_ok(self, value: str | None) -> bool:
        """Whether a ``Host`` header names this console (DNS rebinding is refused)."""
        if not value:
            return False
        value = value.strip().lower()
        if value in self._hosts:
            return True
        name, _, port = value.rpartition(":")
        return bool(name) and port.isdigit() and name in self._hosts

    def origin_ok(self, origin: str | None, host: str | None, scheme: str) -> bool:
        """Whether a post's ``Origin`` is this console's own or an allowed one.

        A post without ``Origin`` is refused: every browser sends one with a form post.
        """
        if not origin or not host:
            return False
        origin = origin.strip().lower()  # as browsers send it: no path, no trailing slash
        return origin == f"{scheme}://{host.strip().lower()}" or origin in self._origins
