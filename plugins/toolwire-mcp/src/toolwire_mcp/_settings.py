"""``[plugins.mcp]``: the servers to load, and how ``toolwire mcp serve`` lets callers in.

Every mistake is a ``toolwire.ConfigError`` that names the key and where it was written, so
a typo never quietly means "no server" or "no authentication".
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import toolwire

DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_STARTUP_TIMEOUT: Final = 30.0

_SERVER_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
_VARIABLE: Final = re.compile(r"\$\{([^}]*)\}")

_TOP_KEYS: Final = ("servers", "config", "serve")
_SERVER_KEYS: Final = (
    "command",
    "args",
    "env",
    "cwd",
    "url",
    "headers",
    "prefix",
    "include",
    "exclude",
    "timeout",
    "startup_timeout",
    "trust_annotations",
)
#: Keys of an ``mcpServers`` entry that belong to the hosts that wrote the file.
_JSON_ONLY_KEYS: Final = ("type", "disabled")
_SERVE_KEYS: Final = ("tokens", "anonymous_role", "oauth", "host", "port", "path")
_OAUTH_KEYS: Final = (
    "issuer",
    "resource",
    "introspection_endpoint",
    "client_id",
    "client_secret_env",
    "role_claim",
    "scopes",
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
    """

    issuer: str
    resource: str
    introspection_endpoint: str | None = None
    client_id: str | None = None
    client_secret_env: str | None = None
    role_claim: str | None = None
    scopes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServeSettings:
    """``[plugins.mcp.serve]``: who may call over HTTP, and as which role.

    Attributes:
        tokens: Role -> name of the environment variable holding that role's bearer token.
        anonymous_role: The role of a request without a token; ``None`` answers it 401.
        oauth: The OAuth resource-server settings, if any.
        host: Default ``--host``.
        port: Default ``--port``.
        path: Where the MCP endpoint is mounted.
    """

    tokens: Mapping[str, str] = field(default_factory=dict)
    anonymous_role: str | None = None
    oauth: OAuthSettings | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    path: str = "/mcp"


