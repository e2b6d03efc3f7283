"""Session tokens in the database: the `TokenStore` of `runner.http.session`, per account.

`update` renews under an exclusive lock of the account's `auth_sessions` row: on Postgres
the row (created first if missing) is locked with `SELECT ... FOR UPDATE`; on SQLite the
transaction itself starts with `BEGIN IMMEDIATE` (runner.db.engine), which one writer holds
at a time. A second worker whose token died meanwhile waits on that lock, then finds the
token the first one stored and uses it: one login, however many workers.

The row is tied to the credentials it was obtained with (`credentials_hash`): after the
account's credentials change, the stored token is ignored (the login cooldown still holds).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from runner.clock import Clock, SystemClock
from runner.db.tables import auth_sessions
from runner.http.session import SessionState


def credentials_hash(credentials: Mapping[str, Any]) -> str:
    text = json.dumps(credentials, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _when(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class DatabaseTokenStore:
    def __init__(
        self,
        engine: Engine,
        user_id: str,
        account_id: str,
        credentials: Mapping[str, Any],
        clock: Clock | None = None,
    ) -> None:
        self.engine = engine
        self.key = {"user_id": user_id, "account_id": account_id}
        self.fingerprint = credentials_hash(credentials)
        self.clock = clock or SystemClock()
        self._where = (
            auth_sessions.c.user_id == user_id,
            auth_sessions.c.account_id == account_id,
        )

    def _state(self, row: Any) -> SessionState | None:
        if row is None:
            return None
        if row.credentials_hash != self.fingerprint:  # other credentials: only the cooldown
            return SessionState(logged_in_at=_epoch(row.logged_in_at))
        return SessionState(
            token=row.token,
            refresh_token=row.refresh_token,
            expires_at=_epoch(row.expires_at),
            logged_in_at=_epoch(row.logged_in_at),
        )

    def load(self) -> SessionState | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(auth_sessions).where(*self._where)).first()
        return self._state(row)

    def update(
        self, change: Callable[[SessionState | None], SessionState | None]
    ) -> SessionState | None:
        with self.engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE, the write lock
            query = select(auth_sessions).where(*self._where)
            postgres = conn.dialect.name == "postgresql"
            insert = pg_insert if postgres else sqlite_insert
            blank = {**self.key, "updated_at": self.clock.now()}
            conn.execute(insert(auth_sessions).values(blank).on_conflict_do_nothing())
            if postgres:
                query = query.with_for_update()
            current = self._state(conn.execute(query).first())
            if current is not None and current.token is None and current.logged_in_at is None:
                current = None
            new = change(current)
            if new is None:
                return current
            conn.execute(
                update(auth_sessions)
                .where(*self._where)
                .values(
                    credentials_hash=self.fingerprint,
                    token=new.token,
                    refresh_token=new.refresh_token,
                    expires_at=_when(new.expires_at),
                    logged_in_at=_when(new.logged_in_at),
                    updated_at=self.clock.now(),
                )
            )
            return new
