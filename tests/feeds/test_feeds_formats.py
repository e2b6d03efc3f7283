"""The feed parsers and the decompression layer, on bytes as they would stream."""

from __future__ import annotations

import gzip
import io
import os
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator

import pytest

from runner.errors import TransientError
from runner.feeds import FeedError
from runner.feeds.decompress import Limits, decoded
from runner.feeds.formats import parse_records
from runner.feeds.text import number_reader
from runner.mapping import Reject
from runner.spec.model import FormatSpec
from tests.fakes.feeds import gzipped, wholesale_csv, zipped


def pieces(data: bytes, size: int = 7) -> Iterator[bytes]:
    """The body in small chunks: every boundary falls inside some token."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def parse(data: bytes, size: int = 7, **options) -> list:
    return list(parse_records(pieces(data, size), FormatSpec(**options)))


def plain(data: bytes, compression: str = "auto", **options) -> bytes:
    limits = Limits(
        compressed=options.pop("compressed", 1 << 30),
        decompressed=options.pop("decompressed", 1 << 30),
    )
    return b"".join(
        decoded(
            pieces(data, 1000),
            content_encoding=options.pop("content_encoding", ""),
            compression=compression,
            member=options.pop("member", None),
            limits=limits,
        )
    )


# -- CSV --------------------------------------------------------------------------------------


def test_csv_header_quotes_and_latin1():
    data = 'id;name;price\r\n1;"Stuhl ""Müller""; Eiche";12,50\r\n2;Gießkanne;3\r\n'.encode(
        "latin-1"
    )
    got = parse(data, type="csv", delimiter=";", encoding="latin-1", decimal=",")
    assert got == [
        {"id": "1", "name": 'Stuhl "Müller"; Eiche', "price": "12.50"},
        {"id": "2", "name": "Gießkanne", "price": "3"},
    ]


def test_csv_columns_without_a_header_and_decimal_columns_only():
    data = b"1,5\t2,5\n"
    got = parse(
        data,
        type="csv",
        delimiter="\t",
        header=False,
        columns=("size", "price"),
        decimal=",",
        decimal_columns=("price",),
    )
    assert got == [{"size": "1,5", "price": "2.5"}]


def test_csv_columns_rename_a_header_and_blank_or_repeated_names_get_numbers():
    assert parse(b"a,b\n1,2\n", type="csv", columns=("x", "y")) == [{"x": "1", "y": "2"}]
    assert parse(b"a,,a\n1,2,3\n", type="csv") == [{"a": "1", "column_2": "2", "a_2": "3"}]


def test_csv_a_byte_order_mark_is_not_part_of_the_first_column_name():
    assert parse(b"\xef\xbb\xbfid,name\n1,a\n", type="csv") == [{"id": "1", "name": "a"}]


def test_csv_bytes_not_in_the_encoding_reject_their_row_only():
    got = parse(b"id,name\n1,ok\n2,bad \xff byte\n3,\xc3\xa9\n", type="csv")
    assert got[0] == {"id": "1", "name": "ok"}
    assert isinstance(got[1], Reject)
    assert got[1].reason == (
        "line 3: bytes that are not valid utf-8 (another encoding? set format.encoding)"
    )
    assert got[2] == {"id": "3", "name": "é"}


def test_csv_a_wrong_delimiter_is_named_with_the_fix():
    with pytest.raises(FeedError, match=r"separator looks like ';', not ','; set format.delim"):
        parse(b"id;name;price\n1;a;2\n", type="csv")


def test_csv_a_quoted_cell_over_lines_keeps_the_line_numbers_right():
    got = parse(b'id,text\n1,"two\nlines"\n2\n3,x\n', type="csv")
    assert got[0] == {"id": "1", "text": "two\nlines"}
    assert got[1].reason == "line 4: 1 fields where the header has 2"
    assert got[2] == {"id": "3", "text": "x"}


def test_csv_an_endless_line_is_cut_off_with_bounded_memory():
    data = b"id,name\n" + b"x" * (8 << 20) + b"\n1,after\n"
    tracemalloc.start()
    try:
        got = parse(data, size=1 << 16, type="csv")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert got[0].reason == "line 2: a line over 1048576 characters"
    assert got[1:] == [{"id": "1", "name": "after"}]
    assert peak < 6 << 20


def test_numbers_with_a_decimal_comma_and_thousands():
    read = number_reader(FormatSpec(decimal=",", thousands="."))
    texts = ("1.234,50", "-3,5", "12", " 7,25 ", "1.234", "1.2.3,4", "Größe 3,5")
    assert [read(t) for t in texts] == [
        "1234.50",
        "-3.5",
        "12",
        "7.25",
        "1.234",  # no decimal separator: maybe an id, left alone
        "1.2.3,4",
        "Größe 3,5",
    ]
    assert number_reader(FormatSpec()) is None
    english = number_reader(FormatSpec(thousands=","))
    assert english("1,234.5") == "1234.5"


# -- XML --------------------------------------------------------------------------------------


XML = b"""<?xml version="1.0" encoding="ISO-8859-1"?>
<f:feed xmlns:f="urn:f" xmlns:g="urn:g">
 <f:info>ignored</f:info>
 <f:items>
  <f:item id="1" sku="outer"><g:sku>S1</g:sku><g:price currency="EUR">1.234,50</g:price>
   <g:image>a</g:image><g:image>b</g:image><note>caf\xe9</note></f:item>
  <f:item id="2"><g:sku>S2</g:sku><g:price>3</g:price><g:image>c</g:image>
   <g:variants><g:variant size="M">x</g:variant></g:variants></f:item>
 </f:items>
