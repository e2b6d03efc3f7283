"""Fixtures for the operations tests (the databases come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from runner.clock import FakeClock
from tests.ops.support import NOW


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)
