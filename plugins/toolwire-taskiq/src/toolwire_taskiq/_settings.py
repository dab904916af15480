"""An ``[executors.NAME]`` table of ``kind = "taskiq"``: its keys, defaults and checks, and
the key that signs its jobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import toolwire
from toolwire import settings

#: The URL schemes of the Redis the broker and result backend use.
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")

#: The environment variable that holds the signing key when ``key_env`` is not set.
DEFAULT_KEY_ENV: Final = "TOOLWIRE_TASKIQ_KEY"

_SECONDS: Final = settings.SECONDS
_COUNT: Final = settings.COUNT

#: An ``[executors.NAME]`` table of ``kind = "taskiq"``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "kind": {"const": "taskiq"},
        "url": {"type": "string", "pattern": f"^({'|'.join(REDIS_SCHEMES)})://",
                "x-expected": "a Redis URL (redis://host:port/db)"},
        "queue": {"type": "string", "minLength": 1, "x-expected": "a queue name"},
        "heartbeat": _SECONDS,
        "concurrency": _COUNT,
        "connect_timeout": _SECONDS,
        "result_ttl": _COUNT,
        "key_env": settings.ENV_NAME,
        "default_timeout": _SECONDS,
        "claim_timeout": _SECONDS,
        "claim_memory": _COUNT,
    },
}  # fmt: skip


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
        claim_memory: How many claimed jobs one worker remembers at most (each until its
            deadline), so that a job pushed to it again never runs twice, whatever Redis holds.
            Full, it forgets first the jobs past their claim time (refused as late anyway);
            still full, it refuses new jobs (``executor_unavailable``, retryable).
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
    claim_memory: int = 100_000

    @property
    def prefix(self) -> str:
        return f"{self.queue}:"

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any], where: str) -> Settings:
        """Check and read one table.

        Raises:
            toolwire.ConfigError: a key it does not know, a missing or bad ``url``, a bad
                value; each problem names its key, under ``where`` (the config file).
        """
        settings.raise_problems(
            where, settings.settings_problems(table, SCHEMA, ("executors", name))
        )
        values = {k: v for k, v in table.items() if k != "kind"}
        values.setdefault("queue", f"toolwire:{name}")
        for key in ("heartbeat", "connect_timeout", "default_timeout", "claim_timeout"):
            if key in values:
                values[key] = float(values[key])
        for key in (
            "concurrency",
            "result_ttl",
            "claim_memory",
        ):  # JSON Schema counts 5.0 as an integer
            if key in values:
                values[key] = int(values[key])
        return cls(name=name, **values)

    def key(self, environ: Mapping[str, str] | None = None) -> bytes:
        """The signing key: the text of the environment variable ``key_env`` names, as UTF-8
        bytes (a hex key is used as its text, not decoded). The messages never show it.

        Raises:
            toolwire.ConfigError: the variable is unset or empty, shorter than 16 bytes, only
                whitespace, or too repetitive to be a secret (``toolwire.settings.read_secret``).
        """
        return settings.read_secret(
            self.key_env,
            f"[executors.{self.name}] key_env",
            what="a signing key",
            advice="the host and every worker need the same one: jobs are signed with it",
            environ=environ,
        )


def taskiq_tables(config: toolwire.Config) -> dict[str, Settings]:
    """Every ``[executors.NAME]`` table of kind ``taskiq``, checked."""
    return {
        name: Settings.from_table(name, table, config.describe())
        for name, table in config.executor_settings().items()
        if table["kind"] == "taskiq"
    }
