"""A module an entry point names by mistake: it brings no tools and no hooks."""

ANSWER = 42
