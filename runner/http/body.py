"""Reading a response body within its bounds: size (as sent and as decoded) and time.

httpx decodes a gzip body chunk by chunk, each chunk whole: one 64 KiB chunk of a gzip bomb
becomes 64 MiB before anyone can count it. Here the raw bytes are read and decoded by zlib
with `max_length`, so that no more than the cap plus one byte of decoded data is ever held,
and the bytes on the wire count against the same cap. The request's deadline (connect to last
byte, `timeouts.request`) is checked after every chunk, so a server that trickles one byte
every few seconds, each under the read timeout, cannot hold the request past it.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import httpx

ACCEPT_ENCODING = "gzip, deflate"  # the encodings `_Decoder` reads; nothing else is asked for


class BodyTooLarge(Exception):
    """The body is bigger than the cap; `size` is how far it got."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class BadEncoding(Exception):
    """A Content-Encoding that was not asked for, or a body that does not decode."""


class RequestDeadline(httpx.TimeoutException):
    """The request ran past its total deadline (connect to last byte)."""


class _Decoder:
    """One Content-Encoding (identity, gzip or deflate), decoded at most `room` bytes at a
    time."""

    def __init__(self, encoding: str) -> None:
        encoding = encoding.strip().lower()
        self.may_be_raw = encoding == "deflate"  # servers differ: zlib-wrapped or raw
        if encoding in ("", "identity"):
            self.zlib = None
        elif encoding in ("gzip", "x-gzip"):
            self.zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self.zlib = zlib.decompressobj()
        else:
            raise BadEncoding(f"unexpected Content-Encoding {encoding[:40]!r}")

    def decode(self, data: bytes, room: int) -> tuple[bytes, bool]:
        """Up to `room` decoded bytes from `data`, and whether more were left (too large)."""
        if self.zlib is None:
            return data[:room], len(data) > room
        try:
            out = self.zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if not self.may_be_raw:
                raise BadEncoding(f"the body does not decode: {exc}") from None
            self.may_be_raw = False
            self.zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            return self.decode(data, room)
        self.may_be_raw = False
        return out[:room], len(out) > room or bool(self.zlib.unconsumed_tail)


def read_body(
    response: httpx.Response,
    limit: int,
    deadline: float,
    clock: Callable[[], float],
) -> bytes:
    """The decoded body of a streamed response. Raises `BodyTooLarge` when the bytes sent or
    the bytes decoded pass `limit`, `RequestDeadline` when the clock passes `deadline`, and
    `BadEncoding`."""
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    chunks: list[bytes] = []
    sent = size = 0
    for raw in response.iter_raw():
        sent += len(raw)
        if sent > limit:
            raise BodyTooLarge(sent)
        data, more = decoder.decode(raw, limit - size)
        size += len(data)
        if more:
            raise BodyTooLarge(size + 1)
        chunks.append(data)
        if clock() > deadline:
            raise RequestDeadline("the request ran past its deadline")
    return b"".join(chunks)
