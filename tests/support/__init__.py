"""Helpers and fixtures shared by the test suite; not test modules themselves (see tests/conftest.py)."""
