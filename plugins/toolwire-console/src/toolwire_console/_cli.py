"""``toolwire console``: serve the operator's console, as an operator starts it."""

from __future__ import annotations

import argparse
import socket
import sys

from toolwire.types import Command

#: Connections waiting to be accepted (uvicorn's own default backlog).
_LISTEN_BACKLOG = 2048


def console_command() -> Command:
    """The ``console`` command."""
    return Command(
        name="console",
        help="serve the operator's console: decide approvals in a web page",
        run=_run,
        setup=_setup,
        description="Serve a web page where people signed in with a token "
        "([plugins.console.tokens.NAME]) see pending approvals and decide them, each tool's "
        "policy and where each value came from, the plugins, and the audit trail. Bound to "
        "127.0.0.1 unless --host says otherwise; put a TLS reverse proxy in front of it for "
        "anyone on another machine.",
    )


def _setup(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="the port (default 8080; 0: any free port)")


def _run(args: argparse.Namespace) -> int:
    import toolwire
    import uvicorn

    from ._app import asgi_app
    from ._settings import Settings

    dispatcher = toolwire.Dispatcher.from_config(args.config)
    try:
        settings = Settings.from_config(dispatcher.config)
        store = str(dispatcher.config.section("approvals").get("store") or "")
        if store.startswith("memory:"):
            raise toolwire.ConfigError(
                f"{dispatcher.config.describe()}: [approvals] store = {store!r} is this "
                "process's own memory, so the console would never see a host's approvals; set "
                "it to the store the hosts share (sqlite:///PATH or redis://HOST:PORT/DB), or "
                "mount toolwire_console.asgi_app(dispatcher) inside the host"
            )
        host = args.host or settings.host
        port = args.port if args.port is not None else settings.port
        dispatcher.start()  # a tool that cannot start stops the console before it listens
        app = asgi_app(dispatcher, settings=settings, host=host)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise toolwire.ConfigError(
                f"toolwire console cannot listen on {host}:{port}: {exc.strerror}; "
                "choose another --port or --host"
            ) from None
        with sock:
            # Listening before it says where: a connection made as soon as the line is read
            # waits in the backlog until the server accepts it, instead of being refused.
            sock.listen(_LISTEN_BACKLOG)
            bound = sock.getsockname()[1]
            where = f"[{host}]" if ":" in host else host
            print(f"toolwire: console on http://{where}:{bound}/", file=sys.stderr, flush=True)
            server = uvicorn.Server(
                uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
            )
            server.run(sockets=[sock])
        return 0
    finally:
        dispatcher.close()
