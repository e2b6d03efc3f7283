"""Hostile feeds fail the step cleanly, with bounded memory, on SQLite and Postgres: an XML
bomb (billion laughs), an external entity, a zip bomb and a gzip bomb."""

from __future__ import annotations

import gzip
import io
import os
import tracemalloc
import zipfile
import zlib

import pytest

from tests.feeds.support import rows, states, step, sync
from tests.sync.support import add_supplier

XML_PATH = "/v2/catalogue.xml"
CSV_PATH = "/export/artikel.csv.gz"
BOMB_MIB = 128  # zeros behind ~130 kB: the ratio check refuses them past 64 MiB
MEMORY_LIMIT = 40 * 1024 * 1024  # traced peak of a whole sync that meets a bomb

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<catalogue><products><product id="1"><sku>&lol9;</sku><name>x</name>
<pricing><cost>1</cost><retail>2</retail></pricing></product></products></catalogue>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE catalogue [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<catalogue><products><product id="1"><sku>S1</sku><name>&secret;</name>
<pricing><cost>1</cost><retail>2</retail></pricing></product></products></catalogue>
"""


def _zeros_deflated(mib: int, wbits: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = b"\0" * (1 << 20)
    return b"".join([*(packer.compress(block) for _ in range(mib)), packer.flush()])


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A zip whose one member, `artikel.csv`, inflates to BOMB_MIB MiB of zeros."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("artikel.csv", "w", force_zip64=True) as member,
    ):
        block = b"\0" * (1 << 20)
        for _ in range(BOMB_MIB):
            member.write(block)
    return out.getvalue()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return _zeros_deflated(BOMB_MIB, 16 + zlib.MAX_WBITS)


def add_lumen(engine, feeds):
    add_supplier(
        engine, "lu", "lumen", base_url=feeds.base_url, credentials={"user": "u", "password": "p"}
    )


def add_grossmarkt(engine, feeds):
    add_supplier(engine, "gm", "grossmarkt", base_url=feeds.base_url, credentials={"token": "t"})


def traced_sync(engine, specs) -> tuple[dict, int]:
    """The sync's result and the peak of memory allocated meanwhile (tracemalloc)."""
    tracemalloc.start()
    try:
        result = sync(engine, specs)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def assert_failed_cleanly(result: dict, account: str, step_name: str, text: str) -> None:
    assert result["failed"] is True
    failed = step(result, account, step_name)
    assert failed["status"] == "failed"
    assert text in failed["error"]
    assert "Traceback" not in failed["error"]
    assert result["errors"][0]["transient"] is False  # retrying would not help


def test_billion_laughs_is_refused(engine, feed_specs, feeds):
    feeds.publish(XML_PATH, BILLION_LAUGHS, content_type="application/xml")
    add_lumen(engine, feeds)
    result, peak = traced_sync(engine, feed_specs)
    assert_failed_cleanly(result, "lu", "catalogue", "the XML feed declares a DTD; refused")
    assert peak < MEMORY_LIMIT
    assert rows(engine, "lu") == {} and states(engine, "lu") == []


def test_an_external_entity_is_never_read(engine, feed_specs, feeds):
    feeds.publish(XML_PATH, EXTERNAL_ENTITY, content_type="application/xml")
    add_lumen(engine, feeds)
    result = sync(engine, feed_specs)
    assert_failed_cleanly(result, "lu", "catalogue", "declares a DTD")
    assert rows(engine, "lu") == {}


def test_a_zip_bomb_is_refused_as_it_streams(engine, feed_specs, feeds, zip_bomb):
    assert len(zip_bomb) < BOMB_MIB * 1024 * 1024 / 500
    feeds.publish(CSV_PATH, zip_bomb, content_type="application/zip")
    add_grossmarkt(engine, feeds)
    result, peak = traced_sync(engine, feed_specs)
    assert_failed_cleanly(result, "gm", "catalogue", "refused as a decompression bomb")
    assert peak < MEMORY_LIMIT
    assert states(engine, "gm") == []


def test_a_gzip_bomb_is_refused_as_it_streams(engine, feed_specs, feeds, gzip_bomb):
    feeds.publish(CSV_PATH, gzip_bomb, content_type="application/gzip")
    add_grossmarkt(engine, feeds)
    result, peak = traced_sync(engine, feed_specs)
    assert_failed_cleanly(result, "gm", "catalogue", "refused as a decompression bomb")
    assert peak < MEMORY_LIMIT


def test_a_gzip_bomb_behind_content_encoding_is_refused(engine, feed_specs, feeds, gzip_bomb):
    feeds.publish(CSV_PATH, gzip_bomb, content_type="text/csv", content_encoding="gzip")
    add_grossmarkt(engine, feeds)
    result, peak = traced_sync(engine, feed_specs)
    assert_failed_cleanly(result, "gm", "catalogue", "Content-Encoding gzip")
    assert peak < MEMORY_LIMIT


def test_a_download_over_max_response_bytes_is_refused(engine, feed_specs, feeds):
    feeds.publish(CSV_PATH, gzip.compress(os.urandom(5000)))
    add_supplier(
        engine,
        "gm",
        "grossmarkt",
        base_url=feeds.base_url,
        credentials={"token": "t"},
        settings={"max_response_bytes": 1000},
    )
    result = sync(engine, feed_specs)
    assert_failed_cleanly(result, "gm", "catalogue", "over the 1000 byte download limit")