@dataclass(frozen=True)
class Settings:
    """The whole ``[plugins.mcp]`` table, checked.

    Attributes:
        servers: The servers to load, by name, in config order.
        serve: The serving settings.
    """

    servers: Mapping[str, ServerSettings] = field(default_factory=dict)
    serve: ServeSettings = field(default_factory=ServeSettings)

    @classmethod
    def from_config(
        cls, config: toolwire.Config, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Read ``[plugins.mcp]`` of ``config``.

        Raises:
            toolwire.ConfigError: an unknown key (with the closest known one), a value of the
                wrong type, a server both or neither of ``command`` and ``url``, a ``${VAR}``
                that is not set, an unreadable ``config`` file, or a server named twice.
        """
        env = os.environ if environ is None else environ
        where = f"[plugins.mcp] in {config.describe()}"
        table = config.plugin_settings("mcp")
        _no_unknown(table, _TOP_KEYS, where)
        servers: dict[str, ServerSettings] = {}
        file = table.get("config")
        if file is not None:
            if not isinstance(file, str) or not file:
                raise toolwire.ConfigError(f"{where}: config must be a file path, got {file!r}")
            base = Path(config.source).parent if config.source else Path.cwd()
            servers.update(read_mcp_json(base / file, env))
        declared = table.get("servers", {})
        if not isinstance(declared, Mapping):
            raise toolwire.ConfigError(f"{where}: servers must be a table of servers")
        for name, values in declared.items():
            if name in servers:
                raise toolwire.ConfigError(
                    f"{where}: server {name!r} is configured twice: in [plugins.mcp.servers] "
                    f"and in {servers[name].source}"
                )
            servers[name] = server_settings(
                name, values, f"[plugins.mcp.servers.{name}] in {config.describe()}", env
            )
        return cls(servers, serve_settings(table.get("serve", {}), where))


def read_mcp_json(path: Path, environ: Mapping[str, str]) -> dict[str, ServerSettings]:
    """The servers of an ``mcpServers`` JSON file (the format desktop assistants and IDEs use).

    Each entry has ``command``/``args``/``env``/``cwd`` or ``url``/``headers``; ``type``
    (``stdio``, ``http``, ``streamable-http``) and ``disabled`` are read too, and toolwire's
    own server keys are accepted. ``${VAR}`` is expanded from the environment.

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
    for name, values in servers.items():
        where = f"mcpServers.{name} in {path}"
        if not isinstance(values, Mapping):
            raise toolwire.ConfigError(f"{where}: a server is a JSON object")
        if values.get("disabled") is True:
            continue
        kind = values.get("type", "stdio" if "command" in values else "http")
        if kind not in ("stdio", "http", "streamable-http", "streamableHttp"):
            raise toolwire.ConfigError(
                f"{where}: type {kind!r} is not supported; use a command (stdio) or a "
                "streamable HTTP url"
            )
        own = {k: v for k, v in values.items() if k not in _JSON_ONLY_KEYS}
        found[name] = server_settings(name, own, where, environ)
    return found


def server_settings(
    name: str, values: Any, where: str, environ: Mapping[str, str]
) -> ServerSettings:
    """One server's settings, checked.

    Raises:
        toolwire.ConfigError: what is wrong, naming the key and ``where``.
    """
    if not isinstance(name, str) or not _SERVER_NAME.match(name):
        raise toolwire.ConfigError(
            f"{where}: server name {name!r} must be 1 to 48 letters, digits, '_' or '-'"
        )
    if not isinstance(values, Mapping):
        raise toolwire.ConfigError(f"{where}: a server is a table of settings")
    _no_unknown(values, _SERVER_KEYS, where)
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

    timeout = _seconds(values.get("timeout", DEFAULT_TIMEOUT), f"{where}: timeout")
    startup = _seconds(
        values.get("startup_timeout", DEFAULT_STARTUP_TIMEOUT), f"{where}: startup_timeout"
    )
    prefix = values.get("prefix", f"{name}_")
    if not isinstance(prefix, str):
        raise toolwire.ConfigError(f"{where}: prefix must be a string, got {prefix!r}")
    trust = values.get("trust_annotations", False)
    if not isinstance(trust, bool):
        raise toolwire.ConfigError(f"{where}: trust_annotations must be true or false")
    include = values.get("include")
    return ServerSettings(
        name=name,
        source=where,
        command=expand(_text(command, f"{where}: command"), "command")
        if command is not None
        else None,
        args=tuple(expand(a, "args") for a in _texts(values.get("args", []), f"{where}: args")),
        env={
            k: expand(v, f"env.{k}")
            for k, v in _text_table(values.get("env", {}), f"{where}: env").items()
        },
        cwd=expand(_text(values["cwd"], f"{where}: cwd"), "cwd") if "cwd" in values else None,
        url=expand(_text(url, f"{where}: url"), "url") if url is not None else None,
        headers={
            k: expand(v, f"headers.{k}")
            for k, v in _text_table(values.get("headers", {}), f"{where}: headers").items()
        },
        prefix=prefix,
        include=frozenset(_texts(include, f"{where}: include")) if include is not None else None,
        exclude=frozenset(_texts(values.get("exclude", []), f"{where}: exclude")),
        timeout=timeout,
        startup_timeout=startup,
        trust_annotations=trust,
    )


def serve_settings(values: Any, where: str) -> ServeSettings:
    """``[plugins.mcp.serve]``, checked (token variables are read when serving starts).

    Raises:
        toolwire.ConfigError: what is wrong, naming the key.
    """
    where = f"{where} serve"
    if not isinstance(values, Mapping):
        raise toolwire.ConfigError(f"{where}: serve is a table")
    _no_unknown(values, _SERVE_KEYS, where)
    tokens = _text_table(values.get("tokens", {}), f"{where}.tokens")
    for role, variable in tokens.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
            raise toolwire.ConfigError(
                f"{where}.tokens.{role}: the value is the NAME of an environment variable "
                f"holding the token, never the token itself (got a value that is not a "
                "variable name)"
            )
    anonymous = values.get("anonymous_role")
    if anonymous is not None and (not isinstance(anonymous, str) or not anonymous):
        raise toolwire.ConfigError(f"{where}.anonymous_role must be a role name")
    oauth = values.get("oauth")
    port = values.get("port", 8000)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise toolwire.ConfigError(f"{where}.port must be a port number, got {port!r}")
    path = values.get("path", "/mcp")
    if not isinstance(path, str) or not path.startswith("/"):
        raise toolwire.ConfigError(f"{where}.path must start with '/', got {path!r}")
    return ServeSettings(
        tokens=tokens,
        anonymous_role=anonymous,
        oauth=_oauth(oauth, f"{where}.oauth") if oauth is not None else None,
        host=_text(values.get("host", "127.0.0.1"), f"{where}.host"),
        port=port,
        path=path,
    )


def _oauth(values: Any, where: str) -> OAuthSettings:
    if not isinstance(values, Mapping):
        raise toolwire.ConfigError(f"{where} is a table")
    _no_unknown(values, _OAUTH_KEYS, where)
    for key in ("issuer", "resource"):
        if not isinstance(values.get(key), str) or not values[key]:
            raise toolwire.ConfigError(f"{where}.{key} is required (a URL)")
    scopes = _text_table(values.get("scopes", {}), f"{where}.scopes")
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
        role_claim=_text(claim, f"{where}.role_claim") if claim is not None else None,
        scopes=scopes,
    )


def _expand(value: str, where: str, environ: Mapping[str, str]) -> str:
    def variable(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in environ:
            raise toolwire.ConfigError(
                f"{where}: the environment variable {name!r} is not set (used as ${{{name}}})"
            )
        return environ[name]

    return _VARIABLE.sub(variable, value)


def _no_unknown(values: Mapping[str, Any], known: tuple[str, ...], where: str) -> None:
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
            raise toolwire.ConfigError(f"{where}: unknown key {key!r}{hint}")


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise toolwire.ConfigError(f"{where} must be a positive number of seconds, got {value!r}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise toolwire.ConfigError(f"{where} must be a non-empty string, got {value!r}")
    return value


def _texts(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise toolwire.ConfigError(f"{where} must be a list of strings, got {value!r}")
    return list(value)


def _text_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        # The values are not shown: env and headers hold secrets.
        raise toolwire.ConfigError(f"{where} must be a table of strings")
    return {str(k): v for k, v in value.items()}
