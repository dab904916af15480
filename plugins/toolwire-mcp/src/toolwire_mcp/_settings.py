"""``[plugins.mcp]``: the servers to load, and how ``toolwire mcp serve`` lets callers in.

Every mistake is a ``toolwire.ConfigError`` that names the key and where it was written, so
a typo never quietly means "no server" or "no authentication".
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import toolwire
from toolwire import settings

_log = toolwire.get_logger("toolwire.mcp")

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_STARTUP_TIMEOUT: Final = 30.0
DEFAULT_HEADER_TIMEOUT: Final = 10.0
DEFAULT_BODY_TIMEOUT: Final = 30.0
DEFAULT_IDLE_TIMEOUT: Final = 5.0
DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024
DEFAULT_SESSIONS_PER_PRINCIPAL: Final = 16
DEFAULT_SESSION_IDLE_TIMEOUT: Final = 600.0
#: Seconds a sessionless call runs before its answer becomes an event stream, and between the
#: stream's pings: the SDK's own figure.
DEFAULT_SSE_PING_INTERVAL: Final = 15.0
#: The bytes of key material the SDK's AES-256-GCM request-state codec needs at least.
REQUEST_STATE_KEY_BYTES: Final = 32

_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")
_UNCLOSED: Final = re.compile(r"\$\{[^}]{0,20}")
#: What ``${...}`` holds: a name, then nothing, ``:-default`` or ``-default`` (as shells read it).
_REFERENCE: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?", re.DOTALL)

#: Keys other MCP clients write in an ``mcpServers`` entry that mean something here: ``type``
#: (checked), ``disabled`` (the server is not loaded), Roo Code's ``disabledTools`` and Gemini
#: CLI's ``excludeTools`` (``exclude``), Gemini CLI's ``includeTools`` (``include``) and
#: ``httpUrl`` (``url``).
_HONOURED_KEYS: Final = (
    "type",
    "disabled",
    "disabledTools",
    "excludeTools",
    "includeTools",
    "httpUrl",
)
#: The toolwire key each tool-list key of another client stands for.
_TOOL_LISTS: Final = {
    "disabledTools": "exclude",
    "excludeTools": "exclude",
    "includeTools": "include",
}
#: Keys other MCP clients write that have no meaning here: read past, said once per file.
#: Approval lists (Cline's ``autoApprove``, Roo Code's ``alwaysAllow``, Gemini CLI's ``trust``)
#: never approve anything in toolwire: approvals are the policy's (``docs/approvals.md``).
IGNORED_KEYS: Final = ("autoApprove", "alwaysAllow", "trust", "description")
#: The longest ``timeout`` in an ``mcpServers`` file, in seconds (Cline and Roo Code take up to
#: an hour); a larger number is most likely milliseconds, as Claude Code and Gemini CLI write it.
_LONGEST_JSON_TIMEOUT: Final = 3600

_TEXT: Final = settings.TEXT
_TEXTS: Final = settings.TEXTS
# The values are never shown: env and headers hold secrets.
_SECRET_TABLE: Final = {
    "type": "object",
    "additionalProperties": {"type": "string", "x-expected": "a string", "x-secret": True},
    "x-expected": "a table of strings",
    "x-secret": True,
}
_SECONDS: Final = settings.SECONDS
_COUNT: Final = settings.COUNT
_FLAG: Final = settings.FLAG

#: One server, as ``[plugins.mcp.servers.NAME]`` or an ``mcpServers`` entry sets it.
SERVER_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "command": _TEXT,
        "args": _TEXTS,
        "env": _SECRET_TABLE,
        "cwd": _TEXT,
        "url": _TEXT,
        "headers": _SECRET_TABLE,
        "prefix": {"type": "string", "x-expected": "a string"},
        "include": _TEXTS,
        "exclude": _TEXTS,
        "timeout": {**_SECONDS, "default": DEFAULT_TIMEOUT},
        "startup_timeout": {**_SECONDS, "default": DEFAULT_STARTUP_TIMEOUT},
        "trust_annotations": {**_FLAG, "default": False},
    },
}

_OAUTH_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "required": ["issuer", "resource"],
    "properties": {
        "issuer": {**_TEXT, "x-expected": "a URL"},
        "resource": {**_TEXT, "x-expected": "a URL"},
        "introspection_endpoint": {**_TEXT, "x-expected": "a URL"},
        "client_id": _TEXT,
        "client_secret_env": settings.ENV_NAME,
        "role_claim": _TEXT,
        "scopes": {"type": "object", "additionalProperties": {"type": "string"},
                   "x-expected": "a table of scope = role"},
        "require_audience": {**_FLAG, "default": True},
    },
}  # fmt: skip

_SERVE_SCHEMA: Final = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "tokens": {
            "type": "object",
            "additionalProperties": {
                "type": "string",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "x-expected": "the NAME of an environment variable holding the token, never "
                "the token itself",
                "x-secret": True,
            },
            "x-expected": "a table of role = variable name",
        },
        "anonymous_role": {**_TEXT, "x-expected": "a role name"},
        "oauth": _OAUTH_SCHEMA,
        "host": {**_TEXT, "default": "127.0.0.1"},
        "port": {"type": "integer", "minimum": 0, "maximum": 65535, "default": 8000,
                 "x-expected": "a port number"},
        "path": {"type": "string", "pattern": "^/", "default": "/mcp",
                 "x-expected": "a path that starts with '/'"},
        "allowed_hosts": {**_TEXTS, "default": []},
        "allowed_origins": {**_TEXTS, "default": []},
        "max_connections": _COUNT,
        "header_timeout": {**_SECONDS, "default": DEFAULT_HEADER_TIMEOUT},
        "body_timeout": {**_SECONDS, "default": DEFAULT_BODY_TIMEOUT},
        "idle_timeout": {**_SECONDS, "default": DEFAULT_IDLE_TIMEOUT},
        "max_body_bytes": {**_COUNT, "default": DEFAULT_MAX_BODY_BYTES},
        "max_sessions_per_principal": {**_COUNT, "default": DEFAULT_SESSIONS_PER_PRINCIPAL},
        "session_idle_timeout": {**_SECONDS, "default": DEFAULT_SESSION_IDLE_TIMEOUT},
        "sse_ping_interval": {"type": "number", "minimum": 0.1, "maximum": 3600,
                              "default": DEFAULT_SSE_PING_INTERVAL,
                              "x-expected": "seconds, from 0.1 to 3600"},
        "request_state_key_env": settings.ENV_NAME,
        "elicit_approvals": {"type": "boolean", "default": True, "x-expected": "true or false"},
    },
}  # fmt: skip

#: ``[plugins.mcp]``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = settings.table({
    "config": {**settings.PATH, "x-expected": "a file path"},
    "servers": {
        "type": "object",
        "propertyNames": {"pattern": "^[A-Za-z0-9_-]{1,48}$",
                          "x-expected": "a server name of 1 to 48 letters, digits, '_' or '-'"},
        "additionalProperties": SERVER_SCHEMA,
        "x-expected": "a table of servers",
    },
    "serve": {**_SERVE_SCHEMA, "default": {}, "x-expected": "a table"},
})  # fmt: skip

#: ``name``, ``name:port`` or ``name:*``; a name is a DNS name, an IPv4 address or ``[IPv6]``.
_HOST_PATTERN: Final = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:(\d{1,5}|\*))?"
)
#: ``scheme://host[:port]`` (``:*`` for any port), as a browser sends ``Origin``.
_ORIGIN_PATTERN: Final = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)"
    r"(:(\d{1,5}|\*))?"
)


@dataclass(frozen=True)
class ServerSettings:
    """One MCP server to load as the tool pack ``mcp.NAME``.

    Attributes:
        name: The server's name (``[plugins.mcp.servers.NAME]`` or the ``mcpServers`` key).
        source: Where it was configured, for messages.
        command: The program to run (stdio transport), or ``None`` for a URL.
        args: Its arguments, ``${VAR}`` expanded.
        env: Variables added to the inherited environment, ``${VAR}`` expanded.
        cwd: Its working directory.
        url: The streamable HTTP endpoint, or ``None`` for a command.
        headers: HTTP headers sent with every request, ``${VAR}`` expanded.
        prefix: Put before each tool's name (default ``NAME_``).
        include: Only these tools (remote names), when given.
        exclude: Never these tools (remote names).
        timeout: Seconds a call may take unless the tool's policy says otherwise.
        startup_timeout: Seconds the server has to start and list its tools.
        trust_annotations: Whether the server's behaviour hints become the tools' policy.
    """

    name: str
    source: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    prefix: str = ""
    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    timeout: float = DEFAULT_TIMEOUT
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    trust_annotations: bool = False
    #: Tools excluded by Roo Code's ``disabledTools``, which it keeps after a tool is gone: a
    #: name the server no longer offers is a note, not a stop.
    stale_ok: frozenset[str] = frozenset()
    #: The key ``exclude`` came from, as the user wrote it (``mcpServers.NAME.excludeTools in
    #: FILE``), for messages; ``None`` for ``[plugins.mcp.servers.NAME] exclude``.
    exclude_key: str | None = None

    def describe(self) -> str:
        """What runs, for messages: the command line or the URL (never header values)."""
        if self.command is not None:
            return " ".join([self.command, *self.args])
        return str(self.url)


@dataclass(frozen=True)
class OAuthSettings:
    """An OAuth 2.1 resource server: tokens checked by introspection (RFC 7662).

    Attributes:
        issuer: The authorization server's URL (sent in the protected-resource metadata).
        resource: This server's own URL, the resource the tokens must be issued for.
        introspection_endpoint: Where tokens are checked.
        client_id: The client id this server introspects as, if the endpoint wants one.
        client_secret_env: The environment variable holding that client's secret.
        role_claim: A claim whose value is the caller's role.
        scopes: Scope -> role, in order of precedence: the first scope the token has wins.
        require_audience: A token must name ``resource`` in its audience (RFC 8707); with
            ``False``, a token that names no audience at all is accepted too (weaker: a token
            the same server issued for another resource then works here).
    """

    issuer: str
    resource: str
    introspection_endpoint: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    role_claim: str | None = None
    scopes: Mapping[str, str] = field(default_factory=dict)
    require_audience: bool = True


@dataclass(frozen=True)
class ServeSettings:
    """``[plugins.mcp.serve]``: who may call over HTTP, as which role, and how much they get.

    Attributes:
        tokens: Role -> name of the environment variable holding that role's bearer token.
        anonymous_role: The role of a request without a token; ``None`` answers it 401.
        oauth: The OAuth resource-server settings, if any.
        host: Default ``--host``.
        port: Default ``--port``.
        path: Where the MCP endpoint is mounted.
        allowed_hosts: ``Host`` values accepted besides the loopback names and the address
            served on: ``name`` (any port), ``name:port`` or ``name:*``.
        allowed_origins: ``Origin`` values accepted (``scheme://host[:port]``, ``:*`` for any
            port); a request without ``Origin`` is accepted, any other gets 403.
        max_connections: Connections held at once (``toolwire mcp serve``); ``None`` is 512,
            or fewer when the process may not open that many files.
        header_timeout: Seconds a client has to send a request's line and headers.
        body_timeout: Seconds a client has to send a request's body once its headers are in.
        idle_timeout: Seconds a kept-alive connection may wait for its next request.
        max_body_bytes: The largest request body accepted (413 above it).
        max_sessions_per_principal: Sessions one caller may hold at once (429 above it).
        session_idle_timeout: Seconds a session may go without a request before it ends.
        sse_ping_interval: Seconds a sessionless (2026-07-28) call may run before its answer
            becomes an event stream (``text/event-stream``), and then between the stream's
            ``: ping`` comments, which keep a proxy's idle timeout from closing it.
        request_state_key_env: The environment variable holding the key that seals the
            ``requestState`` of 2026-07-28 input-required results, shared by every server
            process a client's retry may reach; ``None``: a key made at start, known to that
            process only.
        elicit_approvals: Whether a call that needs approval asks the person behind a client
            that can elicit (the client's own person decides); ``False``: such a call always
            answers ``approval_required``, to be decided out of band (``toolwire approvals``,
            the console).
    """

    tokens: Mapping[str, str] = field(default_factory=dict)
    anonymous_role: str | None = None
    oauth: OAuthSettings | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    path: str = "/mcp"
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_connections: int | None = None
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_sessions_per_principal: int = DEFAULT_SESSIONS_PER_PRINCIPAL
    session_idle_timeout: float = DEFAULT_SESSION_IDLE_TIMEOUT
    sse_ping_interval: float = DEFAULT_SSE_PING_INTERVAL
    request_state_key_env: str | None = None
    elicit_approvals: bool = True

    def request_state_key(self, environ: Mapping[str, str] | None = None) -> bytes | None:
        """The shared request-state key: the text of the variable ``request_state_key_env``
        names, as UTF-8 bytes; ``None`` when no variable is named (each process makes its own).
        The messages never show it.

        Raises:
            toolwire.ConfigError: the variable is unset or empty, holds fewer than 32 bytes
                (the AES-256 key material the SDK's codec needs), or too little variety to be
                a secret (``toolwire.settings.read_secret``).
        """
        if self.request_state_key_env is None:
            return None
        where = "[plugins.mcp.serve] request_state_key_env"
        variable = self.request_state_key_env
        if not (os.environ if environ is None else environ).get(variable):
            raise toolwire.ConfigError(
                f"{where}: the environment variable {variable} is not set; set it to a key of "
                f"at least {REQUEST_STATE_KEY_BYTES} random bytes (make one with "
                f"{settings.MAKE_A_SECRET}), the same in every server process a client's retry "
                "may reach, or remove request_state_key_env (each process then makes its own)"
            )
        key = settings.read_secret(variable, where, what="a request-state key", environ=environ)
        if len(key) < REQUEST_STATE_KEY_BYTES:
            raise toolwire.ConfigError(
                f"{where}: {variable} holds {len(key)} bytes; a request-state "
                f"key needs at least {REQUEST_STATE_KEY_BYTES}; make one with "
                f"{settings.MAKE_A_SECRET}"
            )
        return key


@dataclass(frozen=True)
class Settings:
    """The whole ``[plugins.mcp]`` table, checked.

    Attributes:
        servers: The servers to load, by name, in config order.
        serve: The serving settings.
        ignored: Other MCP clients' keys the ``mcpServers`` file holds that mean nothing
            here, sorted (``IGNORED_KEYS``), and ``ignored_in`` that file.
    """

    servers: Mapping[str, ServerSettings] = field(default_factory=dict)
    serve: ServeSettings = field(default_factory=ServeSettings)
    ignored: tuple[str, ...] = ()
    ignored_in: str = ""

    def note_ignored(self) -> None:
        """Log, once for the file, the other MCP clients' keys its ``mcpServers`` file holds
        that mean nothing here (called by the plugin once per start, not per read)."""
        if self.ignored:
            _log.info(
                "toolwire_mcp.keys_ignored",
                file=self.ignored_in,
                keys=list(self.ignored),
                reason="other MCP clients' keys with no meaning in toolwire (approvals come "
                "from toolwire's policy, never from this file)",
            )

    @classmethod
    def from_config(
        cls, config: toolwire.Config, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read ``[plugins.mcp]`` of ``config``.

        A relative ``config`` (the ``mcpServers`` file) and a server's relative ``cwd`` are
        taken from the config file's directory; ``toolwire check`` prints both.

        Raises:
            toolwire.ConfigError: an unknown key (with the closest known one), a value of the
                wrong type, a server both or neither of ``command`` and ``url``, a ``${VAR}``
                that is not set, an unreadable ``config`` file, or a server named twice.
        """
        env = os.environ if environ is None else environ
        where = f"[plugins.mcp] in {config.describe()}"
        table = settings.read_settings(config, "mcp", SCHEMA)
        servers: dict[str, ServerSettings] = {}
        ignored: tuple[str, ...] = ()
        if "config" in table:
            from_file, ignored = read_mcp_json(table["config"], env)
            servers.update(from_file)
        for name, values in table.get("servers", {}).items():
            if name in servers:
                raise toolwire.ConfigError(
                    f"{where}: server {name!r} is configured twice: in [plugins.mcp.servers] "
                    f"and in {servers[name].source}"
                )

            def resolve(cwd: str, name: str = name) -> str:
                return str(config.resolve_path(cwd, f"plugins.mcp.servers.{name}.cwd"))

            servers[name] = server_settings(
                name, values, f"[plugins.mcp.servers.{name}] in {config.describe()}", env, resolve
            )
        file = str(table["config"]) if ignored else ""
        return cls(servers, serve_settings(table["serve"], where), ignored, file)


def read_mcp_json(
    path: Path, environ: Mapping[str, str]
) -> tuple[dict[str, ServerSettings], tuple[str, ...]]:
    """The servers of an ``mcpServers`` JSON file (the format desktop assistants and IDEs use).

    Each entry has ``command``/``args``/``env``/``cwd`` or ``url``/``headers``; toolwire's own
    server keys are accepted. Keys other clients write are honoured where they mean something
    here (``type``, ``disabled``, ``timeout`` in seconds as Cline and Roo Code write it, the
    tool lists ``disabledTools``, ``excludeTools`` and ``includeTools``) and otherwise read past
    (``IGNORED_KEYS``) with one log note for the file; any other key is an error with the
    closest known one. ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` are expanded as
    shells expand them; a ``cwd`` is used as the file gives it.

    Raises:
        toolwire.ConfigError: the file cannot be read or is not such a file, or an entry is wrong.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise toolwire.ConfigError(
            f"[plugins.mcp] config: cannot read {path}: {exc.strerror}"
        ) from None
    except ValueError as exc:
        raise toolwire.ConfigError(f"[plugins.mcp] config: {path} is not JSON: {exc}") from None
    servers = data.get("mcpServers") if isinstance(data, Mapping) else None
    if not isinstance(servers, Mapping):
        raise toolwire.ConfigError(
            f'{path}: expected a JSON object with an "mcpServers" object of servers'
        )
    found: dict[str, ServerSettings] = {}
    ignored: set[str] = set()
    known = (*SERVER_SCHEMA["properties"], *_HONOURED_KEYS, *IGNORED_KEYS)
    for name, values in servers.items():
        where = f"mcpServers.{name} in {path}"
        if not isinstance(values, Mapping):
            raise toolwire.ConfigError(f"{where}: a server is a JSON object")
        disabled = values.get("disabled", False)
        if not isinstance(disabled, bool):
            raise toolwire.ConfigError(f"{where}: disabled must be true or false")
        if disabled:
            continue
        ignored.update(k for k in IGNORED_KEYS if k in values)
        _check_type(values, where)
        own = {k: v for k, v in values.items() if k not in _HONOURED_KEYS and k not in IGNORED_KEYS}
        if "httpUrl" in values:  # Gemini CLI's streamable HTTP endpoint
            if "url" in values:
                raise toolwire.ConfigError(f"{where}: give url or httpUrl, not both")
            own["url"] = values["httpUrl"]
        problems = [
            f"unknown key mcpServers.{name}.{key} (did you mean {_closest(key, known)!r}?)"
            for key in list(own)
            if key not in SERVER_SCHEMA["properties"] and _closest(key, known)
        ]
        own = {k: v for k, v in own.items() if not problems or not _closest(k, known)}
        problems += settings.settings_problems(own, SERVER_SCHEMA, ("mcpServers", name))
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,48}", name):
            problems.append(f"server name {name!r} must be 1 to 48 letters, digits, '_' or '-'")
        problems += [f"mcpServers.{name}.{p}" for p in _tool_lists(values, own)]
        timeout = own.get("timeout")
        if isinstance(timeout, int | float) and timeout > _LONGEST_JSON_TIMEOUT:
            problems.append(
                f"mcpServers.{name}.timeout: {timeout:g} seconds is more than an hour; timeout "
                "is in seconds here, as Cline and Roo Code write it (Claude Code and Gemini CLI "
                f"write milliseconds): for {timeout:g} ms write {timeout / 1000:g}"
            )
        settings.raise_problems(str(path), problems)
        own = {**{k: SERVER_SCHEMA["properties"][k]["default"] for k in _SERVER_DEFAULTS}, **own}
        found[name] = server_settings(name, own, where, environ)
        listed = [k for k in ("disabledTools", "excludeTools") if k in values]
        if listed:
            stale_ok: list[str] = values.get("disabledTools", [])
            found[name] = dataclasses.replace(
                found[name],
                stale_ok=frozenset(stale_ok),
                exclude_key=f"mcpServers.{name}.{'/'.join(listed)} in {path}",
            )
    return found, tuple(sorted(ignored))


def _closest(key: str, known: tuple[str, ...]) -> str | None:
    """The known key ``key`` most likely stands for, when it is not known itself."""
    if key in SERVER_SCHEMA["properties"]:
        return None
    for name in known:
        if name.lower() == key.lower():
            return name
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return match[0] if match else None


def _check_type(values: Mapping[str, Any], where: str) -> None:
    """``type`` (any case) says stdio or streamable HTTP, and agrees with command or url."""
    kind = values.get("type")
    if kind is None:
        return
    if not isinstance(kind, str) or kind.lower() not in (
        "stdio",
        "http",
        "streamable-http",
        "streamablehttp",
    ):
        raise toolwire.ConfigError(
            f"{where}: type {kind!r} is not supported; use a command (stdio) or a "
            "streamable HTTP url"
        )
    has_url = "url" in values or "httpUrl" in values
    if kind.lower() == "stdio" and has_url:
        raise toolwire.ConfigError(
            f"{where}: type is 'stdio' but a url is given: a stdio server has a command; for "
            "a streamable HTTP server write type 'http' (or leave type out)"
        )
    if kind.lower() != "stdio" and "command" in values:
        raise toolwire.ConfigError(
            f"{where}: type is {kind!r} but a command is given: an HTTP server has a url; for "
            "a server to run write type 'stdio' (or leave type out)"
        )


def _tool_lists(values: Mapping[str, Any], own: dict[str, Any]) -> list[str]:
    """Other clients' tool lists, put into ``own`` as ``exclude``/``include``; the problems."""
    problems: list[str] = []
    for key, meaning in _TOOL_LISTS.items():
        if key not in values:
            continue
        listed = values[key]
        if not isinstance(listed, list) or not all(isinstance(t, str) for t in listed):
            problems.append(f"{key}: expected a list of tool names")
        elif meaning in own and meaning == "include":
            problems.append(f"{key} and include both list the tools to load: keep one")
        else:
            own[meaning] = [*own.get(meaning, []), *listed]
    return problems


_SERVER_DEFAULTS: Final = ("timeout", "startup_timeout", "trust_annotations")


def server_settings(
    name: str,
    values: Mapping[str, Any],
    where: str,
    environ: Mapping[str, str],
    resolve: Callable[[str], str] | None = None,
) -> ServerSettings:
    """One server's settings, from values ``SERVER_SCHEMA`` holds (defaults filled in).

    Args:
        resolve: Makes a ``cwd`` absolute (after ``${VAR}`` expansion); kept as given without.

    Raises:
        toolwire.ConfigError: what is wrong, naming the key and ``where``.
    """
    command, url = values.get("command"), values.get("url")
    if (command is None) == (url is None):
        raise toolwire.ConfigError(
            f"{where}: give either command (a program to run) or url (a streamable HTTP "
            "endpoint), not both or neither"
        )
    if command is not None and ("headers" in values):
        raise toolwire.ConfigError(f"{where}: headers go with url, not with command")
    if url is not None and any(k in values for k in ("args", "env", "cwd")):
        raise toolwire.ConfigError(f"{where}: args, env and cwd go with command, not with url")

    def expand(value: str, key: str) -> str:
        return _expand(value, f"{where}: {key}", environ)

    cwd = expand(values["cwd"], "cwd") if "cwd" in values else None
    if cwd is not None and resolve is not None:
        cwd = resolve(cwd)
    if cwd is not None and not os.path.isdir(cwd):
        raise toolwire.ConfigError(
            f"{where}: cwd {cwd!r} is not a directory"
            + ("" if os.path.isabs(cwd) else f" (relative to {os.getcwd()!r})")
            + ": create it, or correct the path"
        )
    include = values.get("include")
    return ServerSettings(
        name=name,
        source=where,
        command=expand(command, "command") if command is not None else None,
        args=tuple(expand(a, "args") for a in values.get("args", [])),
        env={k: expand(v, f"env.{k}") for k, v in values.get("env", {}).items()},
        cwd=cwd,
        url=expand(url, "url") if url is not None else None,
        headers={k: expand(v, f"headers.{k}") for k, v in values.get("headers", {}).items()},
        prefix=values.get("prefix", f"{name}_"),
        include=frozenset(include) if include is not None else None,
        exclude=frozenset(values.get("exclude", [])),
        timeout=float(values["timeout"]),
        startup_timeout=float(values["startup_timeout"]),
        trust_annotations=values["trust_annotations"],
    )


def serve_settings(values: Mapping[str, Any], where: str) -> ServeSettings:
    """``[plugins.mcp.serve]``, from values ``SCHEMA`` holds (token variables are read when
    serving starts).

    Raises:
        toolwire.ConfigError: an allowed host or origin that is not one, an OAuth table
            that says nowhere a role comes from.
    """
    where = f"{where} serve"
    oauth = values.get("oauth")
    return ServeSettings(
        tokens=dict(values.get("tokens", {})),
        anonymous_role=values.get("anonymous_role"),
        oauth=_oauth(oauth, f"{where}.oauth") if oauth is not None else None,
        host=values["host"],
        port=values["port"],
        path=values["path"],
        allowed_hosts=tuple(
            host_pattern(h, f"{where}.allowed_hosts") for h in values["allowed_hosts"]
        ),
        allowed_origins=tuple(
            origin_pattern(o, f"{where}.allowed_origins") for o in values["allowed_origins"]
        ),
        max_connections=values.get("max_connections"),
        header_timeout=float(values["header_timeout"]),
        body_timeout=float(values["body_timeout"]),
        idle_timeout=float(values["idle_timeout"]),
        max_body_bytes=values["max_body_bytes"],
        max_sessions_per_principal=values["max_sessions_per_principal"],
        session_idle_timeout=float(values["session_idle_timeout"]),
        sse_ping_interval=float(values["sse_ping_interval"]),
        request_state_key_env=values.get("request_state_key_env"),
        elicit_approvals=values["elicit_approvals"],
    )


def host_pattern(value: str, where: str) -> str:
    """An ``allowed_hosts`` entry, checked and lower-cased.

    Raises:
        toolwire.ConfigError: it is not ``name``, ``name:port`` or ``name:*`` (a bare ``*``,
            a URL or a path included: a wildcard host would switch the check off).
    """
    if not _HOST_PATTERN.fullmatch(value):
        raise toolwire.ConfigError(
            f"{where}: {value!r} is not a host: give a name or address as clients write it in "
            "the Host header, with :PORT or :* if you like (no scheme, no path, no wildcard "
            "name)"
        )
    return value.lower()


def origin_pattern(value: str, where: str) -> str:
    """An ``allowed_origins`` entry, checked and lower-cased (a trailing ``/`` dropped).

    Raises:
        toolwire.ConfigError: it is not ``scheme://host[:port]`` (``*`` and ``null`` included:
            either would let any web page call).
    """
    origin = value.removesuffix("/")
    if not _ORIGIN_PATTERN.fullmatch(origin):
        raise toolwire.ConfigError(
            f"{where}: {value!r} is not an origin: give scheme://host[:port] as a browser "
            "sends it (for example https://app.example or http://localhost:*); '*' and "
            "'null' are refused, they would let any web page call the tools"
        )
    return origin.lower()


def _oauth(values: Mapping[str, Any], where: str) -> OAuthSettings:
    scopes = dict(values.get("scopes", {}))
    claim = values.get("role_claim")
    if claim is None and not scopes:
        raise toolwire.ConfigError(
            f"{where}: say where a caller's role comes from: role_claim (a claim naming the "
            "role) or scopes (scope -> role)"
        )
    return OAuthSettings(
        issuer=values["issuer"],
        resource=values["resource"],
        introspection_endpoint=values.get("introspection_endpoint"),
        client_id=values.get("client_id"),
        client_secret_env=values.get("client_secret_env"),
        role_claim=claim,
        scopes=scopes,
        require_audience=values["require_audience"],
    )


def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    """``${VAR}``, ``${VAR:-default}`` (also when empty) and ``${VAR-default}`` (only when
    unset) as shells expand them; a default is used as written, never expanded again.

    Raises:
        toolwire.ConfigError: ``${VAR}`` whose variable is not set, or ``${...}`` that holds
            no variable name.
    """

    def variable(match: re.Match[str]) -> str:
        reference = _REFERENCE.fullmatch(match.group(1))
        if reference is None:
            raise toolwire.ConfigError(
                f"{where}: {match.group(0)!r} names no environment variable; write ${{NAME}}, "
                "${NAME:-default} or ${NAME-default} (NAME: letters, digits and '_')"
            )
        name, operator, default = reference.groups()
        found = environ.get(name)
        if operator == ":-" and not found:
            return str(default)
        if operator == "-" and found is None:
            return str(default)
        if found is None:
            raise toolwire.ConfigError(
                f"{where}: the environment variable {name!r} is not set (used as ${{{name}}}); "
                f"set it, or give a default: ${{{name}:-default}}"
            )
        return found

    expanded = _VARIABLE.sub(variable, value)
    left = _VARIABLE.sub("", value)
    if "${" in left:
        raise toolwire.ConfigError(
            f"{where}: '${{' without its closing '}}' ({_UNCLOSED.search(left).group(0)!r}); "  # type: ignore[union-attr]
            "write ${NAME}, ${NAME:-default} or ${NAME-default}"
        )
    return expanded
