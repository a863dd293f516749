"""Unit tests are hermetic: the caller's ``LEADSCORE_*`` variables never reach ``Settings()``.

``ops/test`` exports the stack's addresses for the integration tests; a unit test that read them
would pass or fail by the shell it ran in. The autouse fixture in tests/support/fixtures.py removes
them for every test not marked integration or faults, and this test holds it to that.
"""

from __future__ import annotations

import os

from streams.settings import Settings


def test_unit_tests_see_no_leadscore_variables() -> None:
    assert [name for name in os.environ if name.startswith("LEADSCORE_")] == []
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    assert Settings().kafka_bootstrap == defaults["kafka_bootstrap"]
    assert Settings().redis_url == defaults["redis_url"]