</f:feed>
"""


def test_xml_records_by_local_names():
    got = parse(XML, type="xml", record="items/item", decimal=",", thousands=".", lists=("image",))
    assert got == [
        {
            "id": "1",
            "@sku": "outer",
            "sku": "S1",
            "price": {"currency": "EUR", "_text": "1234.50"},
            "image": ["a", "b"],
            "note": "café",
        },
        {
            "id": "2",
            "sku": "S2",
            "price": "3",
            "image": ["c"],
            "variants": {"variant": {"size": "M", "_text": "x"}},
        },
    ]


def test_xml_record_path_may_be_the_element_name_alone_and_elements_are_dropped():
    big = b"<r>" + b"".join(b"<p><v>%d</v></p>" % i for i in range(20000)) + b"</r>"
    tracemalloc.start()
    try:
        records = parse_records(pieces(big, 4096), FormatSpec(type="xml", record="p"))
        count = sum(1 for _ in records)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20000
    assert peak < 1 << 20  # the body (380 kB) is not traced: allocated before


def test_malformed_xml_names_line_and_column():
    with pytest.raises(FeedError, match="malformed at line 2, column"):
        parse(b"<r><p>1</p>\n<p>2</q></r>", type="xml", record="p")


# -- JSON Lines -------------------------------------------------------------------------------


def test_jsonl_records_rejects_and_blank_lines():
    got = parse(b'{"a": 1}\n\n{"a": \n[2]\r\n{"b": "\xc3\xa9"}', type="jsonl")
    assert got[0] == {"a": 1}
    assert got[1].reason.startswith("line 3: not JSON")
    assert got[2:] == [[2], {"b": "é"}]


# -- decompression ----------------------------------------------------------------------------


def test_gzip_zip_and_content_encoding_are_undone():
    data = wholesale_csv(50)
    assert plain(gzipped(data)) == data
    assert plain(gzipped(data) + gzipped(b"more")) == data + b"more"  # two gzip members
    assert plain(zipped(data)) == data
    assert plain(gzipped(gzipped(data)), content_encoding="gzip") == data
    assert plain(zlib.compress(data), content_encoding="deflate") == data
    assert plain(data) == data
    assert plain(gzipped(data), compression="none") == gzipped(data)


def test_zip_the_declared_member_and_members_with_data_descriptors():
    archive = zipped(b"the csv", "data/artikel.csv", before={"README.txt": b"read me"})
    assert plain(archive) == b"read me"
    assert plain(archive, member="data/artikel.csv") == b"the csv"
    with pytest.raises(FeedError, match=r"holds no member 'nope\.csv'"):
        plain(archive, member="nope.csv")
    # written to a stream that cannot seek back: sizes and CRC follow each member
    out = io.BytesIO()
    with zipfile.ZipFile(_Unseekable(out), "w", zipfile.ZIP_DEFLATED) as streamed:
        streamed.writestr("first.csv", b"one" * 1000)
        streamed.writestr("second.csv", b"two" * 1000)
    assert plain(out.getvalue(), member="second.csv") == b"two" * 1000


class _Unseekable(io.RawIOBase):
    def __init__(self, target: io.BytesIO) -> None:
        self.target = target

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        return self.target.write(data)

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.target.tell()

    def flush(self) -> None:
        pass


def test_damaged_or_cut_archives_fail_clearly():
    archive = bytearray(zipped(b"x" * 5000))
    archive[14] ^= 0xFF  # the member's CRC
    with pytest.raises(FeedError, match="CRC mismatch"):
        plain(bytes(archive))
    with pytest.raises(TransientError, match="truncated"):
        plain(gzipped(os.urandom(100_000))[:2000])
    with pytest.raises(FeedError, match="not valid compressed data"):
        plain(b"\x1f\x8b" + b"\x00" * 40)
    with pytest.raises(FeedError, match="encrypted"):
        encrypted = bytearray(zipped(b"z"))
        encrypted[6] |= 0x1
        plain(bytes(encrypted))


def test_caps_count_as_the_bytes_stream():
    data = gzip.compress(b"a" * 200_000)
    with pytest.raises(FeedError, match="over 100000 bytes"):
        plain(data, decompressed=100_000)
    with pytest.raises(FeedError, match="over the 100 byte download limit"):
        plain(data, compressed=100)
