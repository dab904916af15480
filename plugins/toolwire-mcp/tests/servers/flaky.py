"""A small MCP server over stdio (2025-11-25 handshake) that misbehaves on request.

Tools: ``echo``, ``slow`` (sleeps, reporting progress), ``pid``, ``env``, ``die`` (the process exits
mid-call), ``hang`` (the server stops answering anything), ``image``, ``fail`` (an isError
result), ``grow`` (adds the tool ``extra`` and sends ``notifications/tools/list_changed``).

``--garbage`` prints lines that are not JSON-RPC on stdout before every answer.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

GARBAGE = "--garbage" in sys.argv
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
_write = threading.Lock()
_hung = threading.Event()
_tools = {
    "echo": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    "slow": {"type": "object", "properties": {"seconds": {"type": "number"}}},
    "pid": {"type": "object", "properties": {}},
    "env": {
        "type": "object",
        "properties": {"names": {"type": "array", "items": {"type": "string"}}},
    },
    "die": {"type": "object", "properties": {}},
    "hang": {"type": "object", "properties": {}},
    "image": {"type": "object", "properties": {}},
    "fail": {"type": "object", "properties": {}},
    "grow": {"type": "object", "properties": {}},
}


def send(message: dict) -> None:
    with _write:
        if GARBAGE:
            sys.stdout.write("this is not JSON-RPC\n{oops\n")
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()


def text(value: str) -> dict:
    return {"content": [{"type": "text", "text": value}]}


def call(request_id: object, params: dict) -> None:
    name = params.get("name")
    args = params.get("arguments") or {}
    token = (params.get("_meta") or {}).get("progressToken")
    if name == "echo":
        result = text(args["text"])
    elif name == "slow":
        seconds = float(args.get("seconds", 1))
        steps = 4
        for step in range(steps):
            if token is not None:
                send(
                    {
                        "jsonrpc": "2.0",
                        "method": "notifications/progress",
                        "params": {"progressToken": token, "progress": step, "total": steps},
                    }
                )
            time.sleep(seconds / steps)
        result = text(f"slept {seconds}")
    elif name == "pid":
        result = {"content": [], "structuredContent": {"pid": os.getpid()}}
    elif name == "env":
        found = {key: os.environ.get(key) for key in args.get("names", [])}
        result = {"content": [], "structuredContent": found}
    elif name == "die":
        time.sleep(0.2)
        os._exit(3)
    elif name == "hang":
        _hung.set()
        return
    elif name == "image":
        result = {
            "content": [
                {"type": "text", "text": "a red dot"},
                {"type": "image", "data": PNG, "mimeType": "image/png"},
            ]
        }
    elif name == "fail":
        result = {"content": [{"type": "text", "text": "the widget is broken"}], "isError": True}
    elif name == "grow":
        _tools["extra"] = {"type": "object", "properties": {}}
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        result = text("grown")
    elif name == "extra" and "extra" in _tools:
        result = text("extra here")
    else:
        send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": -32602, "message": "no such tool"},
            }
        )
        return
    if not _hung.is_set():
        send({"jsonrpc": "2.0", "id": request_id, "result": result})


def main() -> None:
    print("flaky server starting", file=sys.stderr, flush=True)
    if GARBAGE:
        sys.stdout.write("Welcome! (a banner no MCP client expects)\n")
        sys.stdout.flush()
    for line in sys.stdin:
        if _hung.is_set():
            continue
        try:
            message = json.loads(line)
        except ValueError:
            continue
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            if method == "notifications/cancelled":
                print(
                    f"cancelled {message['params'].get('requestId')}", file=sys.stderr, flush=True
                )
            continue
        if method == "initialize":
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "result": {
                        "protocolVersion": "2025-11-25",
                        "capabilities": {"tools": {"listChanged": True}},
                        "serverInfo": {"name": "flaky", "version": "1"},
                    },
                }
            )
        elif method == "tools/list":
            tools = [
                {"name": name, "description": f"The {name} tool.", "inputSchema": schema}
                for name, schema in _tools.items()
            ]
            send({"jsonrpc": "2.0", "id": request_id, "result": {"tools": tools}})
        elif method == "tools/call":
            threading.Thread(target=call, args=(request_id, message["params"]), daemon=True).start()
        elif method == "ping":
            send({"jsonrpc": "2.0", "id": request_id, "result": {}})
        else:
            send(
                {
                    "jsonrpc": "2.0",
                    "id": request_id,
                    "error": {"code": -32601, "message": f"Method not found: {method}"},
                }
            )


if __name__ == "__main__":
    main()
