"""A plugin whose import fails: a dependency it needs is missing."""

import toolwire_fixture_dependency_that_is_not_installed  # noqa: F401
