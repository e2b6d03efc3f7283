"""A fake wholesaler publishing its catalogue as feed files (CSV, XML, JSON Lines).

`FeedServer().publish(path, body, ...)` serves `body` at `path` with the validators asked
for: an `ETag` (`If-None-Match` -> 304), a `Last-Modified` (`If-Modified-Since` -> 304), or
neither. Publishing again under the same path replaces the file (a new ETag and date).
`hold_after=N` sends the first N bytes, then waits until `server.release` is set.

The catalogues are deterministic, and `csv_product(i)` / `xml_product(i)` give the row the
runner must write for product i:

- `wholesale_csv(n)`: `;`-separated Latin-1 (umlauts, a `ß`), decimal commas, thousands
  dots above 999, quoted names holding `;` and `""`, as German wholesalers export them;
- `wholesale_xml(n)`: a namespaced catalogue, the id and currency as attributes, nested
  elements (`<pricing><cost>`), repeated `<image>` elements.

Standalone: `python -m tests.fakes.feeds --rows 1000000 --port 8760` serves
`/export/artikel.csv.gz` (ETag) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import threading
import time
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from email.utils import formatdate
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from tests.fakes.base import FakeServer, Reply, Request, _Handler


@dataclass
class FeedFile:
    body: bytes
    content_type: str
    etag: str | None
    last_modified: str | None
    content_encoding: str | None = None
    hold_after: int | None = None  # send this many bytes, then wait for `release`


class _HoldingHandler(_Handler):
    """Sends a held file's first bytes, then waits for the server's `release` event before
    the rest: the client must have read records from the first part meanwhile."""

    def _dispatch(self) -> None:
        file = self.fake.files.get(urlsplit(self.path).path)
        if file is None or file.hold_after is None:
            super()._dispatch()
            return
        self.fake._record(
            Request(self.command, urlsplit(self.path).path, {}, {}, b"", time.monotonic())
        )
        self.send_response(200)
        self.send_header("Content-Type", file.content_type)
        self.send_header("Content-Length", str(len(file.body)))
        self.end_headers()
        self.wfile.write(file.body[: file.hold_after])
        self.wfile.flush()
        self.fake.release.wait(30)
        self.wfile.write(file.body[file.hold_after :])
        self.wfile.flush()


class FeedServer(FakeServer):
    name = "feeds"
    handler_class = _HoldingHandler

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.files: dict[str, FeedFile] = {}
        self.release = threading.Event()
        self._published = 0

    def publish(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "text/csv",
        etag: bool = True,
        last_modified: bool = False,
        content_encoding: str | None = None,
        hold_after: int | None = None,
    ) -> FeedFile:
        self._published += 1
        digest = hashlib.sha1(body).hexdigest()[:16]
        stamp = formatdate(1_700_000_000 + self._published * 3600, usegmt=True)
        file = FeedFile(
            body=body,
            content_type=content_type,
            etag=f'"{digest}"' if etag else None,
            last_modified=stamp if last_modified else None,
            content_encoding=content_encoding,
            hold_after=hold_after,
        )
        self.files[path] = file
        return file

    def handle(self, request: Request) -> Reply:
        file = self.files.get(request.path)
        if file is None:
            return Reply(404, b"no such file", content_type="text/plain")
        headers: dict[str, str] = {}
        if file.etag:
            headers["ETag"] = file.etag
        if file.last_modified:
            headers["Last-Modified"] = file.last_modified
        if file.content_encoding:
            headers["Content-Encoding"] = file.content_encoding
        if (file.etag and request.headers.get("if-none-match") == file.etag) or (
            file.last_modified and request.headers.get("if-modified-since") == file.last_modified
        ):
            return Reply(304, b"", headers, content_type=file.content_type)
        return Reply(200, file.body, headers, content_type=file.content_type)

    def conditional(self) -> list[dict[str, str]]:
        """The conditional headers of each request so far."""
        names = ("if-none-match", "if-modified-since")
        return [{k: r.headers[k] for k in names if k in r.headers} for r in self.requests]


# ---------------------------------------------------------------------------------------------
# A CSV catalogue: ;-separated, Latin-1, decimal commas

CSV_HEADER = (
    "Artikelnummer;EAN;Bezeichnung;Hersteller;Kategorie;EK-Preis;VK-Preis;Bestand;Bild;Status"
)
_NAMES = ("Kaffeebecher Größe {n}", "Gießkanne {n} l", "Stuhl Müller {n}", "Tisch Lüneburg {n}")
_MAKERS = ("Weiß & Söhne", "Bäcker GmbH", "Öko-Haus")
_CATEGORIES = ("Küche", "Garten", "Möbel")


def _cents(i: int, seed: int) -> tuple[int, int]:
    cost = 150 + (i * 37 + seed * 11) % 60000
    return cost, cost * 18 // 10


def _german(cents: int) -> str:
    units, rest = divmod(cents, 100)
    text = f"{units:,}".replace(",", ".")
    return f"{text},{rest:02d}"


def csv_product(i: int, seed: int = 0) -> dict[str, Any]:
    """The row product i of `wholesale_csv` must become."""
    cost, price = _cents(i, seed)
    name = _NAMES[i % len(_NAMES)].format(n=i)
    if i % 10 == 3:
        name = f'{name}; "Eiche"'
    return {
        "external_id": f"A{i:07d}",
        "sku": f"A{i:07d}",
        "name": name,
        "brand": _MAKERS[i % len(_MAKERS)],
        "category": _CATEGORIES[i % len(_CATEGORIES)],
        "cost_price": Decimal(cost).scaleb(-2),
        "price": Decimal(price).scaleb(-2),
        "currency": "EUR",
        "stock_quantity": (i * 7) % 120,
        "image_urls": [f"https://bilder.example/{i}.jpg"],
        "status": "active" if i % 9 else "inactive",
    }


def _csv_line(i: int, seed: int) -> str:
    cost, price = _cents(i, seed)
    product = csv_product(i, seed)
    name = product["name"]
    if '"' in name or ";" in name:
        name = '"' + name.replace('"', '""') + '"'
    status = "aktiv" if i % 9 else "inaktiv"
    return (
        f"{product['sku']};{4000000000000 + i};{name};{product['brand']};"
        f"{product['category']};{_german(cost)};{_german(price)};{product['stock_quantity']};"
        f"https://bilder.example/{i}.jpg;{status}\r\n"
    )


def wholesale_csv(n: int, seed: int = 0, *, extra: str = "") -> bytes:
    """n products as a Latin-1 CSV (`extra` lines are appended as they are)."""
    out = io.StringIO()
    out.write(CSV_HEADER + "\r\n")
    for i in range(n):
        out.write(_csv_line(i, seed))
    out.write(extra)
    return out.getvalue().encode("latin-1")


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


def zipped(data: bytes, name: str = "artikel.csv", *, before: dict[str, bytes] | None = None):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for other, content in (before or {}).items():
            archive.writestr(other, content)
        archive.writestr(name, data)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# An XML catalogue: a namespace, attributes, nested and repeated elements

XML_NS = "urn:example:wholesale:v2"


def xml_product(i: int, seed: int = 0) -> dict[str, Any]:
    cost, price = _cents(i, seed)
    return {
        "external_id": f"X-{i}",
        "sku": f"XS{i:06d}",
        "name": f"Lampe Nr. {i} <Messing> & Glas",
        "brand": _MAKERS[i % len(_MAKERS)],
        "category": _CATEGORIES[i % len(_CATEGORIES)],
        "cost_price": Decimal(cost).scaleb(-2),
        "price": Decimal(price).scaleb(-2),
        "currency": "CHF" if i % 4 == 0 else "EUR",
        "stock_quantity": (i * 5) % 80,
        "image_urls": [f"https://img.example/{i}/{k}.jpg" for k in range(1 + i % 3)],
        "status": "inactive" if i % 6 == 5 else "active",
    }


def wholesale_xml(n: int, seed: int = 0) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<w:catalogue xmlns:w="{XML_NS}" generated="2026-12-06">\n',
        "  <w:header><w:supplier>Example</w:supplier></w:header>\n  <w:products>\n",
    ]
    for i in range(n):
        product = xml_product(i, seed)
        cost, price = _cents(i, seed)
        images = "".join(f"<w:image>{url}</w:image>" for url in product["image_urls"])
        active = "false" if product["status"] == "inactive" else "true"
        name, brand = escape(product["name"]), escape(product["brand"])
        parts.append(
            f'    <w:product id="X-{i}" active="{active}">'
            f"<w:sku>{product['sku']}</w:sku><w:name>{name}</w:name>"
            f"<w:brand>{brand}</w:brand><w:category>{product['category']}</w:category>"
            f'<w:pricing currency="{product["currency"]}"><w:cost>{_german(cost)}</w:cost>'
            f"<w:retail>{_german(price)}</w:retail></w:pricing>"
            f"<w:stock>{product['stock_quantity']}</w:stock>"
            f"<w:images>{images}</w:images></w:product>\n"
        )
    parts.append("  </w:products>\n</w:catalogue>\n")
    return "".join(parts).encode("utf-8")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a wholesaler's CSV catalogue (gzip).")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = FeedServer(port=args.port)
    server.publish("/export/artikel.csv.gz", gzipped(wholesale_csv(args.rows, args.seed)))
    server.start()
    print(f"feeds fake listening on {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
