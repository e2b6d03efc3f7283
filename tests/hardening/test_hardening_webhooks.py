"""Webhook destinations an attacker would try, beyond tests/ops/test_ops_webhooks.py.

A spec author (or whoever sets the URL's environment variable) must not make the runner
call the cloud metadata service or anything on the node. Every spelling of such an address
is refused by default, before any connection: integer, hex and octal IPv4 forms, short
forms, IPv4-mapped IPv6, userinfo tricks, trailing dots, upper case, zone ids. A redirect
from an allowed receiver to the metadata address is not followed, and a URL template that
resolves to a refused address at delivery time is refused too. `allow_hosts` (documented
in docs/operations.md, "Refused destinations") is the only way to permit one.
"""

from __future__ import annotations

import pytest

from runner.notify import deliver_job_event, refusal_reason
from runner.spec.model import WebhookSpec
from tests.fakes.base import FakeServer, Reply, Request

ENV = {"HOOK_SECRET": "hardening-hook-secret"}
PAYLOAD = {"id": "job-1", "user_id": "user-a", "status": "completed"}

SPELLINGS = [
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one integer
    "http://0xa9fea9fe/",  # hex
    "http://0xA9.0xFE.0xA9.0xFE/",  # dotted hex
    "http://0251.0376.0251.0376/",  # dotted octal
    "http://169.254.43518/",  # the last two bytes as one number
    "http://[::ffff:a9fe:a9fe]/",  # IPv4-mapped IPv6, hex
    "http://[0:0:0:0:0:ffff:169.254.169.254]/",  # IPv4-mapped IPv6, long form
    "http://evil.example@169.254.169.254/",  # userinfo before the real host
    "HTTP://169.254.169.254:80/",  # scheme case and an explicit port
    "http://metadata.google.internal./computeMetadata/v1/",  # trailing dot
    "http://METADATA.GOOGLE.INTERNAL/",  # upper case
    "http://instance-data/latest/",  # the EC2 name
    "http://metadata/",  # the short name
    "http://[fe80::1%25eth0]/",  # link-local IPv6 with a zone id
    "http://168.63.129.16/machine",  # the Azure wire server
    "http://0/",  # 0.0.0.0
    "http://127.1/",  # loopback, short form
    "http://0x7f000001/",  # loopback, hex
    "http://[::]/",
    "http://[::1]:9100/metrics",  # the node's own exporter
    "http://localhost./",
    "gopher://169.254.169.254/",  # not http at all
]


@pytest.mark.parametrize("url", SPELLINGS)
def test_every_spelling_of_a_refused_address_is_refused(url):
    assert refusal_reason(url) is not None
    [result] = deliver_job_event(
        [WebhookSpec(name="evil", url=url, secret="{{ env.HOOK_SECRET }}")],
        "job.completed",
        PAYLOAD,
        env=ENV,
    )
    assert result.refused and result.attempts == 0 and not result.ok


class Redirecting(FakeServer):
    name = "redirecting"

    def handle(self, request: Request) -> Reply:
        return Reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})


def test_a_redirect_to_the_metadata_address_is_not_followed():
    server = Redirecting().start()
    try:
        spec = WebhookSpec(
            name="ops",
            url=f"http://127.0.0.1:{server.port}/hook",
            secret="{{ env.HOOK_SECRET }}",
            allow_hosts=("127.0.0.1",),
        )
        [result] = deliver_job_event([spec], "job.completed", PAYLOAD, env=ENV)
    finally:
        server.stop()
    assert not result.ok and result.status_code == 302 and result.attempts == 1
    assert len(server.requests) == 1  # one POST, and nothing else, anywhere


def test_a_url_template_is_checked_after_it_is_resolved():
    spec = WebhookSpec(name="ops", url="{{ env.HOOK_URL }}", secret="{{ env.HOOK_SECRET }}")
    env = {**ENV, "HOOK_URL": "http://169.254.169.254/latest/meta-data/iam/"}
    [result] = deliver_job_event([spec], "job.failed", PAYLOAD, env=env)
    assert result.refused and "169.254.169.254" in result.error


def test_allow_hosts_is_exact_and_case_insensitive():
    assert refusal_reason("http://127.0.0.1/x", ("127.0.0.1",)) is None
    assert refusal_reason("http://LOCALHOST/x", ("localhost",)) is None
    assert refusal_reason("http://127.0.0.2/x", ("127.0.0.1",)) is not None  # not a prefix
    assert refusal_reason("http://2852039166/", ("169.254.169.254",)) is not None  # by name
