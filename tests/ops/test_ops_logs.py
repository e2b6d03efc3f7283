"""Log formats: the same events in human and JSON form, emoji prefixes, redaction, and the
choice of format by option, env and runner.yaml."""

from __future__ import annotations

import io
import json
import logging
import re

import click
import pytest
from click.testing import CliRunner

from runner.logs import (
    ICON_ERROR,
    ICON_INFO,
    ICON_INVENTORY,
    ICON_JOB,
    ICON_MAINTENANCE,
    ICON_PRICE,
    ICON_START,
    ICON_SUCCESS,
    configure_from,
    log_options,
    resolve_settings,
    setup_logging,
)
from runner.redact import SECRETS
from runner.spec.load import load_specs

SECRET = "sk_live_4f9a8b7c6d5e"  # an API key as a supplier's credentials would hold it
JOB = "7c1f0a2e-0000-4000-8000-000000000001"


@pytest.fixture(autouse=True)
def clean_logging():
    yield
    logger = logging.getLogger("sync_runner")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    SECRETS.clear()


def emit_a_job() -> None:
    """What a job logs, the way the sync engine and the worker log it."""
    log = logging.getLogger("sync_runner.sync")
    job = {"job_id": JOB, "user_id": "u1", "supplier": "bigbuy", "sync_type": "inventory_update"}
    log.info("job started", extra={"event": "job.started", **job})
    log.info("step started: %s", "stock", extra={"event": "step.started", "step": "stock", **job})
    log.info(
        "step finished: %s",
        "stock",
        extra={
            "event": "step.finished",
            "step": "stock",
            "counts": {"inserted": 0, "updated": 12, "unchanged": 3, "rejected": 1},
            **job,
        },
    )
    log.warning(
        "GET https://api.bigbuy.eu/rest/catalog/stock.json?token=%s failed: 503",
        SECRET,
        extra={"event": "request.retry", "attempt": 1, **job},
    )
    try:
        raise RuntimeError(f"supplier said: invalid key {SECRET}")
    except RuntimeError:
        log.exception(
            "step failed with key %s",
            SECRET,
            extra={"event": "step.failed", "step": "prices", "detail": {"auth": SECRET}, **job},
        )
    log.info(
        "job finished",
        extra={"event": "job.finished", "counts": {"updated": 12, "rejected": 1}, **job},
    )
    logging.getLogger("sync_runner.maintenance").info(
        "maintenance finished", extra={"event": "maintenance.finished", "counts": {"deleted": 4}}
    )


def capture(fmt: str) -> str:
    stream = io.StringIO()
    setup_logging(fmt, "info", stream)
    SECRETS.add_all({"api_key": SECRET, "shop": "x"})  # as a connector does with credentials
    emit_a_job()
    return stream.getvalue()


HUMAN_LINE = re.compile(
    r"^\d\d:\d\d:\d\d (?P<icon>\S+) (?P<message>.*?)(?: \[(?P<tags>[^\]]*)\])?$"
)


def human_records(text: str) -> list[dict]:
    """Parse the human format back: icon, message, event and key=value tags per record."""
    records = []
    for line in text.splitlines():
        match = HUMAN_LINE.match(line)
        if not match:  # a traceback line belongs to the record above
            records[-1].setdefault("traceback", []).append(line)
            continue
        tags = (match["tags"] or "").split()
        fields = dict(t.split("=", 1) for t in tags[1:])
        event = tags[0] if tags else "log"  # JSON says "log" for a record without an event
        records.append({"icon": match["icon"], "event": event, **fields})
    return records


def test_both_formats_carry_the_same_events():
    human = human_records(capture("human"))
    lines = capture("json").splitlines()
    objects = [json.loads(line) for line in lines]  # every line is one complete object
    events = [
        "job.started",
        "step.started",
        "step.finished",
        "request.retry",
        "step.failed",
        "job.finished",
        "maintenance.finished",
    ]
    assert [o["event"] for o in objects] == events
    assert [r["event"] for r in human] == events
    for obj, rec in zip(objects, human, strict=True):
        assert {"ts", "level", "event", "message", "job_id", "supplier", "counts"} <= set(obj)
        assert obj.get("job_id") == (JOB if "job" in rec else None)
        assert obj.get("supplier") == rec.get("supplier")
        for name, value in (obj["counts"] or {}).items():
            assert rec[name] == str(value)
    finished = objects[2]
    assert finished["level"] == "info"
    assert finished["job_id"] == JOB and finished["supplier"] == "bigbuy"
    assert finished["step"] == "stock" and finished["user_id"] == "u1"
    assert finished["counts"] == {"inserted": 0, "updated": 12, "unchanged": 3, "rejected": 1}
    assert objects[3]["level"] == "warning" and objects[3]["attempt"] == 1
    assert objects[4]["level"] == "error" and "RuntimeError" in objects[4]["error"]


def test_human_format_uses_the_known_emoji():
    icons = [r["icon"] for r in human_records(capture("human"))]
    assert icons == [
        ICON_INVENTORY,  # job.started of an inventory sync
        ICON_START,
        ICON_SUCCESS,
        "⚠️",
        ICON_ERROR,
        ICON_SUCCESS,
        ICON_MAINTENANCE,
    ]


