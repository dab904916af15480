"""A worker's own memory of the jobs it claimed.

Redis holds each job's claim for all workers (``SET NX``), but whoever can write to Redis can
delete a claim and push the job again. This memory is the worker's own: a job pushed to it
again never runs twice here, whatever Redis holds. Each id is kept until its job's deadline
passes; past that, ``lateness`` refuses the job anyway (``expired``).

It is bounded. Full, it first forgets the ids whose claim time (``claim_by``) has passed:
``lateness`` refuses those jobs too (``unclaimed``), by the same clock. Still full, it takes
no new id, and the worker refuses the job rather than run one it could not remember (fail
closed): all the remembered jobs are then within their ``claim_timeout``, so the worker takes
more than ``limit / claim_timeout`` jobs a second, or ``claim_memory`` is set too low.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable


class ClaimMemory:
    """The ids of the jobs one worker claimed, each until its deadline.

    Args:
        limit: How many ids it holds at most (``[executors.NAME] claim_memory``).
        clock: Wall-clock seconds, the clock job times are read by (a seam for tests).
    """

    __slots__ = ("_by_deadline", "_clock", "_ids", "_sweep_at", "limit")

    def __init__(self, limit: int, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._ids: dict[str, tuple[float, float]] = {}  # id: (claim_by, deadline)
        self._by_deadline: list[tuple[float, str]] = []
        self._sweep_at = -math.inf  # no id's claim time is earlier (a lower bound)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._ids

    def remember(self, job_id: str, claim_by: float, deadline: float) -> bool:
        """Remember a job this worker is about to claim; ``False`` (and nothing kept) when
        full of jobs still within their claim time."""
        now = self._clock()
        self._forget_expired(now)
        if len(self._ids) >= self.limit:
            self._forget_unclaimable(now)
            if len(self._ids) >= self.limit:
                return False
        self._ids[job_id] = (claim_by, deadline)
        heapq.heappush(self._by_deadline, (deadline, job_id))
        self._sweep_at = min(self._sweep_at, claim_by)
        return True

    def _forget_expired(self, now: float) -> None:
        heap = self._by_deadline
        while heap and heap[0][0] <= now:
            _, job_id = heapq.heappop(heap)
            self._ids.pop(job_id, None)

    def _forget_unclaimable(self, now: float) -> None:
        """Forget the jobs past their claim time; one pass at most until another's passes."""
        if now < self._sweep_at:
            return
        self._ids = {k: v for k, v in self._ids.items() if v[0] > now}
        self._by_deadline = [(deadline, k) for k, (_, deadline) in self._ids.items()]
        heapq.heapify(self._by_deadline)
        self._sweep_at = min((claim_by for claim_by, _ in self._ids.values()), default=math.inf)
