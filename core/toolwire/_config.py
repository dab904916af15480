"""Configuration: where it is read from, its JSON Schema, and environment overrides."""

from __future__ import annotations

import copy
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._errors import ConfigError

_POSITIVE: Final = {"type": "number", "exclusiveMinimum": 0}
_COUNT: Final = {"type": "integer", "minimum": 1}
_EXECUTOR: Final = {"type": "string", "minLength": 1}
_NAMES: Final = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
#: The keys of ``[plugins.NAME]`` the core reads (``_selection``), hidden from the plugin.
PACK_KEYS: Final = ("prefix", "include", "exclude", "defer_loading")

#: The JSON Schema every config is validated with; the docs' config reference is checked against it.
CONFIG_SCHEMA: Final[Mapping[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "plugins": {
            "type": "object",
            "description": "Which plugins load; a table per plugin holds that plugin's own settings.",
            "properties": {
                "autoload": {"type": "boolean", "default": True,
                             "description": "Load every installed plugin, or only those in `enable`."},
                "enable": {**_NAMES, "default": [],
                           "description": "Plugins to load (by entry-point name) when autoload is off."},
                "disable": {**_NAMES, "default": [],
                            "description": "Plugins never to load (built-in ones included)."},
                "strict": {"type": "boolean", "default": False,
                           "description": "A plugin that fails to load stops the start."},
            },
            "additionalProperties": {
                "type": "object",
                "description": "A plugin's own settings, and which of its tools are offered.",
                "properties": {
                    "prefix": {"type": "string",
                               "description": "Put before each of the pack's tool names."},
                    "include": {**_NAMES,
                                "description": "Only these of the pack's tools (its own names)."},
                    "exclude": {**_NAMES,
                                "description": "Never these of the pack's tools (its own names)."},
                    "defer_loading": {"type": "boolean",
                                      "description": "Every tool of the pack (or MCP server) "
                                      "is found by searching rather than sent up front "
                                      "(`[tools.NAME] defer_loading` has the last word)."},
                },
            },
        },
        "defaults": {
            "type": "object",
            "description": "Policy for every tool, unless the tool or [tools.NAME] says otherwise.",
            "additionalProperties": False,
            "properties": {
                "timeout": {**_POSITIVE, "description": "Seconds before a call ends with `timeout`."},
                "retries": {"type": "integer", "minimum": 0, "default": 0,
                            "description": "Extra attempts for transient failures."},
                "max_concurrency": {**_COUNT, "default": 128,
                                    "description": "Calls of one batch running at once."},
                "schedule": {"enum": ["parallel", "by_effect"], "default": "parallel",
                             "description": "How one batch's calls run: all at once, or "
                             "`read_only` tools' calls at once and every other call alone, "
                             "in call order."},
                "max_output_chars": {**_COUNT, "default": 100000,
                                     "description": "Longer results are cut to head and tail."},
                "max_part_bytes": {**_COUNT, "default": 5242880,
                                   "description": "Largest image, file or audio part of a "
                                   "result, in bytes."},
                "permission": {"enum": ["allow", "deny"], "default": "allow",
                               "description": "The answer when no permission hook votes."},
                "permission_timeout": {**_POSITIVE, "default": 5,
                                       "description": "Seconds an async permission hook may take; "
                                       "past it the call is denied."},
                "approval": {"enum": [False, True, "destructive"], "default": False,
                             "description": "Calls that wait for a person's approval: none, "
                             "all, or those of tools marked `destructive`."},
                "executor": {**_EXECUTOR, "description": "Where functions run, by executor "
                             "name; unset: async def on the event loop, plain functions on "
                             "the dispatcher's threads."},
            },
        },
        "limits": {
            "type": "object",
            "description": "Caps on what a model may send.",
            "additionalProperties": False,
            "properties": {
                "max_argument_bytes": {**_COUNT, "default": 1_000_000,
                                       "description": "Argument strings longer than this are "
                                       "refused before parsing."},
                "max_argument_depth": {**_COUNT, "default": 64,
                                       "description": "Deepest nesting of arrays and objects."},
                "max_batch_calls": {**_COUNT, "default": 128,
                                    "description": "Calls in one batch; each extra call gets "
                                    "an error result."},
                "threads": {**_COUNT, "default": 128,
                            "description": "Threads for plain-function tools (a thread "
                            "left running past its call's deadline is replaced, up to twice as "
                            "many threads in all)."},
            },
        },
        "tools": {
            "type": "object",
            "description": "Policy per tool, by tool name, overriding what the code declared.",
            "additionalProperties": {
                "type": "object",
                "description": "Any other key is a plugin's tool option (`rate_limit`...): "
                               "the start fails unless a loaded plugin enforces it.",
                "properties": {
                    "enabled": {"type": "boolean", "description": "False hides the tool."},
                    "roles": {**_NAMES, "description": "Roles allowed to call the tool."},
                    "timeout": {**_POSITIVE, "description": "Seconds before `timeout`."},
                    "retries": {"type": "integer", "minimum": 0,
                                "description": "Extra attempts for transient failures."},
                    "max_concurrency": {**_COUNT, "description": "Calls running at once."},
                    "sequential": {"type": "boolean",
                                   "description": "Calls in one batch run one at a time."},
                    "max_output_chars": {**_COUNT, "description": "Output budget in characters."},
                    "max_part_bytes": {**_COUNT,
                                       "description": "Largest image, file or audio part."},
                    "read_only": {"type": "boolean",
                                  "description": "Changes nothing (MCP `readOnlyHint`)."},
                    "destructive": {"type": "boolean",
                                    "description": "May destroy data (MCP `destructiveHint`)."},
                    "idempotent": {"type": "boolean",
                                   "description": "Repeating a call changes nothing more "
                                                  "(MCP `idempotentHint`)."},
                    "open_world": {"type": "boolean",
                                   "description": "Reaches an open world (MCP `openWorldHint`)."},
                    "approval": {"type": "boolean",
                                 "description": "Each call waits for a person's approval "
                                                "(`false` exempts it from `[defaults] approval`)."},
                    "executor": {**_EXECUTOR, "description": "Where its function runs."},
                    "defer_loading": {"type": "boolean",
                                      "description": "Callable, but found by searching rather "
                                      "than sent in the first `tools` list."},
                    "task": {"type": "boolean",
                             "description": "Served over MCP as a task the client polls, when "
                             "the client supports tasks."},
                    "allowed_callers": {"type": "array", "minItems": 1, "uniqueItems": True,
                                        "items": {"enum": ["direct", "program"]},
                                        "description": "Who may call it: the model "
                                        "(`direct`), code the model runs (`program`)."},
                },
            },
        },
        "executors": {
            "type": "object",
            "description": "Executors by name; a table whose name is not a built-in kind says "
                           "its `kind`. Other keys are the executor plugin's own settings.",
            "additionalProperties": {
                "type": "object",
                "properties": {
                    "kind": {**_EXECUTOR, "description": "The kind of executor (`process`, "
                             "`taskiq`...); the table's name when omitted."},
                    "workers": {**_COUNT, "description": "Worker processes (`process`; "
                                "default: the CPU count)."},
                    "max_memory_mb": {**_COUNT, "description": "Address-space cap of each "
                                      "worker process, in MiB (`process`)."},
                    "url": {"type": "string", "minLength": 1,
                            "description": "The broker's URL (`taskiq`: `redis://...`)."},
                    "queue": {"type": "string", "minLength": 1,
                              "description": "The queue calls are sent on (`taskiq`)."},
                },
            },
        },
        "approvals": {
            "type": "object",
            "description": "Calls that wait for a person: where they are kept, for how long.",
            "additionalProperties": False,
            "properties": {
                "store": {"type": "string", "pattern": "^(sqlite:///.+|memory://|redis(s)?://.*)$",
                          "x-expected": "sqlite:///PATH (sqlite:////PATH for an absolute one), "
                          "memory:// or redis://HOST:PORT/DB",
                          "description": "sqlite:///PATH, memory:// or redis://HOST:PORT/DB; "
                          "default: a SQLite file in the user state directory."},
                "ttl": {**_POSITIVE, "default": 86400,
                        "description": "Seconds an approval waits before it expires."},
                "mode": {"enum": ["hold", "answer"], "default": "hold",
                         "description": "A response with a gated call: hold the turn until "
                         "decided, or answer that call at once with `approval_required`."},
                "principal_key": {"type": "string", "minLength": 1, "default": "principal",
                                  "description": "The key of the host's state whose value "
                                  "an approval records as its principal."},
            },
        },
        "logging": {
            "type": "object",
            "description": "The call log (the library logs; the host configures structlog).",
            "additionalProperties": False,
            "properties": {
                "level": {"enum": ["debug", "info", "warning", "error", "critical"],
                          "default": "info", "description": "Least level of call events."},
                "format": {"enum": ["json", "console"], "default": "json",
                           "description": "Rendering, used by the CLI."},
                "redact": {"type": "array", "items": {"type": "string"},
                           "default": ["password", "token", "api_key", "apikey", "api-key",
                                       "authorization", "secret"],
                           "description": "Argument names whose values are never logged."},
            },
        },
    },
}  # fmt: skip


