"""The progress display: live on a terminal, silent anywhere else."""

from __future__ import annotations

import io

import pytest

from runner.errors import JobFailed
from runner.progress import Progress
from tests.fakes.base import Reply


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def screen(raw: str) -> list[str]:
    """What a terminal shows: each `\\r\\x1b[K` clears the line and starts it again."""
    lines = []
    for line in raw.split("\n"):
        lines.append(line.split("\r\x1b[K")[-1])
    return [line for line in lines if line]


def test_silent_when_not_a_terminal():
    stream = io.StringIO()
    progress = Progress.for_stream(stream)
    progress.update("bigbuy/products", records=1000, pages=1)
    progress.finish()
    assert stream.getvalue() == ""
    assert not progress.enabled


def test_shows_records_rate_and_pages_per_step():
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    assert progress.enabled
    progress.update("bigbuy/products", records=0, pages=0)
    ticks.now += 2
    progress.update("bigbuy/products", records=2000, pages=2)
    assert screen(stream.getvalue())[-1] == (
        "⏳ bigbuy/products  2,000 records  1,000/s  2 pages  2.0s"
    )
    ticks.now += 0.01  # too soon to redraw
    before = stream.getvalue()
    progress.update("bigbuy/products", records=2100, pages=3)
    assert stream.getvalue() == before
    ticks.now += 1.99
    progress.update("bigbuy/stock", records=10, pages=1)  # a new step ends the previous line
    ticks.now += 1
    progress.finish(records=500, pages=1)
    assert screen(stream.getvalue()) == [
        "✅ bigbuy/products  2,100 records  525/s  3 pages  4.0s",
        "✅ bigbuy/stock  500 records  500/s  1 page  1.0s",
    ]
    assert stream.getvalue().endswith("\n")
    progress.finish()  # nothing running: nothing written
    assert stream.getvalue().endswith("1.0s\n")


def test_finish_with_a_label_alone():
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    progress.finish("aliexpress/details", records=0, pages=0)
    assert screen(stream.getvalue()) == ["✅ aliexpress/details  0 records  0/s  0 pages  0.0s"]


def test_step_numbers_totals_and_eta_when_the_api_declares_them():
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    progress.begin("bigbuy/products", 1, 4)
    progress.update("bigbuy/products", records=0, pages=0)
    progress.expect("bigbuy/products", records=25_000, pages=25)
    ticks.now += 4
    progress.update("bigbuy/products", records=10_000, pages=10)
    assert screen(stream.getvalue())[-1] == (
        "⏳ [1/4] bigbuy/products  10,000 of 25,000 records  2,500/s  10 of 25 pages  4.0s  ETA 6s"
    )
    ticks.now += 6
    progress.finish("bigbuy/products", 25_000, 25)
    assert screen(stream.getvalue())[-1] == (
        "✅ [1/4] bigbuy/products  25,000 records  2,500/s  25 pages  10.0s"
    )
    # Only pages declared (a total-pages header): the ETA follows the pages.
    progress.begin("woo/orders", 2, 2)
    progress.expect("woo/orders", records=None, pages=300)
    progress.update("woo/orders", records=100, pages=1)
    ticks.now += 2
    progress.update("woo/orders", records=200, pages=2)
    assert screen(stream.getvalue())[-1].endswith("2 of 300 pages  2.0s  ETA 4m58s")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("failed", "❌ [2/3] bigbuy/stock  500 records  250/s  1 page  2.0s"),
        ("waiting", "⏸ [2/3] bigbuy/stock  500 records  250/s  1 page  2.0s  waiting"),
        ("interrupted", "⏹ [2/3] bigbuy/stock  500 records  250/s  1 page  2.0s  interrupted"),
    ],
)
def test_a_step_that_did_not_finish_says_how_it_ended(status, expected):
    stream, ticks = Terminal(), Ticks()
    progress = Progress.for_stream(stream, clock=ticks)
    progress.begin("bigbuy/stock", 2, 3)
    progress.update("bigbuy/stock", records=0, pages=0)
    ticks.now += 2
    progress.finish("bigbuy/stock", 500, 1, status=status)
    assert screen(stream.getvalue()) == [expected]


def test_the_engine_numbers_steps_and_marks_a_failed_one(engine):
    """A real sync on a fake terminal: each BigBuy step numbered, the refused one ❌."""
    from runner.config import load_specs
    from runner.sync.engine import SyncRequest, run_sync
    from tests.fakes.bigbuy import BigBuyServer
    from tests.sync.support import add_supplier

    class RefusesImages(BigBuyServer):
        def handle(self, request):
            if "productsimages" in request.path:
                return Reply(403, {"code": 403, "message": "forbidden"})
            return super().handle(request)

    stream = Terminal()
    with RefusesImages(products=5) as server:
        add_supplier(engine, "bb", "bigbuy", base_url=server.base_url)
        with pytest.raises(JobFailed):
            run_sync(
                engine,
                load_specs(),
                SyncRequest("user-a", "supplier_api"),
                progress=Progress.for_stream(stream),
            )
    lines = screen(stream.getvalue())
    assert lines[0].startswith("✅ [1/4] bigbuy/products  5 records")
    assert lines[1].startswith("✅ [2/4] bigbuy/information  5 records")
    assert lines[2].startswith("❌ [3/4] bigbuy/images  0 records")
    assert len(lines) == 3  # the account stops at its failed step


def test_pages_carry_the_totals_the_api_declares():
    """WooCommerce's X-WP-TotalPages header reaches each page (the display's ETA)."""
    from runner.config import load_specs
    from runner.connector import Account, Connector
    from tests.fakes.woocommerce import WooCommerceServer

    spec = load_specs().marketplaces["woocommerce"]
    with WooCommerceServer(orders=250) as server:
        account = Account(
            "w1",
            {"consumer_key": "ck_test_key", "consumer_secret": "cs_test_secret"},
            {"rate_limit": False},
            integration={"shop_url": server.base_url},
        )
        with Connector(spec, account) as connector:
            pages = list(connector.list("orders"))
    assert [p.total_pages for p in pages] == [3, 3, 3]
    assert {p.total_records for p in pages} == {None}
