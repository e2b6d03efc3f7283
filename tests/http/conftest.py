"""Fixtures of the connector tests: the fake servers, a recording sleep, the bundled specs."""

from __future__ import annotations

import pytest

from runner.spec.load import load_specs
from tests.fakes.fixtures import *  # noqa: F403  (the fake server fixtures)
from tests.http.http_support import Sleeper


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture(scope="session")
def bundled():
    """The bundled specs (suppliers and marketplaces) as the loader builds them."""
    return load_specs()
