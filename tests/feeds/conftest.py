"""Fixtures for the feed tests: the docs' feed suppliers next to the bundled specs, and the
fake wholesaler serving their files."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.spec.load import load_specs
from tests.fakes.feeds import FeedServer

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "specs.md").read_text(encoding="utf-8")
FEED_FILES = {
    name: text
    for name, text in re.findall(r"\*\*`([^`]+\.yaml)`\*\*\n\n```yaml\n(.*?)```", DOC, flags=re.S)
    if not any(other in name for other in ("acme", "cjdropshipping"))  # the API examples
}


@pytest.fixture(scope="session")
def specs_dir(tmp_path_factory) -> Path:
    """A copy of the bundled specs plus the feed suppliers of docs/specs.md, as written."""
    root = tmp_path_factory.mktemp("feed-specs")
    shutil.copytree(ROOT / "specs", root / "specs")
    shutil.copytree(ROOT / "mappings", root / "mappings")
    for name, text in FEED_FILES.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def feed_specs(specs_dir):
    return load_specs(specs_dir / "specs", specs_dir / "mappings")


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    server = FeedServer().start()
    yield server
    server.stop()
