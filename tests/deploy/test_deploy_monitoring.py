"""The Grafana dashboard and the Prometheus alert rules of k8s/monitoring: well formed, about
the metrics a run really pushes, covering the alerts an operator needs; and, where promtool
is installed (Debian's `prometheus` package; CI installs it), checked and unit-tested by it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
import yaml
from deploy_support import ROOT

from runner.metrics import RunSummary, build_registry
from runner.queue_depth import QueueDepth

MONITORING = ROOT / "k8s" / "monitoring"
DASHBOARD = json.loads((MONITORING / "dashboard.json").read_text(encoding="utf-8"))
RULES = yaml.safe_load((MONITORING / "alerts.yaml").read_text(encoding="utf-8"))
METRIC = re.compile(r"\bsyncrunner_[a-z_]+")


def pushed_metrics() -> set[str]:
    """Every metric name a run pushes (a run that succeeded, with a queue)."""
    summary = RunSummary(started_at=0.0)
    summary.count_job("completed", {"inserted": 1}, sync_type="supplier_api", supplier="bigbuy")
    summary.queue = [QueueDepth("supplier_api", "bigbuy", 1, 0, 5.0, 1, 9.0)]
    summary.finish(success=True, at=1.0)
    return {metric.name for metric in build_registry(summary).collect()}


def exprs_of_dashboard() -> list[str]:
    return [t["expr"] for p in DASHBOARD["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_well_formed():
    assert DASHBOARD["uid"] and DASHBOARD["title"] and DASHBOARD["schemaVersion"] >= 36
    ids = [panel["id"] for panel in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in DASHBOARD["templating"]["list"]}
    assert {"datasource", "sync_type", "supplier"} <= variables
    for panel in DASHBOARD["panels"]:
        assert panel["type"] in {"stat", "timeseries"}, panel["title"]
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
    for expr in exprs_of_dashboard():
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        for used in re.findall(r"\$(\w+)", expr):
            assert used in variables, expr


def test_the_dashboard_and_the_alerts_read_only_pushed_metrics():
    pushed = pushed_metrics()
    used = set()
    for expr in exprs_of_dashboard() + [r["expr"] for g in RULES["groups"] for r in g["rules"]]:
        used |= set(METRIC.findall(expr))
    assert used - pushed == set()
    # every pushed metric is on the dashboard
    on_dashboard = {m for e in exprs_of_dashboard() for m in METRIC.findall(e)}
    assert pushed - on_dashboard == set()


def test_the_alerts_cover_what_an_operator_needs():
    rules = {r["alert"]: r for g in RULES["groups"] for r in g["rules"]}
    for name in (
        "SyncRunnerNoSuccessfulRun",  # no successful run for 2 intervals
        "SyncRunnerQueueLagGrowing",  # growing oldest-due age
        "SyncRunnerJobFailureRate",  # a failure rate
        "SyncRunnerLongWait",  # a budget (or rate-limit) wait longer than a day
    ):
        rule = rules[name]
        assert re.fullmatch(r"\d+[smhd]", rule["for"]), name
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert "2 * 900" in rules["SyncRunnerNoSuccessfulRun"]["expr"]
    assert "86400" in rules["SyncRunnerLongWait"]["expr"]


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install prometheus); structure checked above")
    return path


@pytest.mark.parametrize(
    "command", [["check", "rules", "alerts.yaml"], ["test", "rules", "alerts.test.yaml"]]
)
def test_promtool_checks_and_unit_tests_the_rules(command):
    result = subprocess.run(
        [promtool(), *command], cwd=MONITORING, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
