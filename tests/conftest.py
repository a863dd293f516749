"""The suite's configuration: shared fixtures come from a plugin module, nothing runs on import.

Helpers and fixtures live in ``tests/support/``, a package of plain modules that test modules import
(no test module imports another). Fixtures are registered here, once, through ``pytest_plugins``,
which is the one place pytest reads them from for the whole tree.
"""

pytest_plugins = ["tests.support.fixtures"]
