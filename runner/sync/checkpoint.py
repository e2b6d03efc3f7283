"""A job's checkpoint: what it finished, and where its running step stands.

Saved in `import_jobs.checkpoint` after every committed batch, every finished step and every
finished account, so that a job that runs again (deferred for a budget, its worker killed and
its lease expired, handed back on SIGTERM, retried after a transient failure) goes on where
it stopped instead of spending the supplier's budget again on pages it already wrote:

    {"accounts": {"<account id>": {
        "done": false,                        # true: the account finished (ok or skipped)
        "result": {...},                      # its result so far (the steps it finished)
        "step": "images",                     # the running step, and the position after
        "position": {"url": null, "params": {"page": "3", "pageSize": "10000"},
                     "state": {"read": 30000}, "pages": 3}}}}

A position is the next page request of a list (page number, offset, cursor or next URL) and
the paginator's own counters (`runner.http.paginate`). A step whose operation declares
`resume: restart` (positions that expire, such as a search cursor) and every lookup step
start again from their first page; finished steps are never run again. Resuming gives the
same rows as a clean run: every write is an upsert or an update by key.

Every save is fenced like the queue's own writes (job id, worker, attempt, running): a worker
that lost the job cannot overwrite its successor's progress, and learns so
(`JobInterrupted`).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from sqlalchemy import Engine, select

from runner.db.engine import read_only
from runner.db.tables import import_jobs
from runner.errors import JobInterrupted
from runner.handlers import Job
from runner.queue import _fenced_update_statement


class JobCheckpoint:
    """The checkpoint of one claimed job: read once when the job starts, saved as it goes."""

    def __init__(self, engine: Engine, job: Job, stored: Any = None) -> None:
        self.engine = engine
        self.job = job
        self._lock = threading.Lock()
        self.data: dict[str, Any] = stored if isinstance(stored, dict) else {}
        self.data.setdefault("accounts", {})

    @classmethod
    def load(cls, engine: Engine, job: Job) -> JobCheckpoint | None:
        """The checkpoint of a claimed job (empty the first time); None if the job has no
        row (a handler called directly). A job read from its row (the claim) carries it."""
        if job.checkpoint is not None:
            return cls(engine, job, copy.deepcopy(job.checkpoint))  # the Job stays as claimed
        with engine.connect() as conn:
            row = (
                read_only(conn)
                .execute(select(import_jobs.c.checkpoint).where(import_jobs.c.id == job.id))
                .first()
            )
        return None if row is None else cls(engine, job, row.checkpoint)

    # -- reading ------------------------------------------------------------------------------

    def _account(self, account_id: str) -> dict[str, Any]:
        return self.data["accounts"].setdefault(account_id, {"done": False, "result": None})

    def finished_account(self, account_id: str) -> dict[str, Any] | None:
        """The result of an account this job already finished, else None."""
        entry = self.data["accounts"].get(account_id) or {}
        return copy.deepcopy(entry["result"]) if entry.get("done") else None

    def finished_steps(self, account_id: str) -> dict[str, dict[str, Any]]:
        """The results of the steps of an account this job already finished, by step name."""
        entry = self.data["accounts"].get(account_id) or {}
        result = entry.get("result") or {}
        return {
            name: copy.deepcopy(step)
            for name, step in (result.get("steps") or {}).items()
            if step.get("status") == "ok"
        }

    def position(self, account_id: str, step: str) -> dict[str, Any] | None:
        """Where the running step `step` of an account stood, if it was running."""
        entry = self.data["accounts"].get(account_id) or {}
        return entry.get("position") if entry.get("step") == step else None

    # -- saving -------------------------------------------------------------------------------

    def save_position(self, account_id: str, step: str, position: dict[str, Any] | None) -> None:
        """After a committed batch: the step goes on at `position`."""
        with self._lock:
            entry = self._account(account_id)
            entry.update(step=step, position=position)
            self._save()

    def save_step(self, account_id: str, result: dict[str, Any]) -> None:
        """After a finished step: the account's result so far (its finished steps)."""
        with self._lock:
            entry = self._account(account_id)
            entry.update(result=copy.deepcopy(result), step=None, position=None)
            self._save()

    def save_account(self, account_id: str, result: dict[str, Any]) -> None:
        """After a finished account (ok or skipped): never run again by this job."""
        with self._lock:
            entry = self._account(account_id)
            entry.update(done=True, result=copy.deepcopy(result), step=None, position=None)
            self._save()

    def _save(self) -> None:
        job = self.job
        params = {
            "set_checkpoint": self.data,
            "fence_id": job.id,
            "fence_worker": job.locked_by,
            "fence_attempts": job.attempts,
        }
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Like the queue's bookkeeping: a save lost to a crash of the database server
                # only makes the job fetch a few pages again; waiting for the WAL flush after
                # every batch would slow the write thread that makes the batches.
                conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
            saved = conn.execute(_fenced_update_statement(("checkpoint",)), params).rowcount
        if saved != 1:
            raise JobInterrupted("the lease was lost (the job was taken over or cancelled)")
