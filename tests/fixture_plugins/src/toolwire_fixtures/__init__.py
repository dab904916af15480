"""Fixture plugins for toolwire's discovery tests."""
