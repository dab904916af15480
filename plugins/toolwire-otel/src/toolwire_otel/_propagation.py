"""Trace context across process and network hops: into a carrier, and back out of one.

A carrier is a ``dict[str, str]`` such as HTTP headers, a task's metadata, or the ``_meta``
object of an MCP request (which carries ``traceparent`` and ``tracestate``). The format is
the globally configured propagator's: W3C Trace Context and Baggage unless the host set
``OTEL_PROPAGATORS`` or called ``opentelemetry.propagate.set_global_textmap``.

``inject`` and ``extract`` are ``toolwire.propagation``'s: toolwire carries the same headers
to its executors' workers by itself. ``attached`` here differs from the core's in one point:
a carrier that holds no context attaches an empty one (the block starts a new trace) rather
than keeping the current one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import toolwire.propagation
from opentelemetry import context as otel_context
from toolwire.propagation import inject as inject


def extract(carrier: object) -> otel_context.Context:
    """The trace context a carrier holds: an empty context when it holds none.

    A carrier is a mapping of header names to strings. Anything else (``None``, a number, a
    string, a list, any object) holds no context, and so do keys and values that are not
    strings, so nothing that came over the wire can make this raise.
    """
    extracted: otel_context.Context = toolwire.propagation.extract(carrier)
    return extracted


@contextlib.contextmanager
def attached(carrier: object) -> Iterator[otel_context.Context]:
    """Make the context a carrier holds current for the ``with`` block (see ``extract``: any
    value is accepted, and one that holds no context attaches an empty one).

    Dispatch inside it and the call's ``execute_tool`` span becomes a child of the remote
    caller's span (an MCP client's request, a queued task's producer)::

        with toolwire_otel.attached(request_meta):
            result = await dispatcher.dispatch(name, arguments)
    """
    extracted = extract(carrier)
    token = otel_context.attach(extracted)
    try:
        yield extracted
    finally:
        otel_context.detach(token)
