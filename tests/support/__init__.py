"""Helpers and fixtures shared by the test suite; not test modules (see tests/conftest.py)."""
