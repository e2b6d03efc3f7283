"""Fixtures of the hardening tests: the fake API servers (see tests/fakes/fixtures.py)."""

from tests.fakes.fixtures import *  # noqa: F403  (bigbuy_server, generic_server, ...)
