"""A plugin with every kind of hook: permission, before, after, format, middleware, tools."""

import toolwire

pack = toolwire.Toolset("hooks")
seen: list[str] = []


@pack.tool
def guarded(text: str) -> str:
    """Echo text unless a hook stops it.

    Args:
        text: What to echo.
    """
    return text


@toolwire.hookimpl
def toolwire_register_tools(register):
    register(pack)


@toolwire.hookimpl
async def toolwire_check_permission(call, context):
    if call.name == "guarded" and call.arguments.get("text") == "forbidden":
        return toolwire.Deny("forbidden text")
    return None


@toolwire.hookimpl
def toolwire_before_call(call, context):
    if call.arguments.get("text") == "reject me":
        raise toolwire.Reject("rejected by the hooks plugin")


@toolwire.hookimpl
def toolwire_after_call(call, result, context):
    seen.append(call.call_id)


async def shout(call, context, call_next):
    value = await call_next(call, context)
    return value.upper() if isinstance(value, str) else value


@toolwire.hookimpl
def toolwire_register_middleware(register):
    register(shout)
