"""Errors by value: `error_when`, code and message expressions, `classify` rules, against a
live fake whose answers are scripted; and the checker's refusals of bad rules."""

from __future__ import annotations

import logging

import pytest
import yaml

from runner.connector import Account, Connector
from runner.errors import PermanentError, RetryLater, TransientError
from runner.spec.build import build_connector
from tests.fakes.base import FakeServer, Reply, Request

OK = {"code": 200, "result": True, "message": "Success", "data": [{"id": 1}, {"id": 2}]}


def envelope(code: int, message: str, **data) -> dict:
    return {"code": code, "result": False, "message": message, "data": data or None}


class Scripted(FakeServer):
    """Answers the scripted replies in order, then `OK` for ever."""

    name = "scripted"

    def __init__(self, *replies: Reply) -> None:
        super().__init__()
        self.script = list(replies)

    def handle(self, request: Request) -> Reply:
        return self.script.pop(0) if self.script else Reply(200, OK)


SPEC = """
name: envelope
base_url: http://127.0.0.1
auth: {type: none}
retry: {max_attempts: 3, backoff_seconds: 0.5, max_backoff_seconds: 1}
response:
  error_when: "body.result == false or body.code != 200"
  error_code: body.code
  error_message: body.message
  classify:
    - {when: "code == 1600200", as: retry_after, delay: "body.data.wait_seconds"}
    - {when: "'busy' in message", as: transient}
    - {when: "code == 1600001", as: auth_expired}
operations:
  items: {path: /items, records: data}
syncs: {}
"""


@pytest.fixture
def scripted():
    servers = []

    def start(*replies: Reply) -> tuple[Scripted, Connector, list[float]]:
        server = Scripted(*replies).start()
        servers.append(server)
        spec = build_connector(yaml.safe_load(SPEC), "supplier")
        sleeps: list[float] = []
        settings = {"base_url": server.base_url, "max_wait_seconds": 30}
        connector = Connector(spec, Account("a", {}, settings), sleep=sleeps.append)
        return server, connector, sleeps

    yield start
    for server in servers:
        server.stop()


def _ids(connector: Connector) -> list[int]:
    return [r["id"] for page in connector.list("items") for r in page.records]


def test_a_success_envelope_is_data(scripted):
    _server, connector, sleeps = scripted()
    assert _ids(connector) == [1, 2]
    assert sleeps == []


def test_an_unclassified_error_is_permanent_with_code_and_message(scripted):
    server, connector, _ = scripted(Reply(200, envelope(1600100, "Param error")))
    with pytest.raises(PermanentError, match="API error: 1600100 Param error"):
        _ids(connector)
    assert len(server.requests) == 1  # never retried


def test_retry_after_waits_the_delay_read_from_the_answer(scripted, caplog):
    _server, connector, sleeps = scripted(Reply(200, envelope(1600200, "Too fast", wait_seconds=7)))
    with caplog.at_level(logging.DEBUG, logger="sync_runner.http"):
        assert _ids(connector) == [1, 2]
    assert sleeps == [7.0]
    retry = [r for r in caplog.records if getattr(r, "event", None) == "http.retry"]
    assert len(retry) == 1 and retry[0].levelno == logging.DEBUG
    assert "1600200 Too fast" in retry[0].getMessage() and "in 7.00 s" in retry[0].getMessage()


def test_a_stated_delay_longer_than_max_wait_defers_the_job(scripted):
    _, connector, _ = scripted(Reply(200, envelope(1600200, "Too fast", wait_seconds=600)))
    with pytest.raises(RetryLater) as deferred:
        _ids(connector)
    assert deferred.value.delay_seconds == 600


def test_transient_errors_are_retried_with_backoff_then_given_up(scripted):
    busy = Reply(200, envelope(1600300, "server busy"))
    _, connector, sleeps = scripted(busy)
    assert _ids(connector) == [1, 2]
    assert len(sleeps) == 1 and 0.4 <= sleeps[0] <= 0.6
    _, connector, sleeps = scripted(busy, busy, busy)
    with pytest.raises(TransientError, match=r"server busy .*gave up after 3 attempts"):
        _ids(connector)


def test_auth_expired_without_a_renewable_auth_is_permanent(scripted):
    server, connector, _ = scripted(Reply(200, envelope(1600001, "Invalid API key")))
    with pytest.raises(PermanentError, match="1600001 Invalid API key"):
        _ids(connector)
    assert len(server.requests) == 1


