"""``redis://``: approvals in Redis (the ``redis`` client), shared by several hosts; each change
of state one Lua script, atomic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ._records import STATUSES, Approval
from ._store import ApprovalStore, Claim, Entry, _approval, _before, _fixed

#: KEYS: the record, the set of its status now, the set of the new status.
#: ARGV: id, new status, by, at, message, "1" to expire (only overdue) or "0" (only not),
#: status now, "1" to keep who decided and when (only the status changes) or "0".
_CLAIM_LUA: Final = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[7] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
local overdue = tonumber(redis.call('HGET', KEYS[1], 'expires_at')) <= tonumber(ARGV[4])
if overdue ~= (ARGV[6] == '1') then return 0 end
if ARGV[8] == '1' then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
else
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'decided_by', ARGV[3], 'decided_at', ARGV[4],
             'message', ARGV[5])
end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""
#: KEYS: the record, the running set, the approved set. ARGV: id.
_RELEASE_LUA: Final = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', 'approved')
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], score, ARGV[1])
return 1
"""
#: KEYS: the record, the set of its status now, the set of the new status.
#: ARGV: id, status now, new status, result, item.
_COMPLETE_LUA: Final = """
if redis.call('HEXISTS', KEYS[1], 'result') == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'result', ARGV[4], 'item', ARGV[5])
if ARGV[2] ~= ARGV[3] then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[3], score, ARGV[1])
end
return 1
"""


class RedisStore(ApprovalStore):
    """Redis (``redis://HOST:PORT/DB``): every host that shares the server shares approvals.

    A record is a hash; a sorted set per status (scored by creation time) lists them; claims
    and result writes are Lua scripts, so each is one atomic step on the server.
    """

    PREFIX: Final = "toolwire:approvals:"

    def __init__(self, url: str) -> None:
        import redis

        # Any: the nox type check runs without the optional redis package installed.
        self._client: Any = redis.Redis.from_url(url, decode_responses=True)
        self._claim_script = self._client.register_script(_CLAIM_LUA)
        self._release = self._client.register_script(_RELEASE_LUA)
        self._complete = self._client.register_script(_COMPLETE_LUA)

    def _key(self, approval_id: str) -> str:
        return f"{self.PREFIX}record:{approval_id}"

    def _set(self, status: str) -> str:
        return f"{self.PREFIX}status:{status}"

    def add(self, approval: Approval) -> None:
        with self._client.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._key(approval.id),
                mapping={
                    "fixed": _fixed(approval),
                    "status": approval.status,
                    "expires_at": repr(approval.expires_at),
                },
            )
            pipe.zadd(self._set(approval.status), {approval.id: approval.created_at})
            pipe.execute()

    def get(self, approval_id: str) -> Entry | None:
        row = self._client.hgetall(self._key(approval_id))
        if not row:
            return None
        return Entry(self._from_row(row), row.get("result"), row.get("item") or None)

    def _from_row(self, row: Mapping[str, str]) -> Approval:
        at = row.get("decided_at")
        return _approval(
            row["fixed"],
            status=row["status"],
            decided_by=row.get("decided_by") or None,
            decided_at=float(at) if at else None,
            message=row.get("message") or None,
        )

    def _claim(self, claim: Claim) -> bool:
        approval_id, status, by, at, message, overdue, current, keep = claim
        keys = [self._key(approval_id), self._set(current), self._set(status)]
        args = [
            approval_id, status, by or "", repr(at), message or "", "1" if overdue else "0",
            current, "1" if keep else "0",
        ]  # fmt: skip
        return bool(self._claim_script(keys=keys, args=args))

    def release(self, approval_id: str) -> bool:
        keys = [self._key(approval_id), self._set("running"), self._set("approved")]
        return bool(self._release(keys=keys, args=[approval_id]))

    def complete(self, approval_id: str, status: str, result: str, item: str | None) -> bool:
        before = _before(status)
        keys = [self._key(approval_id), self._set(before), self._set(status)]
        args = [approval_id, before, status, result, item or ""]
        return bool(self._complete(keys=keys, args=args))

    def records(self, status: str | None) -> list[Approval]:
        statuses = STATUSES if status is None else (status,)
        ids: list[tuple[float, str]] = []
        for name in statuses:
            ids += [(s, i) for i, s in self._client.zrange(self._set(name), 0, -1, withscores=True)]
        with self._client.pipeline(transaction=False) as pipe:
            for _, approval_id in sorted(ids):
                pipe.hgetall(self._key(approval_id))
            rows = pipe.execute()
        found = [self._from_row(row) for row in rows if row]
        return [a for a in found if status is None or a.status == status]

    def add_turn(self, turn_id: str, data: str) -> None:
        self._client.set(f"{self.PREFIX}turn:{turn_id}", data)

    def get_turn(self, turn_id: str) -> str | None:
        data = self._client.get(f"{self.PREFIX}turn:{turn_id}")
        return None if data is None else str(data)

    def mark_resumed(self, turn_id: str, at: float) -> float | None:
        key = f"{self.PREFIX}resumed:{turn_id}"
        if self._client.set(key, repr(at), nx=True):
            return None
        return float(self._client.get(key))

    def close(self) -> None:
        self._client.close()