def _default_of(section: str) -> dict[str, Any]:
    props = CONFIG_SCHEMA["properties"][section]["properties"]
    return {k: copy.deepcopy(v["default"]) for k, v in props.items() if "default" in v}


@dataclass(frozen=True)
class Config:
    """A validated configuration, with defaults filled in.

    ``Config(data={...})`` is how a host builds config in code: the mapping is validated by
    the same JSON Schema as a file, with the same messages, naming ``code`` as the source
    (``Dispatcher({...})`` does this for you). Its relative paths resolve against the working
    directory; a file's, against the file's own directory (see ``resolve_path``).

    Attributes:
        source: The file it came from, or ``None`` for code and built-in defaults.
        data: The raw validated tables, as TOML would give them.
        origins: Keys set by the environment rather than the file, by dotted key
            (``plugins.enable``): the variable that set each, so that an error names it.
        resolved_paths: Every path resolved through ``resolve_path``, by dotted key, as
            ``toolwire check`` prints them.

    Raises:
        ConfigError: ``data`` breaks the config schema; the message names each wrong key and
            the source (the file, or ``code``).
    """

    source: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)
    resolved_paths: dict[str, Path] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.data, Mapping):
            raise TypeError(f"Config data is a mapping of tables, got {type(self.data).__name__}")
        if self.data:
            _raise_problems(self.data, self.source or "code")

    def resolve_path(self, value: str | os.PathLike[str], key: str) -> Path:
        """The path a setting names, as every part of toolwire and its plugins reads it.

        ``~`` is expanded; an absolute path is kept; a relative one resolves against the
        directory of the config file that set it, or against the working directory when it
        was set in code or by an environment variable (``key`` in ``origins``). The result is
        recorded in ``resolved_paths`` under ``key``.

        Args:
            value: The path as the setting gives it.
            key: The setting's dotted key (``approvals.store``, ``plugins.audit.path``).

        Returns:
            An absolute path (not required to exist).
        """
        path = Path(value).expanduser()
        if not path.is_absolute():
            from_file = self.source is not None and key not in self.origins
            base = Path(self.source or ".").resolve().parent if from_file else Path.cwd()
            path = base / path
        path = Path(os.path.normpath(path))
        self.resolved_paths[key] = path
        return path

    def section(self, name: str) -> dict[str, Any]:
        """A top-level table with its defaults filled in (``plugins``, ``defaults``, ``limits``...)."""
        values = _default_of(name) if name != "tools" else {}
        values.update(self.data.get(name, {}))
        return values

    @property
    def autoload(self) -> bool:
        return bool(self.section("plugins")["autoload"])

    @property
    def enable(self) -> list[str]:
        return list(self.section("plugins")["enable"])

    @property
    def disable(self) -> list[str]:
        return list(self.section("plugins")["disable"])

    @property
    def strict(self) -> bool:
        return bool(self.section("plugins")["strict"])

    def plugin_tables(self) -> list[str]:
        """The plugin names that have a ``[plugins.NAME]`` table of settings."""
        return [
            name
            for name, value in self.data.get("plugins", {}).items()
            if isinstance(value, Mapping)
        ]

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """The plugin's own settings: its ``[plugins.NAME]`` table (empty when absent) without
        the keys the core reads there (``prefix``, ``include``, ``exclude``)."""
        return {k: v for k, v in self.plugin_table(name).items() if k not in PACK_KEYS}

    def plugin_table(self, name: str) -> dict[str, Any]:
        """The whole ``[plugins.NAME]`` table of one plugin (empty when absent)."""
        value = self.data.get("plugins", {}).get(name, {})
        return dict(value) if isinstance(value, Mapping) else {}

    def executor_settings(self) -> dict[str, dict[str, Any]]:
        """The ``[executors.NAME]`` tables by name, each with its ``kind`` (its name when unset)."""
        tables = self.data.get("executors", {})
        return {name: {"kind": name, **table} for name, table in tables.items()}

    def tool_settings(self, name: str) -> dict[str, Any]:
        """The ``[tools.NAME]`` table of one tool (empty when absent)."""
        return dict(self.data.get("tools", {}).get(name, {}))

    def describe(self, key: str | None = None) -> str:
        """Where the config, or one dotted key of it, came from: an environment variable, a
        file, ``code`` (tables given as a mapping), or the built-in defaults."""
        if key is not None and key in self.origins:
            return self.origins[key]
        return self.source or ("code" if self.data else "built-in defaults")


