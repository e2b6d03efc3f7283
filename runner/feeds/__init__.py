"""Feed files: whole catalogues published as one CSV, XML or JSON Lines file at a URL.

An operation whose `format` is a feed (`runner.spec.model.FormatSpec`) is fetched by
`runner.feeds.fetch` instead of the paged JSON walk: one conditional GET, its body
streamed through `runner.feeds.decompress` (Content-Encoding, then gzip or zip, with size
caps counted as the bytes arrive) into one parser per format (`jsonl`, `csv`, `xml`), which
hands out records while the body is still arriving. Records go on in chunks, as pages, into
the same mapping and write pipeline as JSON pages; a malformed row becomes a reject naming
its line. `runner.feeds.state` keeps, per account and operation, the validators (ETag,
Last-Modified), the body's hash and the record count of the last complete sync.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from runner import __version__
from runner.errors import PermanentError
from runner.spec.model import FormatSpec

FEED_PAGE_RECORDS = 1000  # records handed on together, as one page


class FeedUnchanged(Exception):
    """The feed did not change since the last complete sync (304, or the same body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FeedError(PermanentError):
    """A feed that cannot be read: refused XML, a bomb, a size cap, a broken archive."""


class TruncatedFeed(PermanentError):
    """A feed much shorter than the last complete one: refused as a truncated listing."""


def _code() -> bytes:
    package = Path(__file__).parent
    try:
        return b"".join(path.read_bytes() for path in sorted(package.glob("*.py")))
    except OSError:  # sources not shipped: the version alone
        return b""


_CODE = _code()


def feed_version(mapping_fingerprint: str, fmt: FormatSpec) -> str:
    """The version under which a feed's state holds: the mapping that reads the records,
    the format, and the code that parses them. A new version reads the whole feed again."""
    text = repr((__version__, mapping_fingerprint, fmt)).encode()
    return hashlib.blake2b(text + _CODE, digest_size=16).hexdigest()
