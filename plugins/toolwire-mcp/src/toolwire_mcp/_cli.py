"""``toolwire mcp serve``: the installed, enabled packs' tools to MCP clients."""

from __future__ import annotations

import argparse
import asyncio
import sys

from toolwire.types import Command


def serve_command() -> Command:
    """The ``mcp`` command and its ``serve`` subcommand."""
    return Command(
        name="mcp",
        help="serve toolwire's tools to MCP clients (toolwire mcp serve)",
        run=_run,
        setup=_setup,
        description="MCP both ways. 'toolwire mcp serve' serves the tools of the installed, "
        "enabled packs that a role may call, under the operator's config, over stdio (for "
        "desktop assistants and IDEs) or streamable HTTP. Servers to load as tool packs are "
        "configured in [plugins.mcp.servers.NAME].",
    )


def _setup(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="mcp_command", metavar="VERB", required=True)
    serve = verbs.add_parser(
        "serve",
        help="serve the tools over stdio or streamable HTTP",
        description="Serve the tools a role may call. Over stdio the role is --role. Over "
        "HTTP each caller's role comes from its bearer token ([plugins.mcp.serve.tokens] or "
        "[plugins.mcp.serve.oauth]); --role names the role of callers without a token "
        "(otherwise they get 401).",
    )
    serve.add_argument(
        "--transport",
        choices=("stdio", "http"),
        default="stdio",
        help="stdio (default; for desktop assistants and IDEs) or http (streamable HTTP)",
    )
    serve.add_argument("--host", help="HTTP: the address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP: the port (default 8000)")
    serve.add_argument(
        "--role",
        help="stdio: the caller's role; HTTP: the role of callers without a token",
    )
    serve.add_argument(
        "--config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="the config file (default: $TOOLWIRE_CONFIG, ./toolwire.toml)",
    )


def _run(args: argparse.Namespace) -> int:
    import toolwire

    from ._settings import Settings

    dispatcher = toolwire.Dispatcher.from_config(args.config)
    try:
        if args.transport == "stdio":
            from ._serve import serve_stdio

            asyncio.run(serve_stdio(dispatcher, role=args.role))
            return 0
        from . import _connections
        from ._http import asgi_app

        serve = Settings.from_config(dispatcher.config).serve
        host = args.host or serve.host
        port = args.port if args.port is not None else serve.port
        app = asgi_app(dispatcher, settings=serve, anonymous_role=args.role, host=host)
        cap = _connections.connection_cap(serve.max_connections, _connections.open_file_limit())
        sock = _connections.listen(host, port)
        with sock:
            bound = sock.getsockname()[1]
            where = f"[{host}]" if ":" in host else host
            print(
                f"toolwire: serving MCP on http://{where}:{bound}{serve.path} "
                f"(at most {cap} connections)",
                file=sys.stderr,
            )
            _connections.run(app, sock, serve, cap)
        return 0
    finally:
        dispatcher.close()
