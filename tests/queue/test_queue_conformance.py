"""The queue's state machine: one conformance suite, run unchanged on SQLite and Postgres."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from runner.clock import FakeClock
from runner.db.tables import import_jobs
from runner.queue import JobNotFound, Queue, QueueError, backoff_seconds, concurrency_key
from runner.spec.model import BackoffSpec, QueueSpec

SPEC = QueueSpec(
    lease_seconds=300,
    heartbeat_seconds=60,
    max_attempts=3,
    backoff=BackoffSpec(base_seconds=30, max_seconds=600, jitter=0.2),
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(engine, clock) -> Queue:
    return Queue(engine, SPEC, clock, random.Random(7))


def row(queue: Queue, job_id: str) -> dict:
    return queue.get(job_id)


# ---------------------------------------------------------------------------------------------
# Enqueue and dedupe


def test_enqueue_makes_a_pending_job(queue, clock):
    job_id = queue.enqueue("u1", "inventory_update", account_id="s1").job_id
    job = row(queue, job_id)
    assert job["status"] == "pending"
    assert job["attempts"] == 0
    assert job["max_attempts"] == 3  # queue.max_attempts
    assert job["scheduled_at"] == clock.now()
    assert job["concurrency_key"] == concurrency_key("u1", "inventory_update", "s1")
    assert job["errors"] == [] and job["metadata"] == {}


def test_a_claimed_job_carries_its_account_id(queue):
    """The column `import_jobs.supplier_id` is `Job.account_id`; handlers written against the
    old attribute name still read it, with a DeprecationWarning."""
    queue.enqueue("u1", "inventory_update", account_id="s1")
    job = queue.claim("w1")
    assert job.account_id == "s1"
    with pytest.warns(DeprecationWarning, match="Job.account_id"):
        assert job.supplier_id == "s1"


def test_dedupe_key_allows_one_active_job(queue):
    first = queue.enqueue("u1", "price_update", dedupe_key="k")
    second = queue.enqueue("u1", "price_update", dedupe_key="k")
    assert first.created and not second.created
    assert second.job_id == first.job_id
    job = queue.claim("w1")
    assert queue.enqueue("u1", "price_update", dedupe_key="k").job_id == first.job_id  # running
    assert queue.complete(job, {})
    third = queue.enqueue("u1", "price_update", dedupe_key="k")  # the key is free again
    assert third.created and third.job_id != first.job_id


def test_enqueue_rejects_bad_values(queue):
    with pytest.raises(QueueError, match="sync type"):
        queue.enqueue("u1", "x" * 33)
    with pytest.raises(QueueError, match="user"):
        queue.enqueue("", "price_update")
    with pytest.raises(QueueError, match="max attempts"):
        queue.enqueue("u1", "price_update", max_attempts=0)


# ---------------------------------------------------------------------------------------------
# Claim


def test_claim_takes_priority_then_age_and_only_due_jobs(queue, clock):
    old_low = queue.enqueue("u1", "t", account_id="a").job_id
    clock.advance(1)
    high = queue.enqueue("u1", "t", account_id="b", priority=10).job_id
    clock.advance(1)
    new_low = queue.enqueue("u1", "t", account_id="c").job_id
    later = queue.enqueue(
        "u1", "t", account_id="d", priority=99, run_at=clock.now() + timedelta(hours=1)
    ).job_id
    order = [queue.claim("w").id for _ in range(3)]
    assert order == [high, old_low, new_low]
    assert queue.claim("w") is None  # `later` is not due
    clock.advance(hours=1)
    assert queue.claim("w").id == later


def test_expired_and_pending_jobs_share_one_order(queue, clock):
    """The claim picks the best pending job and the best expired one apart, then the better
    of the two by the same order: priority first, then age."""
    lost_low = queue.enqueue("u1", "t", account_id="a").job_id
    lost_high = queue.enqueue("u1", "t", account_id="b", priority=20).job_id
    assert {queue.claim("dead").id, queue.claim("dead").id} == {lost_low, lost_high}
    clock.advance(1)
    pending_mid = queue.enqueue("u1", "t", account_id="c", priority=10).job_id
    pending_low = queue.enqueue("u1", "t", account_id="d").job_id
    clock.advance(301)  # both leases expired
    order = [queue.claim("w").id for _ in range(4)]
    assert order == [lost_high, pending_mid, lost_low, pending_low]
    assert queue.claim("w") is None


def test_the_claim_walks_the_pending_index_instead_of_sorting(queue, engine):
    """With a backlog, the plan of the claim's pending pick reads `ix_import_jobs_pending` in
    order and stops at the first free row: no sort of the pending jobs, on either database."""
    from runner.queue import _claim_statement

    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        queue.enqueue_rows(conn, [queue.new_row(f"u{i}", "t") for i in range(3000)])
        conn.exec_driver_sql("ANALYZE import_jobs" if postgres else "ANALYZE")
    now = queue.clock.now()
    params = {"claim_now": now, "lease_until": now, "worker_id": "w"}
    stmt = _claim_statement(postgres=postgres, by_id=False)
    with engine.connect() as conn:
        compiled = stmt.compile(dialect=conn.dialect)
        bound = compiled.construct_params(params, _check=False)
        processed = {
            name: compiled.binds[name].type.bind_processor(conn.dialect)(value)
            if compiled.binds[name].type.bind_processor(conn.dialect)
            else value
            for name, value in bound.items()
        }
        if postgres:
            plan = conn.exec_driver_sql(f"EXPLAIN {compiled}", processed).scalars().all()
            pending_pick = "\n".join(plan).split("CTE expired_pick")[0]
            sort = "Sort"
        else:
            args = tuple(processed[name] for name in compiled.positiontup)
            plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", args)]
            pending_pick = "\n".join(plan).split("UNION ALL")[0]
            sort = "TEMP B-TREE"
        conn.rollback()
    assert "ix_import_jobs_pending" in pending_pick and sort not in pending_pick, plan


def test_claim_charges_the_attempt_and_sets_the_lease(queue, clock):
    job_id = queue.enqueue("u1", "t").job_id
    job = queue.claim("worker-1")
    assert (job.id, job.status, job.attempts, job.locked_by) == (job_id, "running", 1, "worker-1")
    stored = row(queue, job_id)
    assert stored["lease_expires_at"] == clock.now() + timedelta(seconds=300)
    assert stored["heartbeat_at"] == stored["started_at"] == clock.now()


def test_one_running_job_per_key_but_other_keys_run(queue, clock):
    a1 = queue.enqueue("u1", "inventory_update", account_id="s1").job_id
    clock.advance(1)
    a2 = queue.enqueue("u1", "inventory_update", account_id="s1").job_id
    clock.advance(1)
    b1 = queue.enqueue("u1", "inventory_update", account_id="s2").job_id
    first = queue.claim("w1")
    second = queue.claim("w2")
    assert (first.id, second.id) == (a1, b1)  # a2 waits: same key as a1
    assert queue.claim("w3") is None
    queue.complete(first, {})
    assert queue.claim("w3").id == a2


def test_the_database_refuses_two_running_jobs_per_key(queue, engine):
    ids = {queue.enqueue("u1", "t", account_id="s").job_id for _ in range(2)}
    (second,) = ids - {queue.claim("w1").id}
    with pytest.raises(Exception, match=r"(?i)unique"), engine.begin() as conn:
        conn.execute(update(import_jobs).where(import_jobs.c.id == second).values(status="running"))


def test_a_claim_racing_another_claim_of_the_same_key_gets_nothing(queue, engine):
    """Postgres: SKIP LOCKED hides the first claim's row, so the second claimer picks the
    other job of the key and hits the unique index when the first commits; it must retry and
    find the key busy. SQLite: the second claim waits for BEGIN IMMEDIATE."""
    for _ in range(2):
        queue.enqueue("u1", "t", account_id="s")
    result: dict = {}
    with engine.connect() as conn:
        tx = conn.begin()
        first = conn.execute(*queue._claim_statement(conn, "w1", None)).first()
        racer = threading.Thread(target=lambda: result.setdefault("job", queue.claim("w2")))
        racer.start()
        threading.Event().wait(0.3)  # let the racer reach the lock
        tx.commit()
    racer.join(timeout=20)
    assert first is not None and result["job"] is None


def test_run_job_claims_a_given_job_even_before_its_time(queue, clock):
    queue.enqueue("u1", "t", account_id="x", priority=50)
    later = queue.enqueue("u1", "t", account_id="y", run_at=clock.now() + timedelta(days=1))
    job = queue.claim("w", job_id=later.job_id)
    assert job.id == later.job_id
    assert queue.claim("w2", job_id=later.job_id) is None  # running, lease live


def test_concurrent_claims_never_hand_out_a_job_twice(queue):
    ids = {queue.enqueue(f"u{i}", "t").job_id for i in range(40)}
    claimed: list[str] = []
    lock = threading.Lock()

    def drain(worker: str) -> None:
        while (job := queue.claim(worker)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=drain, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


# ---------------------------------------------------------------------------------------------
# Leases, heartbeats and fencing


def test_heartbeat_renews_the_lease(queue, clock):
    queue.enqueue("u1", "t")
    job = queue.claim("w1")
    clock.advance(200)
    assert queue.heartbeat(job) == clock.now() + timedelta(seconds=300)
    clock.advance(200)  # 400s after the claim, 200s after the beat: still held
    assert queue.claim("w2") is None


def test_expired_lease_is_reclaimed_and_the_zombie_is_fenced(queue, clock):
    job_id = queue.enqueue("u1", "t").job_id
    zombie = queue.claim("w1")
    clock.advance(301)
    heir = queue.claim("w2")
    assert (heir.id, heir.attempts, heir.locked_by) == (job_id, 2, "w2")
    before = row(queue, job_id)
    # everything the zombie tries changes nothing
    assert queue.heartbeat(zombie) is None
    assert queue.complete(zombie, {"zombie": True}) is False
    assert queue.fail(zombie, type_="X", message="late", transient=False) == "lost"
    assert queue.release(zombie) is False
    assert queue.defer(zombie, 10, "later") is False
    assert row(queue, job_id) == before
    assert queue.complete(heir, {"ok": 1})
    done = row(queue, job_id)
    assert done["status"] == "completed" and done["attempts"] == 2
    assert done["result_data"] == {"ok": 1}
    assert [(e["attempt"], e["type"]) for e in done["errors"]] == [(1, "LeaseExpired")]


def test_a_lost_last_attempt_fails_the_job(queue, clock):
    job_id = queue.enqueue("u1", "t", max_attempts=1).job_id
    queue.claim("w1")
    clock.advance(301)
    again = queue.claim("w2")
    assert again.attempts == 2 > again.max_attempts
    assert queue.give_up(again)
    done = row(queue, job_id)
    assert (done["status"], done["attempts"]) == ("failed", 1)
    assert [(e["attempt"], e["type"]) for e in done["errors"]] == [(1, "LeaseExpired")]


# ---------------------------------------------------------------------------------------------
# Finishing: retry with backoff, defer, release


def test_backoff_is_exponential_capped_and_jittered():
    spec = BackoffSpec(base_seconds=10, max_seconds=100, jitter=0.2)
    rng = random.Random(42)
    delays = [backoff_seconds(n, spec, rng) for n in range(1, 8)]
    ceilings = [10, 20, 40, 80, 100, 100, 100]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling * 0.8 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[4:]}) == 3  # jitter: capped delays still differ
    assert delays == [backoff_seconds(n, spec, random.Random(42)) for n in [1]] + delays[1:]
    no_jitter = BackoffSpec(base_seconds=10, max_seconds=100, jitter=0)
    assert [backoff_seconds(n, no_jitter, rng) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 80, 100]


def test_transient_errors_retry_with_backoff_then_fail_with_every_error_kept(queue, clock):
    job_id = queue.enqueue("u1", "t").job_id
    waits = []
    for attempt in (1, 2):
        job = queue.claim("w")
        assert job.attempts == attempt
        assert (
            queue.fail(job, type_="TransientError", message=f"503 #{attempt}", transient=True)
            == "retry"
        )
        stored = row(queue, job_id)
        assert stored["status"] == "pending" and stored["locked_by"] is None
        wait = (stored["scheduled_at"] - clock.now()).total_seconds()
        waits.append(wait)
        assert queue.claim("w") is None  # not due yet
        clock.advance(wait)
    assert 24 <= waits[0] <= 30 and 48 <= waits[1] <= 60  # 30s then 60s, minus jitter
    job = queue.claim("w")
    assert queue.fail(job, type_="TransientError", message="503 #3", transient=True) == "failed"
    done = row(queue, job_id)
    assert (done["status"], done["attempts"]) == ("failed", 3)
    assert done["completed_at"] == clock.now()
    assert [(e["attempt"], e["type"], e["message"]) for e in done["errors"]] == [
        (1, "TransientError", "503 #1"),
        (2, "TransientError", "503 #2"),
        (3, "TransientError", "503 #3"),
    ]
    assert "retry_at" in done["errors"][0] and "retry_at" not in done["errors"][2]


def test_permanent_error_fails_at_once_and_keeps_partial_results(queue):
    job_id = queue.enqueue("u1", "t").job_id
    job = queue.claim("w")
    outcome = queue.fail(
        job,
        type_="JobFailed",
        message="1 of 2 suppliers failed",
        transient=False,
        result_data={"bigbuy": {"updated": 3}},
        details=[{"supplier": "aliexpress", "error": "401"}],
    )
    assert outcome == "failed"
    done = row(queue, job_id)
    assert done["status"] == "failed" and done["attempts"] == 1
    assert done["result_data"] == {"bigbuy": {"updated": 3}}
    assert done["errors"][0]["details"] == [{"supplier": "aliexpress", "error": "401"}]


def test_defer_does_not_charge_an_attempt(queue, clock):
    job_id = queue.enqueue("u1", "t").job_id
    job = queue.claim("w")
    assert queue.defer(job, 120, "429: Retry-After 120")
    stored = row(queue, job_id)
    assert (stored["status"], stored["attempts"]) == ("pending", 0)
    assert stored["scheduled_at"] == clock.now() + timedelta(seconds=120)
    assert stored["errors"][0]["type"] == "RetryLater" and stored["errors"][0]["charged"] is False
    clock.advance(120)
    again = queue.claim("w")
    assert again.attempts == 1
    assert queue.complete(again, {})
    assert [e["type"] for e in row(queue, job_id)["errors"]] == ["RetryLater"]  # nothing "lost"


def test_release_hands_the_job_back_uncharged_and_due(queue, clock):
    job_id = queue.enqueue("u1", "t", account_id="s").job_id
    job = queue.claim("w")
    assert queue.release(job)
    stored = row(queue, job_id)
    assert (stored["status"], stored["attempts"], stored["locked_by"]) == ("pending", 0, None)
    assert stored["lease_expires_at"] is None
    assert queue.claim("w2").id == job_id  # due at once, key free


def test_result_data_is_stored_as_json(queue, clock):
    job_id = queue.enqueue("u1", "t").job_id
    job = queue.claim("w")
    queue.complete(job, {"when": clock.now(), "n": 1})
    assert row(queue, job_id)["result_data"] == {"when": str(clock.now()), "n": 1}


# ---------------------------------------------------------------------------------------------
# Operator actions


def test_cancel_pending_and_running_jobs(queue):
    pending = queue.enqueue("u1", "t", account_id="a").job_id
    running_id = queue.enqueue("u1", "t", account_id="b").job_id
    running = queue.claim("w")
    assert running.id in (pending, running_id)
    other = pending if running.id == running_id else running_id
    assert queue.cancel(other) == "pending"
    assert queue.cancel(running.id) == "running"
    # the worker that held the job is fenced out from now on
    assert queue.heartbeat(running) is None
    assert queue.complete(running, {}) is False
    cancelled = row(queue, running.id)
    assert cancelled["status"] == "cancelled"
    assert cancelled["errors"][-1]["type"] == "Cancelled"
    with pytest.raises(QueueError, match="already cancelled"):
        queue.cancel(other)
    with pytest.raises(JobNotFound):
        queue.cancel("00000000-0000-0000-0000-000000000000")


def test_retry_puts_a_failed_job_back_with_a_fresh_budget(queue, clock):
    job_id = queue.enqueue("u1", "t", max_attempts=1, dedupe_key="d").job_id
    job = queue.claim("w")
    queue.fail(job, type_="PermanentError", message="401", transient=False)
    with pytest.raises(QueueError, match="only failed or cancelled"):
        queue.retry(queue.enqueue("u2", "t").job_id)
    queue.retry(job_id)
    stored = row(queue, job_id)
    assert (stored["status"], stored["attempts"], stored["max_attempts"]) == ("pending", 1, 4)
    assert stored["completed_at"] is None
    assert [e["type"] for e in stored["errors"]] == ["PermanentError", "Retried"]
    again = queue.claim("w", job_id=job_id)
    assert again.attempts == 2
    queue.complete(again, {})
    assert [e["type"] for e in row(queue, job_id)["errors"]] == ["PermanentError", "Retried"]


def test_retry_refuses_when_the_dedupe_key_is_taken(queue):
    job_id = queue.enqueue("u1", "t", dedupe_key="nightly").job_id
    queue.cancel(job_id)
    queue.enqueue("u1", "t", dedupe_key="nightly")
    with pytest.raises(QueueError, match="dedupe key"):
        queue.retry(job_id)


# ---------------------------------------------------------------------------------------------
# Reads


def test_list_get_find_and_stats(queue, clock, engine):
    done_id = queue.enqueue("u1", "inventory_update", account_id="s1").job_id
    clock.advance(1)
    queue.enqueue("u2", "price_update")
    queue.enqueue("u1", "order_sync", run_at=clock.now() + timedelta(hours=2))
    job = queue.claim("w")
    assert job.id == done_id
    clock.advance(90)
    queue.complete(job, {"updated": 1})
    running = queue.claim("w-busy")

    assert [j["user_id"] for j in queue.list(user_id="u1")] == ["u1", "u1"]
    assert [j["status"] for j in queue.list(statuses=["completed"])] == ["completed"]
    assert len(queue.list(limit=2)) == 2
    assert queue.find(done_id[:8]) == done_id
    with pytest.raises(JobNotFound):
        queue.find("zzzz")

    stats = queue.stats()
    assert [r["id"] for r in stats["running"]] == [running.id]
    assert stats["running"][0]["locked_by"] == "w-busy"
    assert stats["statuses"]["completed"] == {"count": 1, "avg_duration_seconds": 90.0}
    assert stats["statuses"]["running"]["count"] == 1
    assert stats["statuses"]["pending"]["count"] == 1
    assert stats["statuses"]["failed"] == {"count": 0, "avg_duration_seconds": None}
    assert (stats["pending_due"], stats["pending_later"]) == (0, 1)
    # jobs older than the window are not counted
    clock.advance(days=8)
    assert queue.stats()["statuses"]["completed"]["count"] == 0
    with engine.connect() as conn:
        assert (
            conn.scalar(select(import_jobs.c.status).where(import_jobs.c.id == done_id))
            == "completed"
        )


def test_only_the_queues_bookkeeping_skips_the_wal_flush(queue, engine):
    # Claims, heartbeats and finishes commit without waiting for the WAL flush (a lost one
    # is recovered like a crashed worker's); enqueues stay durable.
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split())[:40])

    event.listen(engine, "before_cursor_execute", record)
    try:
        queue.enqueue("u1", "supplier_api", account_id="s1")
        enqueued = list(sent)
        sent.clear()
        job = queue.claim("w1")
        assert job is not None and queue.heartbeat(job) is not None and queue.complete(job, {})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    relaxed = [s for s in sent if s.startswith("SET LOCAL synchronous_commit TO OFF")]
    assert not any("synchronous_commit" in s for s in enqueued)
    if engine.dialect.name == "postgresql":
        assert len(relaxed) == 3  # claim, heartbeat, finish: one per transaction
        # then the claim (its picks come first, as CTEs of its UPDATE)
        assert sent[0].startswith("SET LOCAL") and sent[1].startswith("WITH pending_pick AS")
    else:
        assert relaxed == []
    with engine.connect() as conn:  # SET LOCAL ends with its transaction
        if engine.dialect.name == "postgresql":
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar_one() == "on"
