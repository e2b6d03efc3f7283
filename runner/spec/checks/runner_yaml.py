"""Checks of runner.yaml: queue timings, scoring rules, webhooks and schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.spec.checks.base import RUNNER_VARIABLES, Checker
from runner.templating import is_template

if TYPE_CHECKING:
    from runner.spec.load import Document, PathTuple


class RunnerChecks(Checker):
    def check_runner(self) -> None:
        doc = self.docs.runner
        if doc is None or doc.data is None:
            return
        data = doc.data
        queue = data.get("queue")
        if isinstance(queue, dict) and self.clean(doc, ("queue",)):
            lease = queue.get("lease_seconds", 300)
            heartbeat = queue.get("heartbeat_seconds", 60)
            if heartbeat * 3 > lease:
                self.add(
                    doc,
                    ("queue", "heartbeat_seconds"),
                    f"heartbeat_seconds ({heartbeat}) must be at most a third of "
                    f"lease_seconds ({lease}), so that a live job never loses its lease",
                )
            backoff = queue.get("backoff") or {}
            if backoff.get("base_seconds", 30) > backoff.get("max_seconds", 3600):
                self.add(
                    doc,
                    ("queue", "backoff", "base_seconds"),
                    "base_seconds must not exceed max_seconds",
                )
        scoring = data.get("scoring")
        if isinstance(scoring, dict) and isinstance(scoring.get("rules"), list):
            rules = scoring["rules"]
            self.unique(doc, ("scoring", "rules"), rules, "rule")
            for index, rule in enumerate(rules):
                path = ("scoring", "rules", index)
                if not self.clean(doc, path):
                    continue
                if "min" not in rule and "max" not in rule:
                    self.add(doc, path, "a rule needs min, max or both")
                elif rule.get("min", float("-inf")) >= rule.get("max", float("inf")):
                    self.add(doc, (*path, "max"), "max must be greater than min")
        webhooks = data.get("webhooks")
        if isinstance(webhooks, list):
            self.unique(doc, ("webhooks",), webhooks, "webhook")
            for index, hook in enumerate(webhooks):
                path = ("webhooks", index)
                if not self.clean(doc, path):
                    continue
                self.url(doc, (*path, "url"), hook["url"], RUNNER_VARIABLES)
                if is_template(hook["secret"]):
                    self.template(doc, (*path, "secret"), hook["secret"], RUNNER_VARIABLES)
                else:
                    self.add(
                        doc,
                        (*path, "secret"),
                        "secret must be a template naming where "
                        "it lives, e.g. '{{ env.SYNC_RUNNER_WEBHOOK_SECRET }}', never "
                        "the secret itself",
                    )
        schedules = data.get("schedules")
        if isinstance(schedules, list):
            self.unique(doc, ("schedules",), schedules, "schedule")
            for index, schedule in enumerate(schedules):
                path = ("schedules", index)
                if not self.clean(doc, path):
                    continue
                self.schedule(doc, path, schedule)

    def schedule(self, doc: Document, path: PathTuple, schedule: dict[str, Any]) -> None:
        """A schedule runs on a `cron` expression or `after` a sync type (then it chains a
        push after a supplier sync): exactly one of the two."""
        if ("cron" in schedule) == ("after" in schedule):
            self.add(doc, path, "a schedule needs exactly one of 'cron' or 'after'")
        if "cron" in schedule:
            self.cron(doc, (*path, "cron"), schedule["cron"])
        if not self.sync_types_readable:
            return
        known = self.reference(
            doc, (*path, "sync_type"), schedule["sync_type"], self.sync_types, "sync type"
        )
        if "after" not in schedule:
            return
        if known and not self.sync_types[schedule["sync_type"]].get("push"):
            self.add(
                doc,
                (*path, "sync_type"),
                f"sync type '{schedule['sync_type']}' is not a push: only a push can run "
                "'after' another sync type",
            )
        after = schedule["after"]
        known = self.reference(doc, (*path, "after"), after, self.sync_types, "sync type")
        if known and self.sync_types[after].get("source") != "supplier":
            self.add(
                doc,
                (*path, "after"),
                f"'after' must name a supplier sync type; '{after}' is not one",
            )

    def cron(self, doc: Document, path: PathTuple, expression: str) -> None:
        from croniter import croniter  # only here: validate must stay quick to import

        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            self.add(
                doc,
                path,
                f"{expression!r} is not a valid five-field cron expression "
                "(minute hour day-of-month month day-of-week)",
            )
