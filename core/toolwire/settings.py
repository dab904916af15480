"""Settings for plugin authors: a plugin's table checked against its JSON Schema, the paths
it names resolved against the config file that names them, secrets read from the environment
under one strength rule.

A plugin describes its ``[plugins.NAME]`` table with a JSON Schema (draft 2020-12) and reads
it in ``toolwire_configure``::

    SCHEMA = {
        "type": "object",
        "additionalProperties": False,
        "required": ["path"],
        "properties": {
            "path": settings.PATH,
            "key_env": {**settings.ENV_NAME, "default": "MY_PLUGIN_KEY"},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 5,
                        "x-expected": "a positive number of seconds"},
        },
    }

    @toolwire.hookimpl
    def toolwire_configure(self, config):
        values = settings.read_settings(config, "myplugin", SCHEMA)
        key = settings.read_secret(values["key_env"], "[plugins.myplugin] key_env")

Every problem is reported at once, as the core reports its own config: each names its key
(``[plugins.myplugin] timeout: 0 is not a positive number of seconds``), an unknown key gets
the closest known one (``did you mean 'timeout'?``), and the message names the config file.
Two annotations of this module's own, which validators ignore: ``"x-expected"`` says what a
value should be, and ``"x-secret": true`` keeps a value out of every message.
"""

from __future__ import annotations

import collections
import copy
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from ._config import Config, schema_problems
from ._errors import ConfigError

__all__ = [
    "COUNT",
    "ENV_NAME",
    "FLAG",
    "MAKE_A_SECRET",
    "MIN_SECRET_BITS",
    "MIN_SECRET_BYTES",
    "MIN_SECRET_GUESSES_LOG10",
    "PATH",
    "SECONDS",
    "TEXT",
    "TEXTS",
    "guesses_log10",
    "raise_problems",
    "read_secret",
    "read_settings",
    "secret_bits",
    "settings_problems",
    "table",
]

#: A file or folder the plugin reads or writes: resolved by ``read_settings`` (a relative one
#: against the config file's directory) and listed by ``toolwire check``.
PATH: Final[Mapping[str, Any]] = {
    "type": "string",
    "minLength": 1,
    "format": "path",
    "x-expected": "a file name",
}

#: Seconds, a count, a flag, a non-empty string, a list of strings: the shapes most settings
#: take, each with its message.
SECONDS: Final[Mapping[str, Any]] = {"type": "number", "exclusiveMinimum": 0,
                                     "x-expected": "a positive number of seconds"}  # fmt: skip
COUNT: Final[Mapping[str, Any]] = {"type": "integer", "minimum": 1,
                                   "x-expected": "a whole number above 0"}  # fmt: skip
FLAG: Final[Mapping[str, Any]] = {"type": "boolean", "x-expected": "true or false"}
TEXT: Final[Mapping[str, Any]] = {"type": "string", "minLength": 1,
                                  "x-expected": "a non-empty string"}  # fmt: skip
TEXTS: Final[Mapping[str, Any]] = {"type": "array", "items": {"type": "string"},
                                   "x-expected": "a list of strings"}  # fmt: skip

#: The name of an environment variable (that holds a secret: the config never holds it).
ENV_NAME: Final[Mapping[str, Any]] = {
    "type": "string",
    "pattern": "^[^=\\u0000]+$",
    "x-expected": "the name of an environment variable",
}

#: The shortest secret accepted, in bytes: below it a secret can be guessed.
MIN_SECRET_BYTES: Final = 16

#: The least variety a secret must show, in bits: its length times the Shannon entropy of its
#: bytes. A random secret passes whatever its alphabet (``secrets.token_hex(32)`` shows about
#: 240 bits, ``token_hex(16)`` about 110); a short or repetitive one (``aaaa...``, sixteen
#: spaces, a word typed twice) does not. It cannot prove a secret random, only catch the
#: mistakes that make one guessable.
MIN_SECRET_BITS: Final = 64

#: The fewest guesses, as a power of ten, that zxcvbn (Dropbox's estimator: dictionaries,
#: keyboard patterns, sequences, repeats, dates) must estimate a secret takes: 10**20 is about
#: 66 bits. ``0123456789abcdef``, ``passwordpassword123!``, ``changeme-changeme-changeme-2024``
#: and a project's own name fall short; ``secrets.token_hex(16)`` and a passphrase of five
#: random words pass.
MIN_SECRET_GUESSES_LOG10: Final = 20.0

