"""A plugin whose import raises SyntaxError (as a module with a typo would)."""

exec(compile("def broken(:\n    pass\n", "toolwire_fixtures/typo.py", "exec"))
plugin = None
