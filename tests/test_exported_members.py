"""What ``import toolwire`` promises: exactly ``__all__`` and the public modules, nothing leaked."""

from __future__ import annotations

import toolwire

EXPORTED = {
    "ERROR_KINDS",
    "Approval",
    "ApprovalError",
    "Audio",
    "AudioPart",
    "CallContext",
    "CallNext",
    "Config",
    "ConfigError",
    "Content",
    "Deny",
    "DispatchResult",
    "Dispatcher",
    "File",
    "FilePart",
    "HeldTurn",
    "Image",
    "ImagePart",
    "LinkPart",
    "Middleware",
    "PluginError",
    "PluginInfo",
    "RefusalSummary",
    "Reject",
    "RequireApproval",
    "TextPart",
    "Tool",
    "ToolCall",
    "ToolError",
    "ToolPolicy",
    "Toolset",
    "TransientError",
    "__version__",
    "get_logger",
    "hookimpl",
    "load_config",
    "to_json",
    "tool",
}
#: Public modules: importing one makes it an attribute of the package.
PUBLIC_MODULES = {
    "cli",
    "hookspecs",
    "middleware",
    "propagation",
    "providers",
    "pytest_plugin",
    "settings",
    "testing",
    "types",
}


def test_all_is_pinned() -> None:
    """toolwire.__all__ is exactly the promised names, each once."""
    assert sorted(toolwire.__all__) == sorted(EXPORTED)


def test_no_module_leaks_a_name() -> None:
    """Every public attribute of the package is in __all__ or is a public module (no `Any`,
    no `annotations`)."""
    # pytest's assertion rewriting adds '@py_...' names to the plugin it loads: not identifiers.
    public = {name for name in dir(toolwire) if not name.startswith("_") and name.isidentifier()}
    assert public - PUBLIC_MODULES == EXPORTED - {"__version__"}


def test_every_exported_name_resolves() -> None:
    """Each name in __all__ is really there (``__version__`` from the installed metadata)."""
    for name in toolwire.__all__:
        assert getattr(toolwire, name) is not None
    assert set(toolwire.middleware.__all__) == {
        "DEFAULT_RETRY_ON",
        "ConcurrencyLimit",
        "Order",
        "Retry",
        "Timeout",
    }
    assert set(toolwire.types.__all__) == {
        "CallNext",
        "Command",
        "Executor",
        "Job",
        "Middleware",
        "ProgressCallback",
        "Redaction",
    }
