"""The ``[plugins.ratelimit]`` table: its keys, their defaults, and how a mistake is reported."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import limits
import toolwire
from toolwire import settings

Strategy = Literal["moving-window", "fixed-window", "sliding-window-counter"]

STRATEGIES: Final[tuple[Strategy, ...]] = (
    "moving-window",
    "fixed-window",
    "sliding-window-counter",
)

#: Storage URI schemes we accept, and the ``limits.aio`` scheme each one maps to.
REDIS_SCHEMES: Final[Mapping[str, str]] = {
    "redis": "async+redis",
    "rediss": "async+rediss",
    "redis+unix": "async+redis+unix",
    "async+redis": "async+redis",
    "async+rediss": "async+rediss",
    "async+redis+unix": "async+redis+unix",
}


#: ``[plugins.ratelimit]``, as ``toolwire.settings`` checks it.
SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "storage": {**settings.TEXT, "default": "memory://"},
        "key_prefix": {**settings.TEXT, "default": "toolwire"},
        "principal_key": settings.TEXT,
        "per_role": {**settings.FLAG, "default": True},
        "strategy": {"enum": list(STRATEGIES), "default": "moving-window",
                     "x-expected": f"one of {', '.join(STRATEGIES)}"},
        "storage_timeout": {**settings.SECONDS, "default": 1.0},
        "fail_open": {**settings.FLAG, "default": False},
    },
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Settings:
    """The rate-limit plugin's settings, read from ``[plugins.ratelimit]``.

    Attributes:
        storage: ``memory://`` (per dispatcher, in this process) or ``redis://host:port[/db]``
            (shared by every process that names the same Redis).
        key_prefix: Namespaces the keys in shared storage.
        principal_key: A key of the host's ``state``; its value gets a limit of its own.
        per_role: Whether each role gets a limit of its own.
        strategy: ``moving-window`` (exact), ``fixed-window`` or ``sliding-window-counter``.
        storage_timeout: Seconds a storage round trip may take before it counts as a failure.
        fail_open: When storage fails, let calls through (with a warning) instead of failing them.
    """

    storage: str = "memory://"
    key_prefix: str = "toolwire"
    principal_key: str | None = None
    per_role: bool = True
    strategy: Strategy = "moving-window"
    storage_timeout: float = 1.0
    fail_open: bool = False

    @property
    def uses_redis(self) -> bool:
        return self.storage.partition("://")[0] in REDIS_SCHEMES

    @property
    def async_storage_uri(self) -> str:
        """The URI as ``limits.aio`` spells it (``redis://`` becomes ``async+redis://``)."""
        scheme, _, rest = self.storage.partition("://")
        return f"{REDIS_SCHEMES[scheme]}://{rest}"

    @property
    def redis_url(self) -> str:
        """The URI as redis-py spells it (``redis+unix://`` becomes ``unix://``)."""
        scheme = self.async_storage_uri.partition("://")[0].removeprefix("async+")
        rest = self.storage.partition("://")[2]
        return f"{'unix' if scheme == 'redis+unix' else scheme}://{rest}"

    @classmethod
    def from_config(cls, config: toolwire.Config) -> Settings:
        """Read and check ``[plugins.ratelimit]`` and every ``[tools.NAME] rate_limit``.

        Raises:
            toolwire.ConfigError: a key is unknown or has a wrong value; each problem names
                its key and the config file.
        """

        def problems(values: Mapping[str, Any]) -> list[str]:
            found = _storage_problems(values["storage"])
            for tool_name, tool_settings in config.section("tools").items():
                value = tool_settings.get("rate_limit")
                if isinstance(value, str) and not _valid_limit(value):
                    found.append(
                        f"[tools.{tool_name}] rate_limit: {value!r} is not a limit such as "
                        "'10/minute'"
                    )
            return found

        values = settings.read_settings(config, "ratelimit", SCHEMA, check=problems)
        return cls(**{**values, "storage_timeout": float(values["storage_timeout"])})


_ZERO_UNITS: Final = re.compile(r"/\s*0+\s*[a-z]", re.IGNORECASE)


def parse_limit(text: str) -> limits.RateLimitItem:
    """One ``limits`` item from a string such as ``"10/minute"``.

    Raises:
        ValueError: the string is not a limit, or holds several (``"1/second;5/minute"``):
            ``limits.parse`` would keep the first one only, silently.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not a limit such as '10/minute'")
    try:
        items = limits.parse_many(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a limit such as '10/minute'") from None
    if len(items) != 1:
        raise ValueError(f"{text!r} holds {len(items)} limits; give one")
    item = items[0]
    # limits accepts "0/minute", and reads "10/0 minute" as "10 per 1 minute": neither means
    # what was meant.
    if item.amount < 1 or item.multiples < 1 or _ZERO_UNITS.search(text):
        raise ValueError(
            f"{text!r} allows no call at all; a limit needs at least 1 call per at least 1 unit"
        )
    return item


def _valid_limit(text: str) -> bool:
    try:
        parse_limit(text)
    except ValueError:
        return False
    return True


def _storage_problems(storage: str) -> list[str]:
    scheme = storage.partition("://")[0]
    if storage != "memory://" and scheme not in REDIS_SCHEMES:
        return [f"[plugins.ratelimit] storage: {storage!r} is not 'memory://' or a redis:// URI"]
    if scheme in REDIS_SCHEMES and importlib.util.find_spec("redis") is None:
        return [
            "[plugins.ratelimit] storage: Redis storage needs the redis client; "
            "install toolwire-ratelimit[redis]"
        ]
    if scheme in REDIS_SCHEMES:
        return _redis_url_problems(Settings(storage=storage).redis_url)
    return []


def _redis_url_problems(url: str) -> list[str]:
    """What redis-py finds wrong with the URL (building a pool connects to nothing)."""
    import redis.asyncio

    try:
        redis.asyncio.ConnectionPool.from_url(url)
    except ValueError as exc:
        return [f"[plugins.ratelimit] storage: {exc}"]
    return []
