"""Fixtures of the budget tests: fake servers started for a test and stopped after it."""

from __future__ import annotations

from tests.sync.conftest import start_server  # noqa: F401