#: How to make a good secret, for the messages that refuse one.
MAKE_A_SECRET: Final = '`python -c "import secrets; print(secrets.token_hex(32))"`'


def read_settings(
    config: Config,
    plugin: str,
    schema: Mapping[str, Any],
    *,
    at: Sequence[str] | None = None,
    table: Mapping[str, Any] | None = None,
    check: Callable[[dict[str, Any]], Iterable[str]] | None = None,
) -> dict[str, Any]:
    """A plugin's table, checked against ``schema``, with defaults filled in and paths resolved.

    Args:
        config: The config the plugin was given (``toolwire_configure``).
        plugin: The plugin's name: its table is ``[plugins.NAME]`` (without the core's
            ``prefix``, ``include`` and ``exclude``).
        schema: A JSON Schema (draft 2020-12) of the table. ``"default"`` fills a missing
            key (of the table, and of each nested table present); a string of
            ``"format": "path"`` (``PATH``), at any depth, is resolved.
        at: Another table's dotted location, instead of ``[plugins.NAME]``: ``("executors",
            "fleet")``; ``table`` then gives its values.
        table: The values at ``at``.
        check: Problems the schema cannot express (a file that cannot be written, a URL that
            does not parse), each a sentence naming its key; called with the values only when
            the schema holds.

    Returns:
        A new dict of the values; each path is a ``pathlib.Path``, absolute: a relative one is
        taken from the directory of the config file (from the working directory when the
        config came from code or the environment), and ``Config.resolved_paths`` records it
        under its dotted key (``plugins.NAME.KEY``), so that ``toolwire check`` prints it.

    Raises:
        ConfigError: every problem at once, each naming its key, under the name of the config
            file (or ``code``); ``ConfigError.problems`` lists them.
    """
    where = tuple(at) if at is not None else ("plugins", plugin)
    values = dict(table if table is not None else config.plugin_settings(plugin))
    problems = settings_problems(values, schema, where)
    if not problems:
        values = _complete(config, values, schema, where)
        if check is not None:
            problems = list(check(values))
    raise_problems(config.describe(), problems)
    return values


def settings_problems(
    table: Mapping[str, Any], schema: Mapping[str, Any], at: Sequence[str] = ()
) -> list[str]:
    """Every way ``table`` breaks ``schema``, each a sentence naming its key as ``at`` places
    it (``("plugins", "audit")`` names ``[plugins.audit] KEY``). Empty when it holds."""
    return schema_problems(schema, table, tuple(at))


def table(properties: Mapping[str, Any], **keywords: Any) -> dict[str, Any]:
    """The JSON Schema of a settings table: an object of exactly ``properties`` (an unknown
    key is a problem, with "did you mean"), plus any other ``keywords`` of the schema."""
    return {"type": "object", "additionalProperties": False, "properties": properties, **keywords}


def raise_problems(where: str, problems: Sequence[str]) -> None:
    """Raise the ``ConfigError`` that lists ``problems`` under ``where`` (a file name, or
    ``code``); nothing when there are none.

    Raises:
        ConfigError: ``WHERE: N problem(s):`` and a line per problem.
    """
    if problems:
        raise ConfigError(
            f"{where}: {len(problems)} problem(s):\n" + "\n".join(f"  - {p}" for p in problems),
            list(problems),
        )