def find_config_file(cwd: Path | None = None, env: Mapping[str, str] | None = None) -> Path | None:
    """The file the design's order picks: ``TOOLWIRE_CONFIG``, ``./toolwire.toml``, ``./pyproject.toml``."""
    env = os.environ if env is None else env
    cwd = Path.cwd() if cwd is None else cwd
    if env.get("TOOLWIRE_CONFIG"):
        return Path(env["TOOLWIRE_CONFIG"])
    for candidate in (cwd / "toolwire.toml", cwd / "pyproject.toml"):
        if candidate.is_file():
            if candidate.name == "pyproject.toml" and "toolwire" not in _read_toml(candidate).get(
                "tool", {}
            ):
                continue
            return candidate
    return None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Config:
    """Read, validate and apply environment overrides.

    Raises:
        ConfigError: the file is missing or not TOML, or the values break the schema; the
            message names each wrong key and the file.
    """
    env = os.environ if env is None else env
    file = Path(path) if path is not None else find_config_file(cwd, env)
    data: dict[str, Any] = {}
    if file is not None:
        if not file.is_file():
            raise ConfigError(f"config file not found: {file}")
        raw = _read_toml(file)
        data = raw.get("tool", {}).get("toolwire", {}) if file.name == "pyproject.toml" else raw
    data = apply_env(data, env)
    if file is None:
        _raise_problems(data, "config")  # what the environment set
    return Config(str(file) if file is not None else None, data, env_origins(env))


