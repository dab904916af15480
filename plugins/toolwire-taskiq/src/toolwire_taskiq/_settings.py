"""An ``[executors.NAME]`` table of ``kind = "taskiq"``: its keys, defaults and checks, and
the key that signs its jobs."""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import toolwire

#: The URL schemes of the Redis the broker and result backend use.
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")

#: The environment variable that holds the signing key when ``key_env`` is not set.
DEFAULT_KEY_ENV: Final = "TOOLWIRE_TASKIQ_KEY"

#: The shortest signing key accepted, in bytes: below it a key can be guessed.
MIN_KEY_BYTES: Final = 16

#: The least variety a key must show, in bits: its length times the Shannon entropy of its
#: bytes (the audit key's rule). A random key passes whatever its alphabet
#: (``secrets.token_hex(32)`` shows about 240 bits); a short or repetitive one does not.
MIN_KEY_BITS: Final = 64

#: How to make a good key, for the messages that refuse one.
MAKE_A_KEY: Final = '`python -c "import secrets; print(secrets.token_hex(32))"`'


@dataclass(frozen=True, slots=True)
class Settings:
    """One taskiq executor, as its ``[executors.NAME]`` table sets it.

    Attributes:
        name: The executor's name (the table's).
        url: The Redis the broker, the result backend, heartbeats and cancellations use
            (``redis://host:port[/db]``).
        queue: The Redis list calls are queued on; also the prefix of every other key.
        heartbeat: Seconds within which a call whose worker died gets ``executor_lost``.
            Workers refresh their heartbeat four times per interval.
        concurrency: Calls one worker runs at once (``toolwire worker --concurrency``
            overrides it). A worker takes no call while all of its slots are busy, so calls
            spread over the workers.
        connect_timeout: Seconds to reach Redis before a call gets ``executor_unavailable``.
        result_ttl: Seconds a result no host collected stays in Redis (a late reply).
        key_env: The environment variable that holds the key hosts sign jobs with and
            workers check them with: its text, UTF-8 encoded (at least 16 bytes, and not
            repetitive; 32 random bytes, hex-encoded, is a good key).
        default_timeout: The deadline, in seconds, of a call whose tool has no ``timeout``.
        claim_timeout: Seconds within which a worker must claim a call; past them the host
            cancels it for good and answers ``executor_unavailable``.
    """

    name: str
    url: str
    queue: str
    heartbeat: float = 5.0
    concurrency: int = 8
    connect_timeout: float = 2.0
    result_ttl: int = 600
    key_env: str = DEFAULT_KEY_ENV
    default_timeout: float = 300.0
    claim_timeout: float = 10.0

    @property
    def prefix(self) -> str:
        return f"{self.queue}:"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: str) -> Settings:
        """Check and read one table.

        Raises:
            toolwire.ConfigError: a key it does not know, a missing or bad ``url``, a bad value.
        """
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(table) - known - {"kind"})
        if unknown:
            raise toolwire.ConfigError(
                f"[executors.{name}] in {where}: {', '.join(unknown)} is not a setting of a "
                f"taskiq executor ({', '.join(sorted(known))})"
            )
        url = table.get("url")
        if not isinstance(url, str) or url.partition("://")[0] not in REDIS_SCHEMES:
            raise toolwire.ConfigError(
                f"[executors.{name}] in {where}: url must be a Redis URL "
                f"(redis://host:port/db), got {url!r}"
            )
        values: dict[str, Any] = {"name": name, "url": url}
        values["queue"] = table.get("queue", f"toolwire:{name}")
        key_env = table.get("key_env", DEFAULT_KEY_ENV)
        if not isinstance(key_env, str) or not key_env or "=" in key_env or "\0" in key_env:
            raise toolwire.ConfigError(
                f"[executors.{name}] in {where}: key_env must name an environment variable, "
                f"got {key_env!r}"
            )
        values["key_env"] = key_env
        for key, kind, least in (
            ("heartbeat", float, 0.0),
            ("concurrency", int, 1),
            ("connect_timeout", float, 0.0),
            ("result_ttl", int, 1),
            ("default_timeout", float, 0.0),
            ("claim_timeout", float, 0.0),
        ):
            if key not in table:
                continue
            value = table[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int))
                or not math.isfinite(value)
                or value < least
                or (least == 0.0 and value == 0)
            ):
                raise toolwire.ConfigError(
                    f"[executors.{name}] in {where}: {key} must be a positive "
                    f"{'whole ' if kind is int else ''}number, got {value!r}"
                )
            values[key] = kind(value)
        return cls(**values)

    def key(self, environ: Mapping[str, str] | None = None) -> bytes:
        """The signing key: the text of the environment variable ``key_env`` names, as UTF-8
        bytes (a hex key is used as its text, not decoded). The messages never show it.

        Raises:
            toolwire.ConfigError: the variable is unset or empty, shorter than 16 bytes, only
                whitespace, or too repetitive to be a secret (see ``MIN_KEY_BITS``).
        """
        environ = os.environ if environ is None else environ
        value = environ.get(self.key_env)
        where, name = f"[executors.{self.name}] key_env", self.key_env
        if not value:
            raise toolwire.ConfigError(
                f"{where}: the environment variable {name} is not set; set it, on the host and "
                f"on every worker, to the same secret of at least {MIN_KEY_BYTES} random bytes "
                f"(make one with {MAKE_A_KEY}): jobs are signed with it"
            )
        key = value.encode("utf-8", "surrogateescape")
        if len(key) < MIN_KEY_BYTES:
            raise toolwire.ConfigError(
                f"{where}: {name} holds {len(key)} bytes; a signing key needs at least "
                f"{MIN_KEY_BYTES}; make one with {MAKE_A_KEY}"
            )
        if not value.strip() or variety_bits(key) < MIN_KEY_BITS:
            raise toolwire.ConfigError(
                f"{where}: {name} holds a key anyone could guess (only whitespace, or too few "
                f"different characters: about {variety_bits(key):.0f} bits, at least "
                f"{MIN_KEY_BITS} needed); make one with {MAKE_A_KEY}"
            )
        return key


def variety_bits(key: bytes) -> float:
    """``len(key)`` times the Shannon entropy of its bytes, in bits: an upper bound of how
    much guessing the key could take, low for short or repetitive keys."""
    counts = collections.Counter(key)
    total = len(key)
    per_byte = -sum(n / total * math.log2(n / total) for n in counts.values())
    return total * per_byte


def taskiq_tables(config: toolwire.Config) -> dict[str, Settings]:
    """Every ``[executors.NAME]`` table of kind ``taskiq``, checked."""
    return {
        name: Settings.from_table(name, table, config.describe())
        for name, table in config.executor_settings().items()
        if table["kind"] == "taskiq"
    }