def test_status_and_headers_are_readable(scripted):
    spec = yaml.safe_load(SPEC)
    spec["response"] = {"error_when": "headers['x-error'] == 'yes' or status == 203"}
    server = Scripted(Reply(200, OK, {"X-Error": "yes"})).start()
    try:
        connector = Connector(
            build_connector(spec, "supplier"), Account("a", {}, {"base_url": server.base_url})
        )
        with pytest.raises(PermanentError, match="API error"):
            _ids(connector)
    finally:
        server.stop()


def test_the_older_presence_form_still_works(scripted):
    spec = yaml.safe_load(SPEC)
    spec["response"] = {
        "error_path": "error",
        "error_message_path": "error.msg",
        "retryable_error_pattern": "busy",
    }
    server = Scripted(Reply(200, {"error": {"msg": "busy, ban will last 3 seconds"}})).start()
    sleeps: list[float] = []
    try:
        connector = Connector(
            build_connector(spec, "supplier"),
            Account("a", {}, {"base_url": server.base_url}),
            sleep=sleeps.append,
        )
        assert _ids(connector) == [1, 2]
    finally:
        server.stop()
    assert sleeps == [3.0]


def test_a_session_token_declared_dead_by_an_error_status_is_renewed_once():
    def login(token: str) -> Reply:
        return Reply(200, {"code": 200, "result": True, "data": {"token": token}})

    server = Scripted(
        login("tok-first-0001"),
        Reply(403, {"error": "token expired"}),
        login("tok-second-002"),
    ).start()
    spec = yaml.safe_load(SPEC)
    spec["auth"] = {
        "type": "session_token",
        "login": {"path": "/login", "form": {"key": "{{ credentials.key }}"}},
        "token_path": "data.token",
        "send": {"in": "query", "name": "access_token"},
        "dead_when": "status == 403 and body.error == 'token expired'",
    }
    try:
        connector = Connector(
            build_connector(spec, "supplier"),
            Account("a", {"key": "secret-key-1"}, {"base_url": server.base_url}),
        )
        assert _ids(connector) == [1, 2]
    finally:
        server.stop()
    login_1, dead, login_2, ok = server.requests
    assert login_1.path == login_2.path == "/login" and login_1.form == {"key": "secret-key-1"}
    assert dead.query["access_token"] == "tok-first-0001"
    assert ok.query["access_token"] == "tok-second-002"
    assert connector._auth.logins == 2


def _paged(*pages: list[int], announced: int, by: str = "pages") -> tuple[Scripted, Connector]:
    """Scripted pages announcing `announced` pages in the body, or records in a header."""
    headers = {"X-Total-Count": str(announced)} if by == "header" else {}
    replies = [
        Reply(
            200,
            {"code": 200, "data": [{"id": i} for i in page], "meta": {"pages": announced}},
            headers,
        )
        for page in pages
    ]
    server = Scripted(*replies).start()
    spec = yaml.safe_load(SPEC)
    total = (
        {"total_header": "X-Total-Count"} if by == "header" else {"total_pages_path": "meta.pages"}
    )
    spec["operations"]["items"]["paginate"] = {"type": "page_number", "page_param": "page", **total}
    connector = Connector(
        build_connector(spec, "supplier"), Account("a", {}, {"base_url": server.base_url})
    )
    return server, connector


def test_total_pages_in_the_body_end_the_walk_and_a_shortfall_fails_it():
    server, connector = _paged([1, 2], [3, 4], [5], announced=3)
    try:
        assert _ids(connector) == [1, 2, 3, 4, 5]
        assert [r.query["page"] for r in server.requests] == ["1", "2", "3"]  # no extra page
    finally:
        server.stop()
    server, connector = _paged([1, 2], [], announced=3)
    try:
        with pytest.raises(PermanentError, match="ended after 2 of the 3 pages announced"):
            _ids(connector)
    finally:
        server.stop()


def test_a_total_in_a_header_ends_the_walk_and_a_shortfall_fails_it():
    server, connector = _paged([1, 2], [3, 4], [5], announced=5, by="header")
    try:
        assert _ids(connector) == [1, 2, 3, 4, 5]
        assert len(server.requests) == 3
    finally:
        server.stop()
    server, connector = _paged([1, 2], [3], [], announced=9, by="header")
    try:
        with pytest.raises(PermanentError, match="ended after 3 of the 9 records announced"):
            _ids(connector)
    finally:
        server.stop()
