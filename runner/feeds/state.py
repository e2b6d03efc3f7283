"""What the last complete sync of a feed saw, per account, sync type and operation.

Per sync type, because two sync types may read one feed with different mappings: a 304 to
`inventory_update` must not stop `supplier_api` from creating the rows. `version` names the
mapping and format that read the feed; under another version the stored validators are not
sent, so a changed mapping reads the whole feed again.

The connector reads it before the request (validators for a conditional GET, the body hash,
the record count the truncation guard compares with); the engine saves the new state only
after the step that read the feed completed, so a failed or refused sync is fetched in full
again next time.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, insert, select, update

from runner.clock import Clock
from runner.db.tables import feed_state


@dataclass(frozen=True)
class FeedState:
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    record_count: int
    version: str = ""


@dataclass
class FeedStateStore:
    """`feed_state` rows of one account for one sync type. A read-only store (a dry run)
    never saves."""

    engine: Engine
    user_id: str
    account_id: str  # the column feed_state.supplier_id
    sync_type: str
    clock: Clock
    read_only: bool = False

    def _where(self, operation: str):
        return and_(
            feed_state.c.user_id == self.user_id,
            feed_state.c.supplier_id == self.account_id,
            feed_state.c.sync_type == self.sync_type,
            feed_state.c.operation == operation,
        )

    def load(self, operation: str) -> FeedState | None:
        columns = (
            feed_state.c.etag,
            feed_state.c.last_modified,
            feed_state.c.body_hash,
            feed_state.c.record_count,
            feed_state.c.version,
        )
        with self.engine.connect() as conn:
            row = conn.execute(select(*columns).where(self._where(operation))).first()
        return None if row is None else FeedState(*row)

    def save(self, operation: str, state: FeedState) -> None:
        if self.read_only:
            return
        values = {
            "etag": state.etag,
            "last_modified": state.last_modified,
            "body_hash": state.body_hash,
            "record_count": state.record_count,
            "version": state.version,
            "updated_at": self.clock.now(),
        }
        with self.engine.begin() as conn:
            done = conn.execute(update(feed_state).where(self._where(operation)).values(values))
            if done.rowcount == 0:
                keys = {
                    "user_id": self.user_id,
                    "supplier_id": self.account_id,
                    "sync_type": self.sync_type,
                    "operation": operation,
                }
                conn.execute(insert(feed_state).values({**keys, **values}))
