"""What host and workers agree on: the broker, the signed job, the Redis keys and the reply.

A call travels as one message on the Redis list ``queue`` (taken by one worker), under a job
id that is a fresh random id per attempt. The message is the job, signed by the host::

    MAC  b"\\n"  BODY

``BODY`` is the job's canonical encoding: one JSON object, keys sorted, no whitespace
(``separators=(",", ":")``), ``ensure_ascii=True`` (so it is ASCII), no ``NaN``::

    {"approval_id":null,"arguments":{"a":1},"attempt":1,"call_id":"c1","claim_by":1767225610.5,
     "deadline":1767225900.5,"executor":"fleet","job":"9f0c...","plugin":"remote",
     "principal":"ada","progress":null,"role":"admin","tool":"add","trace_context":{},"v":1,
     "version":"1.0.0"}

``MAC`` is HMAC-SHA256 of ``b"toolwire-taskiq job\\n" + BODY``, keyed with the executor's key
(the text of the variable ``key_env`` names), as 64 lowercase hex digits. The prefix keeps a
job's MAC apart from anything else the same key signs. A worker compares ``MAC`` with its own
(``hmac.compare_digest``) over the raw bytes before it parses ``BODY``: every field is signed,
so nobody without the key can queue a call, nor change its tool, arguments, role, principal,
approval, deadline or version.

A reply is signed by the worker in the same way, and stored under ``result:ID`` as
``MAC b"\\n" TEXT`` (``TEXT`` the reply's JSON, ``MAC`` over ``b"toolwire-taskiq reply\\n" +
ID + b"\\n" + TEXT``): the host parses ``TEXT`` only when ``MAC`` holds.

A job whose host asked for progress carries ``"progress"``: the id of the host's link, which
names the channel ``progress:HOST`` the host listens on (a job without it has
``"progress":null``). The tool's ``CallContext.report_progress`` then travels as messages on
that channel, each signed by the worker as a job is (``MAC b"\\n" BODY``, ``MAC`` over
``b"toolwire-taskiq progress\\n" + BODY``), ``BODY`` canonical::

    {"job":"9f0c...","message":"step 1","progress":1.0,"seq":1,"total":3.0}

``seq`` counts the job's reports from 1, so the host keeps them in order and drops one that
is not newer than the last; ``job`` binds the report to its job, so a report is delivered
only to the call that job is, while the host waits for it. The reply then says how many
reports were sent (``"reports"``), and the host passes those on before the result.

Beside the queue, under the queue's name as a prefix:

- ``claim:ID`` says who has job ``ID``, set once (``SET NX``): the id of the worker that
  claimed it, or ``!abandoned`` (no worker claimed it within ``claim_timeout``),
  ``!cancelled`` (the host cancelled it before a worker claimed it) or ``!refused`` (a worker
  refused it and replied why). It lives until ``CLAIM_MARGIN`` seconds past the job's
  deadline, so a job queued again (replayed) finds it and is refused; after that, its deadline
  has passed (by any clock within ``CLAIM_MARGIN`` of the host's). Whoever may write to Redis
  may delete it too: each worker also remembers the jobs it claimed (``_claims``), and every
  worker refuses a job past its ``claim_by``, so a deleted claim lets a job run again only on
  another worker within ``claim_timeout`` of its sending (Redis ACLs close even that);
- ``alive:WORKER`` is the worker's heartbeat, refreshed four times per interval and expiring
  after half of one;
- a message on the channel ``cancel`` asks the worker running job ``ID`` to stop it; it is
  signed by the host (``MAC b"\n" ID``, ``MAC`` over ``b"toolwire-taskiq cancel\n" + ID``), so
  only a host can stop a call; one whose MAC does not hold is refused, counted and ignored (a
  message on ``done`` that is no job id, ``job_id_of``, is junk: counted, ignored);
- ``result:ID`` holds the reply to job ``ID`` for ``result_ttl`` seconds, and a message on
  the channel ``done`` says that it is there;
- ``progress:HOST`` is the channel of one host's link, where workers publish the signed
  progress reports of the jobs that name it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Mapping
from typing import Any, Final

from taskiq_redis import ListQueueBroker

from ._settings import Settings

#: The version of the job encoding (``"v"``); a worker refuses any other.
JOB_VERSION: Final = 1
#: What a job's and a reply's MAC cover before their bytes.
JOB_DOMAIN: Final = b"toolwire-taskiq job\n"
REPLY_DOMAIN: Final = b"toolwire-taskiq reply\n"
PROGRESS_DOMAIN: Final = b"toolwire-taskiq progress\n"
CANCEL_DOMAIN: Final = b"toolwire-taskiq cancel\n"
#: Shortest time between two progress reports of one call, on the worker and again on the
#: host: a tool may report in a tight loop; Redis and the host's consumers take at most this
#: rate (the ``process`` executor's too).
PROGRESS_INTERVAL: Final = 0.01
#: The length of a MAC in hex digits, and what separates it from the body.
MAC_HEX: Final = 64
SEPARATOR: Final = b"\n"
#: Seconds past a job's deadline that its claim is kept: the clock difference between a host
#: and a worker that replay protection tolerates.
CLAIM_MARGIN: Final = 60
#: The claims that are not a worker's id.
ABANDONED: Final = "!abandoned"
CANCELLED: Final = "!cancelled"
REFUSED: Final = "!refused"


class Refused(Exception):
    """A message a worker will not run; ``reason`` says why, in one word."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def canonical(value: Mapping[str, Any]) -> bytes:
    """A job's canonical encoding: JSON, sorted keys, no whitespace, ASCII, no ``NaN``."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


class Signer:
    """Signs jobs and checks replies (the host), checks jobs and signs replies (a worker).

    Args:
        key: The executor's key; it never leaves this object (nor its ``repr``).
    """

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "<toolwire-taskiq signer>"

    def mac(self, domain: bytes, data: bytes) -> bytes:
        """The MAC of ``data`` under ``domain``, as hex digits (ASCII bytes)."""
        return hmac.new(self._key, domain + data, hashlib.sha256).hexdigest().encode("ascii")

    def seal(self, job: Mapping[str, Any]) -> bytes:
        """The message that carries ``job``: its MAC, a newline, its canonical encoding."""
        body = canonical(job)
        return self.mac(JOB_DOMAIN, body) + SEPARATOR + body

    def open(self, message: bytes, domain: bytes = JOB_DOMAIN) -> bytes:
        """The body of a message whose MAC holds, not yet parsed.

        Raises:
            Refused: ``unsigned`` (no MAC where one belongs) or ``forged`` (a MAC that does
                not hold: another key, or a changed byte).
        """
        if len(message) <= MAC_HEX or message[MAC_HEX : MAC_HEX + 1] != SEPARATOR:
            raise Refused("unsigned")
        body = message[MAC_HEX + 1 :]
        if not hmac.compare_digest(self.mac(domain, body), message[:MAC_HEX]):
            raise Refused("forged")
        return body

    def seal_progress(
        self, job: str, seq: int, progress: float, total: float | None, message: str | None
    ) -> bytes:
        """A worker's progress report number ``seq`` of job ``job``, signed."""
        body = canonical(
            {"job": job, "seq": seq, "progress": progress, "total": total, "message": message}
        )
        return self.mac(PROGRESS_DOMAIN, body) + SEPARATOR + body

    def seal_cancel(self, job: str) -> bytes:
        """The host's message asking the worker running job ``job`` to stop it, signed."""
        body = job.encode("ascii")
        return self.mac(CANCEL_DOMAIN, body) + SEPARATOR + body

    def open_cancel(self, data: Any) -> str:
        """The job id a cancel message names, once its MAC holds.

        Raises:
            Refused: ``unsigned`` or ``forged`` (as ``open``), or ``malformed`` (a signed
                body that is no job id).
        """
        if isinstance(data, str):
            data = data.encode("utf-8", errors="replace")
        if not isinstance(data, bytes):
            raise Refused("malformed")
        job = job_id_of(self.open(data, CANCEL_DOMAIN))
        if job is None:
            raise Refused("malformed")
        return job

    def seal_reply(self, job: str, reply: Mapping[str, Any]) -> bytes:
        """What a worker stores as the reply to job ``job``: a MAC, a newline, the reply's JSON."""
        text = json.dumps(reply, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        body = text.encode("ascii")
        return self.mac(REPLY_DOMAIN, job.encode("ascii") + SEPARATOR + body) + SEPARATOR + body

    def open_reply(self, job: str, stored: bytes) -> Any:
        """The reply to job ``job``, parsed once its MAC holds.

        Raises:
            Refused: ``forged``: the MAC does not hold (nor a worker with this key wrote it).
        """
        body = stored[MAC_HEX + 1 :]
        expected = self.mac(REPLY_DOMAIN, job.encode("ascii") + SEPARATOR + body)
        if stored[MAC_HEX : MAC_HEX + 1] != SEPARATOR or not hmac.compare_digest(
            expected, stored[:MAC_HEX]
        ):
            raise Refused("forged")
        return json.loads(body)


def read_job(body: bytes, executor: str) -> dict[str, Any]:
    """The job a checked body holds.

    Raises:
        Refused: ``malformed`` (not a job of this encoding) or ``other_executor`` (signed for
            another executor that shares the key, and moved to this one's queue).
    """
    try:
        job = json.loads(body)
    except ValueError:
        raise Refused("malformed") from None
    if (
        not isinstance(job, dict)
        or job.get("v") != JOB_VERSION
        or not isinstance(job.get("job"), str)
        or not (job["job"].isascii() and job["job"].isalnum() and len(job["job"]) <= 64)
        or not isinstance(job.get("tool"), str)
        or not isinstance(job.get("arguments"), dict)
        or not _is_time(job.get("deadline"))
        or not _is_time(job.get("claim_by"))
        or not (job.get("progress") is None or job_id_of(job["progress"]) is not None)
    ):
        raise Refused("malformed")
    if job.get("executor") != executor:
        raise Refused("other_executor")
    return job


def read_progress(body: bytes) -> tuple[str, int, tuple[float, float | None, str | None]]:
    """The job, the number and the report (progress, total, message) a checked body holds.

    Raises:
        Refused: ``malformed``: not a progress report of this encoding.
    """
    try:
        report = json.loads(body)
    except ValueError:
        raise Refused("malformed") from None
    if not isinstance(report, dict):
        raise Refused("malformed")
    job, seq = job_id_of(report.get("job")), report.get("seq")
    progress: Any = report.get("progress")
    total, message = report.get("total"), report.get("message")
    if (
        job is None
        or not isinstance(seq, int)
        or isinstance(seq, bool)
        or seq < 1
        or not _is_number(progress)
        or not (total is None or _is_number(total))
        or not (message is None or isinstance(message, str))
    ):
        raise Refused("malformed")
    done: float = progress  # a finite number, checked above
    return job, seq, (float(done), None if total is None else float(total), message)


def job_id_of(data: Any) -> str | None:
    """The job id a pub/sub message carries (``done``, ``cancel``), or ``None`` for anything
    that is not one (ASCII letters and digits, 64 at most): junk anyone who can publish sends."""
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if not isinstance(data, bytes) or not 0 < len(data) <= 64:
        return None
    text = data.decode("ascii", errors="replace")
    return text if text.isascii() and text.isalnum() else None


def lateness(job: Mapping[str, Any], now: float | None = None) -> str | None:
    """Why a job is too late to start (``expired``: its deadline passed; ``unclaimed``: its
    ``claim_timeout`` passed, so its host gave up on it), or ``None``."""
    now = time.time() if now is None else now
    if now >= job["deadline"]:
        return "expired"
    if now >= job["claim_by"]:
        return "unclaimed"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


_is_time = _is_number


class Keys:
    """The Redis names one executor's host and workers use."""

    def __init__(self, settings: Settings) -> None:
        prefix = settings.prefix
        self.done = f"{prefix}done"
        self.cancel_channel = f"{prefix}cancel"
        self._prefix = prefix

    def claim(self, job: str) -> str:
        return f"{self._prefix}claim:{job}"

    def alive(self, worker: str) -> str:
        return f"{self._prefix}alive:{worker}"

    def result(self, job: str) -> str:
        return f"{self._prefix}result:{job}"

    def progress(self, host: str) -> str:
        return f"{self._prefix}progress:{host}"


def claim_lifetime(deadline: float) -> int:
    """Seconds a job's claim is kept: until ``CLAIM_MARGIN`` past its deadline."""
    return max(1, math.ceil(deadline - time.time())) + CLAIM_MARGIN


def make_broker(settings: Settings) -> ListQueueBroker:
    """The broker of one executor: it queues signed jobs, as bytes, on the list ``queue``.

    Replies do not go through taskiq's result backend, which would parse whatever Redis holds
    (exceptions included) before anything could check it: a worker stores its signed reply
    under ``result:ID`` and the host checks it before parsing it.
    """
    return ListQueueBroker(
        settings.url, queue_name=settings.queue, socket_connect_timeout=settings.connect_timeout
    )