def read_secret(
    variable: str,
    key: str,
    *,
    what: str = "a secret",
    advice: str = "",
    environ: Mapping[str, str] | None = None,
) -> bytes:
    """The secret an environment variable holds, as UTF-8 bytes (a hex secret is used as its
    text, not decoded). No message ever shows it.

    Args:
        variable: The variable's name (the value of the plugin's ``*_env`` setting).
        key: The setting that named it, for messages (``[plugins.audit] hmac_key_env``).
        what: What the secret is, for messages (``an HMAC key``).
        advice: Said after how to make one when the variable is unset (``or disable the
            audit plugin``).
        environ: Where to read it (``os.environ`` when omitted).

    Raises:
        ConfigError: the variable is unset or empty, holds fewer than ``MIN_SECRET_BYTES``
            bytes, only whitespace, too little variety (``MIN_SECRET_BITS``), or words and
            patterns a guesser tries early (``MIN_SECRET_GUESSES_LOG10``, estimated by
            zxcvbn); the message says how to make a good one.
    """
    environ = os.environ if environ is None else environ
    value = environ.get(variable)
    if not value:
        tail = f"; {advice}" if advice else ""
        raise ConfigError(
            f"{key}: the environment variable {variable} is not set; set it to a secret of at "
            f"least {MIN_SECRET_BYTES} random bytes (make one with {MAKE_A_SECRET}){tail}"
        )
    secret = value.encode("utf-8", "surrogateescape")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{key}: {variable} holds {len(secret)} bytes; {what} needs at least "
            f"{MIN_SECRET_BYTES}; make one with {MAKE_A_SECRET}"
        )
    bits = secret_bits(secret)
    if not value.strip() or bits < MIN_SECRET_BITS:
        raise ConfigError(
            f"{key}: {variable} holds a key anyone could guess (only whitespace, or too few "
            f"different characters: about {abs(bits):.0f} bits, at least "
            f"{MIN_SECRET_BITS} needed); make one with {MAKE_A_SECRET}"
        )
    if min(guesses_log10(text) for text in _readings(value)) < MIN_SECRET_GUESSES_LOG10:
        raise ConfigError(
            f"{key}: {variable} holds a key made of words, sequences or patterns that a "
            f"guesser tries early (zxcvbn estimates fewer than 10^{MIN_SECRET_GUESSES_LOG10:.0f}"
            f" guesses); make a random one with {MAKE_A_SECRET}"
        )
    return secret


#: Words whose well-known digests (MD5, SHA-1, SHA-256, in hex) look random but are not.
_FAMOUS_WORDS: Final = (
    "", "password", "secret", "admin", "test", "changeme", "123456", "12345678", "key",
    "toolwire", "hello", "letmein", "qwerty", "root", "default",
)  # fmt: skip


def _readings(value: str) -> list[str]:
    """The texts a guesser would try for ``value``: itself, and what it decodes to when it is
    hex or base64 of readable text (``70617373...`` is ``pass...``); a well-known digest of a
    common word reads as that word."""
    import base64
    import binascii
    import hashlib

    readings = [value]
    lowered = value.strip().lower()
    for word in _FAMOUS_WORDS:
        for digest in (hashlib.md5, hashlib.sha1, hashlib.sha256):
            if lowered == digest(word.encode()).hexdigest():
                return [word]
    decoded: bytes | None = None
    try:
        decoded = bytes.fromhex(value.strip())
    except ValueError:
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            decoded = None
    if decoded and all(32 <= byte < 127 for byte in decoded):
        readings.append(decoded.decode("ascii"))
    return readings


def guesses_log10(secret: str) -> float:
    """How many guesses zxcvbn estimates ``secret`` takes, as a power of ten (its first 100
    characters: past them a secret that is not yet guessable stays so)."""
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # loaded by a start that reads a secret, not by import toolwire

    if not secret:
        return 0.0
    return float(zxcvbn(secret[:100])["guesses_log10"])


def secret_bits(secret: bytes) -> float:
    """``len(secret)`` times the Shannon entropy of its bytes, in bits: an upper bound of how
    much guessing the secret could take, low for short or repetitive ones."""
    counts = collections.Counter(secret)
    total = len(secret)
    return total * -sum(n / total * math.log2(n / total) for n in counts.values())


def _complete(config: Config, value: Any, schema: Any, at: tuple[str, ...]) -> Any:
    """``value`` with the schema's defaults filled in and its paths resolved (a new copy)."""
    if not isinstance(schema, Mapping):
        return value
    if schema.get("format") == "path" and isinstance(value, str):
        return config.resolve_path(value, ".".join(at))
    if isinstance(value, Mapping):
        props: Mapping[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        defaults = {
            key: spec["default"]
            for key, spec in props.items()
            if key not in value and isinstance(spec, Mapping) and "default" in spec
        }
        return {
            key: _complete(config, item, props.get(key, extra), (*at, str(key)))
            for key, item in {**value, **defaults}.items()
        }
    if isinstance(value, list):
        # Each entry under a key of its own (``dirs[0]``), so `toolwire check` lists every path.
        where = (*at[:-1], f"{at[-1]}[{{}}]") if at else ("[{}]",)
        return [
            _complete(config, item, schema.get("items"), (*where[:-1], where[-1].format(i)))
            for i, item in enumerate(value)
        ]
    return copy.deepcopy(value)