def config_from_dict(data: Mapping[str, Any], source: str | None = None) -> Config:
    """Validate a config given as a mapping (hosts that keep config elsewhere).

    Args:
        data: The tables, as TOML would give them.
        source: What to name in messages; ``None`` names ``code``, and relative paths then
            resolve against the working directory.

    Raises:
        ConfigError: as ``Config`` does.
    """
    return Config(source, copy.deepcopy(dict(data)))


def as_config(config: Config | Mapping[str, Any] | None) -> Config:
    """A ``Config`` from what a host passed: a ``Config``, a mapping of tables, or nothing.

    Raises:
        ConfigError: the mapping breaks the config schema.
        TypeError: anything else.
    """
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return config_from_dict(config)
    raise TypeError(
        f"config is a toolwire.Config or a mapping of config tables, got {type(config).__name__}"
        " (Dispatcher.from_config(path) reads a file)"
    )


def _raise_problems(data: Mapping[str, Any], where: str) -> None:
    problems = config_problems(data)
    if problems:
        raise ConfigError(
            f"{where}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems),
            problems,
        )


def apply_env(data: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """``TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD=1`` and ``TOOLWIRE_PLUGINS=a,b`` override the file."""
    out = copy.deepcopy(dict(data))
    plugins = dict(out.get("plugins", {}))
    if env.get("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0", "false"):
        plugins["autoload"] = False
    if "TOOLWIRE_PLUGINS" in env:
        plugins["autoload"] = False
        plugins["enable"] = [n.strip() for n in env["TOOLWIRE_PLUGINS"].split(",") if n.strip()]
    if plugins:
        out["plugins"] = plugins
    return out


def env_origins(env: Mapping[str, str]) -> dict[str, str]:
    """The config keys ``apply_env`` sets from ``env``, each with the variable that set it."""
    origins: dict[str, str] = {}
    if env.get("TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD", "").strip() not in ("", "0", "false"):
        origins["plugins.autoload"] = "TOOLWIRE_DISABLE_PLUGIN_AUTOLOAD"
    if "TOOLWIRE_PLUGINS" in env:
        origins["plugins.autoload"] = origins["plugins.enable"] = "TOOLWIRE_PLUGINS"
    return origins


def config_problems(data: Mapping[str, Any]) -> list[str]:
    """Every way ``data`` breaks the config schema, each naming its key."""
    return schema_problems(CONFIG_SCHEMA, data)


def schema_problems(schema: Mapping[str, Any], data: Any, at: tuple[str, ...] = ()) -> list[str]:
    """Every way ``data`` (the table at dotted key ``at``) breaks ``schema``, each naming its
    key: ``[section] key: what is wrong``, ``unknown key [section] key; did you mean ...?``,
    ``[section] key is not set``.

    A schema may say what a value should be with ``"x-expected"`` (``"a positive number of
    seconds"``): the problem then reads ``[section] key: VALUE is not EXPECTED``; with
    ``"x-secret": true`` the value is never shown.
    """
    import jsonschema

    problems = [
        f"{_key_path((*at, *path))}: {value!r} is not a finite number"
        for path, value in _non_finite(data)
    ]
    seen: set[tuple[str, ...]] = set()
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = (*at, *map(str, error.absolute_path))
        if error.validator == "additionalProperties":
            known = list(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(known)})"
                problems.append(f"unknown key {_key_path([*path, key])}{hint}")
            continue
        if error.validator == "required":
            props = error.schema.get("properties", {})
            for key in error.validator_value:
                if key not in error.instance:
                    expected = props.get(key, {}).get("x-expected")
                    hint = f": give {expected}" if expected else ""
                    if at[:1] == ("plugins",) and len(at) == 2 and path == at:
                        hint += f"{',' if hint else ':'} or disable the {at[1]} plugin"
                    problems.append(f"{_key_path([*path, key])} is not set{hint}")
            continue
        if path in seen:
            continue
        expected = error.schema.get("x-expected") if isinstance(error.schema, Mapping) else None
        secret = _under_secret(schema, error)
        where = _key_path(path) or "config"
        if expected:
            seen.add(path)
            value = "the value" if secret else repr(error.instance)
            problems.append(f"{where}: {value} is not {expected}")
        elif secret:
            seen.add(path)
            problems.append(f"{where}: the value is not valid (not shown: it may be a secret)")
        else:
            problems.append(f"{where}: {error.message}")
    return problems


def _under_secret(schema: Mapping[str, Any], error: Any) -> bool:
    """Whether the failing value is secret: its own schema, or any schema it sits in (a table
    marked ``"x-secret": true`` hides every value inside it), says ``x-secret``."""
    if isinstance(error.schema, Mapping) and error.schema.get("x-secret") is True:
        return True
    node: Any = schema
    for step in error.absolute_schema_path:
        if isinstance(node, Mapping):
            if node.get("x-secret") is True:
                return True
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return False  # through a $ref: the value's own mark decides, as above
    return False


def _non_finite(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    """``nan`` and ``inf`` anywhere (TOML has both); no schema keyword refuses them."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, value)]
    if isinstance(value, Mapping):
        return [f for k, v in value.items() for f in _non_finite(v, (*path, str(k)))]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _non_finite(v, (*path, str(i)))]
    return []


def _key_path(path: Any) -> str:
    parts = [str(p) for p in path]
    if not parts:
        return ""
    if len(parts) == 1:
        return f"[{parts[0]}]"
    return f"[{'.'.join(parts[:-1])}] {parts[-1]}"


def _read_toml(file: Path) -> dict[str, Any]:
    import tomllib

    try:
        with file.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
