"""A feed body as it arrives -> its plain bytes, undoing Content-Encoding, gzip and zip.

Everything streams: each decompressor is fed a chunk at a time and asked for at most
`OUT_CHUNK` bytes per call, so a bomb (a few kilobytes that inflate to gigabytes) never
holds more than one chunk. `Limits` are checked as the bytes flow: the bytes received
(`compressed`), the bytes produced by every decompression layer (`decompressed`), and the
expansion ratio once the output passes `RATIO_FLOOR` (a real catalogue compresses 5 to 30
times; a deflate bomb, about a thousand).

A zip file is read from its local headers as it streams (the central directory at the end
is never needed): the first member, or the one named by `member`; stored and deflated
members, their CRC checked.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from runner.errors import TransientError
from runner.feeds import FeedError

OUT_CHUNK = 256 * 1024  # most bytes one decompressor call may produce
RATIO_FLOOR = 64 * 1024 * 1024  # the ratio is checked past this many decompressed bytes
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_ZIP_CENTRAL = (b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")
_DESCRIPTOR = b"PK\x07\x08"


@dataclass
class Limits:
    """Caps on one feed body; `received` and `produced` count as it streams."""

    compressed: int
    decompressed: int
    ratio: float = 200.0
    received: int = 0
    produced: dict[str, int] = field(default_factory=dict)

    def wire(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.received += len(chunk)
            if self.received > self.compressed:
                raise FeedError(
                    f"the feed is over the {self.compressed} byte download limit "
                    "(max_response_bytes)"
                )
            yield chunk

    def counter(self, layer: str) -> Callable[[int], None]:
        """A check for the output of one decompression layer."""
        self.produced[layer] = 0

        def count(size: int) -> None:
            total = self.produced[layer] = self.produced[layer] + size
            if total > self.decompressed:
                raise FeedError(
                    f"the feed decompresses to over {self.decompressed} bytes ({layer}); "
                    "refused (raise format.max_bytes if it is real)"
                )
            if total > RATIO_FLOOR and total > self.ratio * max(1, self.received):
                raise FeedError(
                    f"the feed expands over {self.ratio:.0f} times ({layer}): "
                    "refused as a decompression bomb"
                )

        return count


class ByteStream:
    """Bytes from an iterator of chunks, read by size, with a push-back."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = b""

    def read(self, size: int) -> bytes:
        """Up to `size` bytes; b"" at the end."""
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._buffer = chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def read_exact(self, size: int, what: str) -> bytes:
        parts, missing = [], size
        while missing:
            data = self.read(missing)
            if not data:
                raise TransientError(f"the feed ends in the middle of {what} (truncated)")
            parts.append(data)
            missing -= len(data)
        return b"".join(parts)

    def peek(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = self.read(size - len(data))
            if not more:
                break
            data += more
        self.unread(data)
        return data

    def unread(self, data: bytes) -> None:
        self._buffer = data + self._buffer

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read(1 << 20):
            yield data


def decoded(
    raw: Iterable[bytes],
    *,
    content_encoding: str,
    compression: str,
    member: str | None,
    limits: Limits,
) -> Iterator[bytes]:
    """The plain bytes of a feed body (see the module's docstring)."""
    chunks: Iterable[bytes] = limits.wire(raw)
    encoding = content_encoding.strip().lower()
    if encoding in ("gzip", "x-gzip"):
        chunks = _gunzip(chunks, limits.counter("Content-Encoding gzip"))
    elif encoding == "deflate":
        chunks = _inflate(chunks, zlib.MAX_WBITS, limits.counter("Content-Encoding deflate"))
    elif encoding not in ("", "identity"):
        raise FeedError(f"unsupported Content-Encoding {content_encoding!r}")
    stream = ByteStream(chunks)
    if compression == "auto":
        head = stream.peek(4)
        compression = "gzip" if head[:2] == GZIP_MAGIC else "zip" if head == ZIP_MAGIC else "none"
    if compression == "gzip":
        yield from _gunzip(stream, limits.counter("gzip"))
    elif compression == "zip":
        yield from _unzip(stream, member, limits.counter("zip"))
    else:
        yield from stream


def _gunzip(chunks: Iterable[bytes], count: Callable[[int], None]) -> Iterator[bytes]:
    """gzip, members one after another (`cat a.gz b.gz` is valid gzip)."""
    return _inflate(chunks, 16 + zlib.MAX_WBITS, count, members=True)


def _inflate(
    chunks: Iterable[bytes], wbits: int, count: Callable[[int], None], *, members: bool = False
) -> Iterator[bytes]:
    inflater = zlib.decompressobj(wbits)
    started = False
    try:
        for chunk in chunks:
            data = chunk
            while data:
                if inflater.eof:
                    if not members or not data.strip(b"\0"):
                        data = b""  # padding after the stream
                        break
                    inflater = zlib.decompressobj(wbits)
                started = True
                out = inflater.decompress(data, OUT_CHUNK)
                if out:
                    count(len(out))
                    yield out
                data = inflater.unconsumed_tail or (inflater.unused_data if inflater.eof else b"")
        if started and not inflater.eof:
            raise TransientError("the compressed feed ends early (truncated)")
    except zlib.error as exc:
        raise FeedError(f"the feed is not valid compressed data: {exc}") from None


def _unzip(stream: ByteStream, member: str | None, count: Callable[[int], None]) -> Iterator[bytes]:
    while True:
        signature = stream.read_exact(4, "a zip header")
        if signature in _ZIP_CENTRAL:
            wanted = f"no member {member!r}" if member else "no file"
            raise FeedError(f"the zip file holds {wanted}")
        if signature != ZIP_MAGIC:
            raise FeedError("the feed is not a zip file (bad local header)")
        fields = struct.unpack("<HHHHHIIIHH", stream.read_exact(26, "a zip header"))
        _, flags, method, _, _, crc, size, _, name_length, extra_length = fields
        raw_name = stream.read_exact(name_length, "a zip header")
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        extra = stream.read_exact(extra_length, "a zip header")
        if size == 0xFFFFFFFF:
            size = _zip64_size(extra)
        if flags & 0x1:
            raise FeedError(f"zip member {name!r} is encrypted")
        if method not in (0, 8):
            raise FeedError(
                f"zip member {name!r} uses compression method {method}; "
                "only stored and deflated members are read"
            )
        described = bool(flags & 0x8)
        if method == 0 and described:
            raise FeedError(f"zip member {name!r} is stored without its size")
        wanted = not name.endswith("/") and (member is None or name == member)
        checksum = 0
        body = _member_bytes(stream, method, size, count if wanted else _uncounted)
        for data in body:
            checksum = zlib.crc32(data, checksum)
            if wanted:
                yield data
        if described:
            crc = _descriptor_crc(stream)
        if wanted:
            if checksum != crc:
                raise FeedError(f"zip member {name!r} is damaged (CRC mismatch)")
            return


def _uncounted(size: int) -> None:
    pass


def _member_bytes(
    stream: ByteStream, method: int, size: int, count: Callable[[int], None]
) -> Iterator[bytes]:
    if method == 0:
        left = size
        while left:
            data = stream.read(min(left, 1 << 20))
            if not data:
                raise TransientError("the zip file ends in the middle of a member (truncated)")
            left -= len(data)
            count(len(data))
            yield data
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        while not inflater.eof:
            data = stream.read(1 << 20)
            if not data:
                raise TransientError("the zip file ends in the middle of a member (truncated)")
            while data and not inflater.eof:
                out = inflater.decompress(data, OUT_CHUNK)
                if out:
                    count(len(out))
                    yield out
                data = inflater.unconsumed_tail
            if inflater.eof:
                stream.unread(inflater.unused_data + data)
    except zlib.error as exc:
        raise FeedError(f"a zip member is not valid deflate data: {exc}") from None


def _descriptor_crc(stream: ByteStream) -> int:
    first = stream.read_exact(4, "a zip data descriptor")
    if first == _DESCRIPTOR:
        first = stream.read_exact(4, "a zip data descriptor")
    (crc,) = struct.unpack("<I", first)
    stream.read_exact(8, "a zip data descriptor")  # sizes (zip64: 16; then more follows)
    if stream.peek(4)[:2] != b"PK":
        stream.read_exact(8, "a zip data descriptor")
    return crc


def _zip64_size(extra: bytes) -> int:
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        if tag == 0x0001 and length >= 16:
            return struct.unpack_from("<Q", extra, position + 12)[0]
        position += 4 + length
    raise FeedError("a zip64 member without its zip64 sizes")
