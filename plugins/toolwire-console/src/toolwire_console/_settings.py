"""The ``[plugins.console]`` table: where the console listens, who may sign in, and how."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import toolwire
from toolwire import settings

Permission = Literal["view", "approve"]
PERMISSIONS: Final[tuple[Permission, ...]] = ("view", "approve")
RunIn = Literal["host", "console"]
#: Where a call approved in the page runs: the host that holds it, or the console itself.
RUN_IN: Final[tuple[RunIn, ...]] = ("host", "console")

_TOKEN_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["env", "permission"],
    "properties": {
        "env": {**settings.ENV_NAME,
                "x-expected": "the NAME of an environment variable holding the token, never "
                "the token itself"},
        "permission": {"enum": list(PERMISSIONS), "x-expected": "view or approve"},
    },
}  # fmt: skip

#: ``[plugins.console]``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = settings.table({
    "host": {**settings.TEXT, "default": "127.0.0.1"},
    "port": {"type": "integer", "minimum": 0, "maximum": 65535, "default": 8080,
             "x-expected": "a port number"},
    "tokens": {
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z0-9_.@-]{1,64}$",
                          "x-expected": "a principal name of 1 to 64 letters, digits or "
                          "'_.@-'"},
        "additionalProperties": _TOKEN_SCHEMA,
        "default": {},
        "x-expected": "a table of principal = {env, permission}",
    },
    "allowed_hosts": {**settings.TEXTS, "default": []},
    "allowed_origins": {**settings.TEXTS, "default": []},
    "secure_cookies": {**settings.FLAG, "default": False},
    "session_ttl": {**settings.SECONDS, "default": 8 * 3600.0},
    "refresh": {**settings.SECONDS, "default": 5.0},
    "recent_calls": {**settings.COUNT, "default": 50},
    "run_in": {"enum": list(RUN_IN), "default": "host",
               "x-expected": 'host (the host that holds the call runs it) or console'},
    "sign_in_failures": {**settings.COUNT, "default": 5},
    "sign_in_failures_total": {**settings.COUNT, "default": 50},
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Grant:
    """Who a sign-in token makes you: a principal, and what it may do."""

    principal: str
    permission: Permission

    @property
    def may_decide(self) -> bool:
        return self.permission == "approve"


@dataclass(frozen=True, slots=True)
class Settings:
    """The console's settings, read from ``[plugins.console]``.

    Attributes:
        host: The address ``toolwire console`` listens on (loopback unless told otherwise).
        port: Its port (0: any free port, printed at start).
        tokens: Principal -> (environment variable holding its sign-in token, permission):
            ``view`` sees every page, ``approve`` may also approve and reject.
        allowed_hosts: ``Host`` values to accept besides the loopback names and ``host``
            (the name a reverse proxy forwards: ``console.example.com``).
        allowed_origins: ``Origin`` values a form may be posted from besides the console's
            own (``https://console.example.com`` behind a TLS proxy).
        secure_cookies: Mark the cookies ``Secure`` (served over HTTPS, as behind a TLS
            proxy); they are always ``HttpOnly`` and ``SameSite=Strict``.
        session_ttl: Seconds a sign-in lasts.
        refresh: Seconds between the live updates of the approvals page.
        recent_calls: How many audit records the audit page shows.
        run_in: Where a call approved in the page runs: ``host`` (the approval is recorded,
            ``Dispatcher.approve(..., run=False)``, and the host that holds the call runs it
            when it resumes) or ``console`` (the console runs it at once, as ``toolwire
            approvals approve`` does; it must load the same tool packs).
        sign_in_failures: Failed sign-ins one client address may make in a minute; past
            that, its sign-ins are answered 429 until the minute has passed.
        sign_in_failures_total: Failed sign-ins from every address together in a minute;
            past that, every sign-in is answered 429 until the minute has passed.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    tokens: Mapping[str, tuple[str, Permission]] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    secure_cookies: bool = False
    session_ttl: float = 8 * 3600.0
    refresh: float = 5.0
    recent_calls: int = 50
    run_in: RunIn = "host"
    sign_in_failures: int = 5
    sign_in_failures_total: int = 50

    @classmethod
    def from_config(cls, config: toolwire.Config) -> Settings:
        """Read and check ``[plugins.console]`` (the tokens themselves are read by ``grants``).

        Raises:
            toolwire.ConfigError: a key is unknown, missing or has a wrong value; each
                problem names its key and the config file.
        """
        values = settings.read_settings(config, "console", SCHEMA, check=_origin_problems)
        return cls(
            host=values["host"],
            port=values["port"],
            tokens={name: (t["env"], t["permission"]) for name, t in values["tokens"].items()},
            allowed_hosts=tuple(h.strip().lower() for h in values["allowed_hosts"]),
            allowed_origins=tuple(o.strip().lower().rstrip("/") for o in values["allowed_origins"]),
            secure_cookies=values["secure_cookies"],
            session_ttl=float(values["session_ttl"]),
            refresh=float(values["refresh"]),
            recent_calls=values["recent_calls"],
            run_in=values["run_in"],
            sign_in_failures=values["sign_in_failures"],
            sign_in_failures_total=values["sign_in_failures_total"],
        )

    def grants(self, environ: Mapping[str, str] | None = None) -> dict[bytes, Grant]:
        """Each sign-in token, read from its variable, with the grant it gives.

        Raises:
            toolwire.ConfigError: no token is configured (nobody could sign in), a variable is
                unset or holds a weak secret, or two principals share one token.
        """
        if not self.tokens:
            raise toolwire.ConfigError(
                "[plugins.console] tokens: no sign-in token is configured, so nobody could "
                'sign in; add [plugins.console.tokens.NAME] with env = "VARIABLE" and '
                'permission = "view" or "approve", and set VARIABLE to a secret'
            )
        grants: dict[bytes, Grant] = {}
        for principal, (variable, permission) in sorted(self.tokens.items()):
            token = settings.read_secret(
                variable,
                f"[plugins.console.tokens.{principal}] env",
                what="a sign-in token",
                environ=environ,
            )
            if any(hmac.compare_digest(token, known) for known in grants):
                raise toolwire.ConfigError(
                    f"[plugins.console.tokens.{principal}] env: {variable} holds the same token "
                    "as another principal's; give each principal a token of its own"
                )
            grants[token] = Grant(principal, permission)
        return grants


def _origin_problems(values: Mapping[str, Any]) -> list[str]:
    return [
        f"[plugins.console] allowed_origins: {origin!r} is not scheme://host[:port] "
        "(https://console.example.com)"
        for origin in values["allowed_origins"]
        if not origin.strip().lower().startswith(("http://", "https://"))
        or "/" in origin.strip().rstrip("/").split("://", 1)[1]
    ]
