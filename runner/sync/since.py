"""The cursor of a `changed_since` list step: from when to ask the source for changes.

A list step with `changed_since` (Shopify `updated_at_min`, WooCommerce `modified_after`)
asks only for the records changed since its account's last successful run. When a run of the
step ends well (not a dry run), its mark is saved in `sync_cursors`; the next run asks from
that mark, `overlap` earlier. A run that fails saves nothing, so the next one asks from the
same point; without a mark (the first sync) the list holds everything.

The mark is, with `field` (the record's modification time, e.g. `updated_at`), the latest
value of that field among the records listed: the source's own clock, so a shop whose clock
differs from ours loses nothing (the usual datetime cursor). Without `field`, it is when the
run began, by our clock: that precedes every request the run sent. A change seen twice is
only compared again; unchanged rows are not rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from runner.db.engine import read_only
from runner.db.tables import sync_cursors
from runner.mapping import Invalid, to_datetime
from runner.paths import compile_path
from runner.spec.model import ChangedSinceSpec


class ChangedSince:
    """One run of a `changed_since` step for one account: `params` for the list's first
    request, `see` its records, `save` the mark once the run ended well."""

    def __init__(
        self,
        engine: Engine,
        spec: ChangedSinceSpec,
        *,
        user_id: str,
        account_id: str,
        sync_type: str,
        step: str,
        began: datetime,
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.key = {
            "user_id": user_id,
            "account_id": account_id,
            "sync_type": sync_type,
            "step": step,
        }
        self.began = began
        self.last = self._load()
        self.params = since_params(spec, self.last)
        self.latest: datetime | None = None  # the latest `field` value seen
        self._read = compile_path(spec.field) if spec.field else None

    def see(self, records: Iterable[Any]) -> None:
        """Note the latest modification time among these records (with `field`)."""
        read = self._read
        if read is None:
            return
        for record in records:
            value = read(record)
            try:
                when = None if value is None else to_datetime(value)
            except Invalid:
                continue  # an unreadable time neither moves the mark nor stops the list
            if when is not None and (self.latest is None or when > self.latest):
                self.latest = when

    @property
    def mark(self) -> datetime | None:
        """What `save` records: never earlier than the last mark."""
        if self._read is None:
            return self.began
        marks = [m for m in (self.latest, self.last) if m is not None]
        return max(marks) if marks else None

    def save(self, now: datetime) -> None:
        mark = self.mark
        if mark is None:
            return  # nothing listed yet: the next run lists everything again
        values = {"cursor_at": mark, "updated_at": now}
        with self.engine.begin() as conn:
            found = conn.execute(update(sync_cursors).where(*self._where()).values(values))
            if found.rowcount == 0:
                conn.execute(sync_cursors.insert().values({**self.key, **values}))

    def _where(self) -> list[Any]:
        return [sync_cursors.c[name] == value for name, value in self.key.items()]

    def _load(self) -> datetime | None:
        stmt = select(sync_cursors.c.cursor_at).where(*self._where())
        with self.engine.connect() as conn:
            return read_only(conn).execute(stmt).scalar_one_or_none()


def since_params(spec: ChangedSinceSpec, last: datetime | None) -> dict[str, str]:
    """The query parameter that narrows the list, or none without a previous run."""
    if last is None:
        return {}
    since = last - timedelta(seconds=spec.overlap_seconds)
    return {spec.param: since.strftime(spec.format)}