@pytest.mark.parametrize(
    ("sync_type", "icon"),
    [("price_update", ICON_PRICE), ("supplier_api", ICON_JOB), ("order_sync", ICON_JOB)],
)
def test_job_icon_follows_the_sync_type(sync_type, icon):
    stream = io.StringIO()
    setup_logging("human", "info", stream)
    log = logging.getLogger("sync_runner.worker")
    log.info("job started", extra={"event": "job.started", "sync_type": sync_type})
    log.info("claimed nothing")
    first, second = human_records(stream.getvalue())
    assert first["icon"] == icon
    assert second["icon"] == ICON_INFO and second["event"] == "log"


@pytest.mark.parametrize("fmt", ["human", "json"])
def test_a_credential_secret_is_redacted(fmt):
    text = capture(fmt)
    assert SECRET not in text
    assert "***" in text
    # ... in the message, its arguments, the URL, an extra field and the traceback alike.
    if fmt == "json":
        objects = [json.loads(line) for line in text.splitlines()]
        assert "token=***" in objects[3]["message"]
        assert objects[4]["detail"] == {"auth": "***"}
        assert "invalid key ***" in objects[4]["error"]


def test_level_filters_records():
    stream = io.StringIO()
    setup_logging("json", "warning", stream)
    emit_a_job()
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == [
        "request.retry",
        "step.failed",
    ]


def test_setup_again_replaces_the_handler():
    first, second = io.StringIO(), io.StringIO()
    setup_logging("human", "info", first)
    setup_logging("json", "info", second)
    logging.getLogger("sync_runner.x").info("once", extra={"event": "x.y"})
    assert first.getvalue() == ""
    assert len(second.getvalue().splitlines()) == 1


def test_format_precedence_option_env_yaml(tmp_path):
    specs = load_specs()
    assert specs.runner.logging.format == "human"
    assert resolve_settings(specs, None, None, env={}) == ("human", "info")
    assert resolve_settings(specs, None, None, env={"LOG_FORMAT": "json"}) == ("json", "info")
    assert resolve_settings(specs, "human", None, env={"LOG_FORMAT": "json"})[0] == "human"
    assert resolve_settings(specs, None, "debug", env={"LOG_LEVEL": "error"})[1] == "debug"
    with pytest.raises(click.BadParameter):
        resolve_settings(specs, None, None, env={"LOG_FORMAT": "xml"})


def test_runner_yaml_selects_json(make_specs, monkeypatch):
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    specs_dir = make_specs({"logging": {"format": "json", "level": "warning"}})
    stream = io.StringIO()
    configure_from(load_specs(specs_dir), None, None, stream)
    logging.getLogger("sync_runner.t").info("hidden", extra={"event": "a.b"})
    logging.getLogger("sync_runner.t").warning("shown", extra={"event": "a.c"})
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["a.c"]


def test_log_options_decorator_reads_option_and_env():
    seen = {}

    @click.command()
    @log_options
    def command(log_format, log_level):
        seen.update(format=log_format, level=log_level)

    runner = CliRunner()
    assert runner.invoke(command, ["--log-format", "json"]).exit_code == 0
    assert seen == {"format": "json", "level": None}
    assert (
        runner.invoke(command, [], env={"LOG_FORMAT": "json", "LOG_LEVEL": "debug"}).exit_code == 0
    )
    assert seen == {"format": "json", "level": "debug"}
    bad = runner.invoke(command, ["--log-format", "xml"])
    assert bad.exit_code == 2
    help_text = runner.invoke(command, ["--help"]).output
    assert "--log-format" in help_text and "LOG_FORMAT" in help_text


def test_at_a_terminal_a_log_line_first_clears_the_progress_line():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    setup_logging("human", "info", stream)
    logging.getLogger("sync_runner.t").info("hello", extra={"event": "a.b", "counts": {"n": 1}})
    assert stream.getvalue().startswith("\r\x1b[K")
    assert stream.getvalue().rstrip().endswith("hello [a.b n=1]")


def test_human_counts_show_numbers_only():
    stream = io.StringIO()
    setup_logging("human", "info", stream)
    counts = {"updated": 3, "seconds": 0.5, "accounts": {"bb": {}}, "dry_run": False}
    logging.getLogger("sync_runner.t").info("done", extra={"event": "a.b", "counts": counts})
    assert stream.getvalue().rstrip().endswith("done [a.b updated=3 seconds=0.5]")


def test_default_stream_follows_sys_stderr(monkeypatch, capsys):
    setup_logging("json", "info")
    logging.getLogger("sync_runner.t").info("first", extra={"event": "a.first"})
    swapped = io.StringIO()
    monkeypatch.setattr("sys.stderr", swapped)  # e.g. click's CliRunner
    logging.getLogger("sync_runner.t").info("second", extra={"event": "a.second"})
    assert json.loads(swapped.getvalue())["event"] == "a.second"
    assert "a.second" not in capsys.readouterr().err
