"""The ``[plugins.audit]`` table: its keys, their defaults, and how a mistake is reported."""

from __future__ import annotations

import collections
import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

import toolwire

from ._trail import FsyncMode, TrailOptions, check_path

#: The shortest HMAC key accepted, in bytes: below it a key can be guessed.
MIN_KEY_BYTES: Final = 16

#: The least variety a key must show, in bits: its length times the Shannon entropy of its
#: bytes. A random key passes whatever its alphabet (``secrets.token_hex(32)`` shows about
#: 240 bits, ``token_hex(16)`` about 110); a short or repetitive one (``aaaa...``, sixteen
#: spaces, a word typed twice) does not. It cannot prove a key random, only catch the
#: mistakes that make one guessable.
MIN_KEY_BITS: Final = 64

#: How to make a good key, for the messages that refuse one.
MAKE_A_KEY: Final = '`python -c "import secrets; print(secrets.token_hex(32))"`'

FSYNC_MODES: Final[tuple[FsyncMode, ...]] = ("record", "interval")


@dataclass(frozen=True, slots=True)
class Settings:
    """The audit plugin's settings, read from ``[plugins.audit]``.

    Attributes:
        path: The JSON Lines file (required): a regular file, or none yet (it is created on
            the first record). Relative paths are taken from the working directory; the
            directory must exist. Checked at start without opening the file.
        hmac_key_env: The environment variable holding the key of the argument digests: its
            text, UTF-8 encoded, is the key (at least 16 bytes, and not repetitive; 32 random
            bytes, hex-encoded, is a good key).
        include_arguments: Also write the arguments themselves, with ``[logging] redact``
            applied; off by default: the digest proves what was sent without storing it.
        required: Fail closed: a record that cannot be written makes the call end with
            ``internal_error`` (and no call runs while the trail cannot be written). Off: the
            failure is logged and counted, and the call goes on.
        principal_key: The key of the host's ``state`` whose value is the principal (the end
            user or service the call is made for).
        fsync: ``"interval"`` (sync at most once per ``fsync_interval``) or ``"record"`` (sync
            every record before the call's result returns).
        fsync_interval: Seconds, for ``fsync = "interval"``.
        max_bytes: Rotate the file at this size (0: never).
        lock_timeout: Seconds a record waits for the trail's lock while another process
            writes (each holds it for one record); past it the record cannot be written.
    """

    path: str = ""
    hmac_key_env: str = "TOOLWIRE_AUDIT_KEY"
    include_arguments: bool = False
    required: bool = True
    principal_key: str = "principal"
    fsync: FsyncMode = "interval"
    fsync_interval: float = 1.0
    max_bytes: int = 0
    lock_timeout: float = 10.0

    @property
    def trail_options(self) -> TrailOptions:
        return TrailOptions(self.fsync, self.fsync_interval, self.max_bytes, self.lock_timeout)

    @classmethod
    def from_config(cls, config: toolwire.Config) -> Settings:
        """Read and check ``[plugins.audit]``.

        Raises:
            toolwire.ConfigError: a key is unknown (with the closest known one), missing or
                has a wrong value; each problem names its key and the config file.
        """
        table = config.plugin_settings("audit")
        problems = _problems(table)
        if problems:
            raise toolwire.ConfigError(
                f"{config.describe()}: {len(problems)} problem(s):\n"
                + "\n".join(f"  - {p}" for p in problems),
                problems,
            )
        for seconds in ("fsync_interval", "lock_timeout"):
            if seconds in table:
                table[seconds] = float(table[seconds])
        return cls(**table)

    def key(self, environ: Mapping[str, str] | None = None) -> bytes:
        """The HMAC key: the text of the environment variable ``hmac_key_env`` names, as
        UTF-8 bytes (a hex key is used as its text, not decoded).

        Raises:
            toolwire.ConfigError: the variable is unset or empty, shorter than 16 bytes, only
                whitespace, or too repetitive to be a secret (see ``MIN_KEY_BITS``).
        """
        environ = os.environ if environ is None else environ
        value = environ.get(self.hmac_key_env)
        name = self.hmac_key_env
        if not value:
            raise toolwire.ConfigError(
                f"[plugins.audit] hmac_key_env: the environment variable {name} is not set; "
                f"set it to a secret of at least {MIN_KEY_BYTES} random bytes (make one with "
                f"{MAKE_A_KEY}), or disable the audit plugin"
            )
        key = value.encode("utf-8", "surrogateescape")
        if len(key) < MIN_KEY_BYTES:
            raise toolwire.ConfigError(
                f"[plugins.audit] hmac_key_env: {name} holds {len(key)} bytes; an HMAC key "
                f"needs at least {MIN_KEY_BYTES}; make one with {MAKE_A_KEY}"
            )
        if not value.strip() or variety_bits(key) < MIN_KEY_BITS:
            raise toolwire.ConfigError(
                f"[plugins.audit] hmac_key_env: {name} holds a key anyone could guess (only "
                f"whitespace, or too few different characters: about {variety_bits(key):.0f} "
                f"bits, at least {MIN_KEY_BITS} needed); make one with {MAKE_A_KEY}"
            )
        return key


def variety_bits(key: bytes) -> float:
    """``len(key)`` times the Shannon entropy of its bytes, in bits: an upper bound of how
    much guessing the key could take, low for short or repetitive keys."""
    counts = collections.Counter(key)
    total = len(key)
    per_byte = -sum(n / total * math.log2(n / total) for n in counts.values())
    return total * per_byte


def _problems(table: Mapping[str, Any]) -> list[str]:
    known = [f.name for f in fields(Settings)]
    problems = []
    for key in sorted(set(table) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(f"unknown key [plugins.audit] {key}{hint}")

    def bad(key: str, expected: str) -> None:
        problems.append(f"[plugins.audit] {key}: {table[key]!r} is not {expected}")

    path = table.get("path")
    if path is None:
        problems.append(
            "[plugins.audit] path is not set: name the JSON Lines file the trail is written "
            "to, or disable the audit plugin"
        )
    elif not isinstance(path, str) or not path:
        bad("path", "a file name")
    else:
        problems.extend(f"[plugins.audit] path: {p}" for p in check_path(path))
    for key in ("hmac_key_env", "principal_key"):
        if key in table and not (isinstance(table[key], str) and table[key]):
            bad(key, "a non-empty string")
    for key in ("include_arguments", "required"):
        if key in table and not isinstance(table[key], bool):
            bad(key, "true or false")
    if "fsync" in table and table["fsync"] not in FSYNC_MODES:
        bad("fsync", f"one of {', '.join(FSYNC_MODES)}")
    for seconds in ("fsync_interval", "lock_timeout"):
        value = table.get(seconds, 1.0)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value <= 0
        ):
            bad(seconds, "a positive number of seconds")
    size = table.get("max_bytes", 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        bad("max_bytes", "a size in bytes (0: never rotate)")
    return problems
