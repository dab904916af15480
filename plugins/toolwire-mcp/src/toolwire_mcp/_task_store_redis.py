"""MCP task records in Redis (``[approvals] store = "redis://..."``): every server process on
that Redis shares them.

A task is one hash, ``toolwire:mcp:tasks:<id>``. Every change of state is one Lua script, so a
cancel and a completion cannot both win, and every time in a record comes from the Redis
server's clock (``TIME``), so hosts whose clocks disagree still agree on whose lease ran out.
A finished task expires ``ttl`` after it ends; a working one ``ttl`` after its last renewal, so
the record of a task whose process was killed (it reads ``failed``) does not stay forever.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Final

import toolwire

from ._tasks import LEASE, STOPPED, TaskStore

PREFIX: Final = "toolwire:mcp:tasks:"
_LEASE_MS: Final = int(LEASE * 1000)

#: The Redis server's clock in milliseconds, as a local ``now``.
_NOW: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""
#: KEYS: the record. ARGV: owner, ttl_ms, lease_ms. Returns now, or 0 if the id is taken.
_CREATE_LUA: Final = (
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'status', 'working',
           'created_at', string.format('%.0f', now), 'updated_at', string.format('%.0f', now),
           'ttl_ms', ARGV[2], 'lease_until', string.format('%.0f', now + tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]))
return now
"""
)
#: KEYS: the record. ARGV: status, message ('' for none), result ('' for none).
_FINISH_LUA: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'working' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', string.format('%.0f', now))
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'message', ARGV[2]) end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'result', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], tonumber(redis.call('HGET', KEYS[1], 'ttl_ms')))
return 1
"""
)
#: KEYS: the records. ARGV: lease_ms. Returns the (1-based) positions of those not working.
_RENEW_LUA: Final = (
    _NOW
    + """
local ended = {}
for i, key in ipairs(KEYS) do
  if redis.call('HGET', key, 'status') == 'working' then
    redis.call('HSET', key, 'lease_until', string.format('%.0f', now + tonumber(ARGV[1])))
    redis.call('PEXPIRE', key, tonumber(redis.call('HGET', key, 'ttl_ms')) + tonumber(ARGV[1]))
  else
    table.insert(ended, i)
  end
end
return ended
"""
)
#: KEYS: the record. ARGV: the message. Marks a working task whose lease ran out failed.
_LAPSE_LUA: Final = (
    _NOW
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'working' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'lease_until')) >= now then return 0 end
redis.call('HSET', KEYS[1], 'status', 'failed', 'message', ARGV[1],
           'updated_at', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], tonumber(redis.call('HGET', KEYS[1], 'ttl_ms')))
return 1
"""
)


def shown(url: str) -> str:
    """A Redis URL fit for a message: scheme, host, port and database, never a password."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class RedisTaskStore(TaskStore):
    """Task records in the Redis the approvals use (the ``redis`` client)."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError:
            raise toolwire.ConfigError(
                f"[approvals] store = {shown(url)!r} needs the redis package: "
                "pip install 'toolwire[redis]'"
            ) from None
        # Any: the type check runs without the optional redis package's stubs.
        self._client: Any = redis.Redis.from_url(url, decode_responses=True)
        try:
            self._client.ping()
        except redis.RedisError as exc:
            self._client.close()
            raise toolwire.ConfigError(
                f"[approvals] store: MCP tasks are kept in the Redis at {shown(url)}, which "
                f"does not answer ({type(exc).__name__}); start it, or fix the URL"
            ) from None
        self._create = self._client.register_script(_CREATE_LUA)
        self._finish = self._client.register_script(_FINISH_LUA)
        self._renew = self._client.register_script(_RENEW_LUA)
        self._lapse = self._client.register_script(_LAPSE_LUA)

    @staticmethod
    def key(task_id: str) -> str:
        """The hash that holds a task."""
        return f"{PREFIX}{task_id}"

    def create(self, owner: str, ttl_ms: int) -> dict[str, Any]:
        from ._tasks import new_id

        while True:
            task_id = new_id()
            now = int(self._create(keys=[self.key(task_id)], args=[owner, ttl_ms, _LEASE_MS]))
            if now:
                break
        return {
            "id": task_id,
            "owner": owner,
            "status": "working",
            "message": None,
            "created_at": now / 1000,
            "updated_at": now / 1000,
            "ttl_ms": ttl_ms,
            "lease_until": (now + _LEASE_MS) / 1000,
            "result": None,
        }

    def get(self, task_id: str) -> dict[str, Any] | None:
        row = self._client.hgetall(self.key(task_id))
        if not row or "status" not in row:
            return None
        try:
            return {
                "id": task_id,
                "owner": row["owner"],
                "status": row["status"],
                "message": row.get("message") or None,
                "created_at": int(row["created_at"]) / 1000,
                "updated_at": int(row["updated_at"]) / 1000,
                "ttl_ms": int(row["ttl_ms"]),
                "lease_until": int(row["lease_until"]) / 1000,
                "result": row.get("result") or None,
            }
        except (KeyError, ValueError):  # edited in Redis: read as damaged (``_tasks.read``)
            return {"id": task_id, "owner": row.get("owner"), "status": None}

    def finish(
        self, task_id: str, status: str, message: str | None, result: str | None = None
    ) -> bool:
        args = [status, message or "", result or ""]
        return bool(self._finish(keys=[self.key(task_id)], args=args))

    def renew(self, task_ids: list[str]) -> set[str]:
        if not task_ids:
            return set()
        ended = self._renew(keys=[self.key(t) for t in task_ids], args=[_LEASE_MS])
        return {task_ids[int(i) - 1] for i in ended}

    def lapse(self, task_id: str) -> bool:
        return bool(self._lapse(keys=[self.key(task_id)], args=[STOPPED]))

    def close(self) -> None:
        self._client.close()
