"""Where each middleware sits in the onion."""

from __future__ import annotations

from enum import IntEnum


class Order(IntEnum):
    """The built-in places in the onion, outermost (lowest) first.

    A middleware says where it sits with an ``order`` attribute: one of these, or any number
    between them (``Order.RETRY + 50`` sits inside retries, outside rate limits). Without one
    it sits at ``INNER``. Equal orders keep registration order.

    Why this order:

    - ``OBSERVE`` (tracing, audit timing) is outermost: one span around the whole call, its
      retries and waits included.
    - ``RETRY`` wraps everything that an attempt goes through: each attempt counts against
      the rate limit again, waits for a concurrency slot again and gets a fresh deadline; the
      backoff sleep between attempts holds no slot and spends no deadline.
    - ``ADMIT`` (rate limits, quotas) comes before the slot: a call refused by a limit never
      waits for, or holds, a concurrency slot.
    - ``CONCURRENCY`` comes before the deadline: the time a call waits for its slot is not
      taken from the time its function may run.
    - ``TIMEOUT`` is innermost of the built-ins: it bounds the run of the function itself.
    - ``INNER`` is the default for middleware that does not say: right around the function.
    """

    OBSERVE = 0
    RETRY = 100
    ADMIT = 200
    CONCURRENCY = 300
    TIMEOUT = 400
    INNER = 500
