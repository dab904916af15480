"""The ``[plugins.audit]`` table: its keys, their defaults, and how a mistake is reported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import toolwire
from toolwire import settings

from ._trail import FsyncMode, TrailOptions, check_path

FSYNC_MODES: Final[tuple[FsyncMode, ...]] = ("record", "interval")

#: ``[plugins.audit]``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path"],
    "properties": {
        "path": settings.PATH,
        "hmac_key_env": {**settings.ENV_NAME, "default": "TOOLWIRE_AUDIT_KEY"},
        "include_arguments": {**settings.FLAG, "default": False},
        "required": {**settings.FLAG, "default": True},
        "principal_key": {**settings.TEXT, "default": "principal"},
        "fsync": {"enum": list(FSYNC_MODES), "default": "interval",
                  "x-expected": f"one of {', '.join(FSYNC_MODES)}"},
        "fsync_interval": {**settings.SECONDS, "default": 1.0},
        "max_bytes": {"type": "integer", "minimum": 0, "default": 0,
                      "x-expected": "a size in bytes (0: never rotate)"},
        "lock_timeout": {**settings.SECONDS, "default": 10.0},
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Settings:
    """The audit plugin's settings, read from ``[plugins.audit]``.

    Attributes:
        path: The JSON Lines file (required): a regular file, or none yet (it is created on
            the first record). A relative path is taken from the config file's directory
            (from the working directory when the config came from code); the directory must
            exist. Checked at start without opening the file; ``toolwire check`` prints it.
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
        values = settings.read_settings(config, "audit", SCHEMA, check=_path_problems)
        for seconds in ("fsync_interval", "lock_timeout"):
            values[seconds] = float(values[seconds])
        return cls(**{**values, "path": str(values["path"])})

    def key(self, environ: Mapping[str, str] | None = None) -> bytes:
        """The HMAC key: the text of the environment variable ``hmac_key_env`` names, as
        UTF-8 bytes (a hex key is used as its text, not decoded).

        Raises:
            toolwire.ConfigError: the variable is unset or empty, shorter than 16 bytes, only
                whitespace, or too repetitive to be a secret (``toolwire.settings.read_secret``).
        """
        return settings.read_secret(
            self.hmac_key_env,
            "[plugins.audit] hmac_key_env",
            what="an HMAC key",
            advice="or disable the audit plugin",
            environ=environ,
        )


def _path_problems(values: Mapping[str, Any]) -> list[str]:
    return [f"[plugins.audit] path: {p}" for p in check_path(values["path"])]
