"""The Kubernetes manifests: every overlay renders, passes the strict schemas of the oldest
Kubernetes we support and our policy checks; and each check catches a planted error."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from deploy_support import MIN_VERSION, OVERLAYS, ROOT, find, render_overlay, require_tool

Docs = list[dict[str, Any]]


def cron_pod(docs: Docs) -> dict[str, Any]:
    return find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def cron_job(docs: Docs) -> dict[str, Any]:
    return find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]


def schema_errors(docs: Docs, version: str = MIN_VERSION) -> list[str]:
    import kubernetes_validate

    errors = []
    for doc in docs:
        if doc["apiVersion"].startswith("keda.sh/"):
            continue  # a CRD: no schema (the policy validates its JobSpec)
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}: {exc.message}")
    return errors


@pytest.fixture(scope="module")
def validator():
    require_tool("kubernetes-validate")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders_and_passes_schema_and_policy(overlay, rendered, policy, validator):
    docs = rendered(overlay)
    kinds = {d["kind"] for d in docs}
    assert {"ConfigMap"} <= kinds
    assert schema_errors(docs) == []
    assert schema_errors(docs, "1.37.0") == []
    assert policy.check_manifests(docs, min_version=MIN_VERSION) == []


def test_overlays_share_one_image_namespace_and_specs(rendered):
    """The one settings file of the environment reaches every workload."""
    seen = set()
    for overlay in OVERLAYS:
        for doc in rendered(overlay):
            assert doc["metadata"].get("namespace") == "sync-runner", doc["metadata"]["name"]
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith(
                "sync-runner-specs"
            ):
                seen.add(doc["metadata"]["name"])  # same content -> same hashed name
    assert len(seen) == 1
    assert "registry.example.com/shop/sync-runner:0.1.0" in yaml.safe_dump_all(rendered("migrate"))


def test_spec_change_rolls_out_as_a_new_config_map(kubectl, project_copy):
    """configMapGenerator: changing one spec file changes the ConfigMap name in the CronJob."""
    overlay = project_copy / "k8s/overlays/production/cronjob"
    before = cron_pod(render_overlay(kubectl, overlay))["volumes"][0]["configMap"]["name"]
    runner_yaml = project_copy / "specs/runner.yaml"
    runner_yaml.write_text(runner_yaml.read_text() + "# a change\n")
    after = cron_pod(render_overlay(kubectl, overlay))["volumes"][0]["configMap"]["name"]
    assert before.startswith("sync-runner-specs-") and after.startswith("sync-runner-specs-")
    assert before != after


def test_restart_policy_always_fails_our_policy_though_the_schema_allows_it(
    rendered, policy, validator
):
    docs = rendered("cronjob")
    cron_pod(docs)["restartPolicy"] = "Always"
    # the schema knows no such rule (the API server does): our policy must catch it
    assert schema_errors(docs) == []
    problems = policy.check_manifests(docs)
    assert any("restartPolicy must be Never" in p for p in problems), problems


def _set(path: str, value: Any) -> Callable[[Docs], None]:
    """A mutation of the CronJob: path is dotted from the pod spec (pod.), job spec (job.)
    or CronJob spec (cron.)."""

    def mutate(docs: Docs) -> None:
        scope, *keys = path.split(".")
        node = {
            "pod": cron_pod(docs),
            "job": cron_job(docs),
            "cron": find(docs, "CronJob")["spec"],
        }[scope]
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value

    return mutate


PLANTED = [
    (
        "command",
        _set("pod.containers.0.command", ["sync-runner", "run"]),
        "use args, never command",
    ),
    (
        "no FailJob on 2",
        _set("job.podFailurePolicy.rules.0.onExitCodes.values", [1]),
        "exit code 2",
    ),
    (
        "no DisruptionTarget",
        _set(
            "job.podFailurePolicy.rules",
            [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [2]}}],
        ),
        "DisruptionTarget",
    ),
    ("deadline >= interval", _set("job.activeDeadlineSeconds", 900), "shorter than the schedule"),
    (
        "runtime beyond deadline",
        _set("pod.containers.0.args", ["run", "--max-runtime", "840"]),
        "must fit in",
    ),
    ("no max-runtime", _set("pod.containers.0.args", ["run"]), "--max-runtime"),
    ("SIGKILL before hand-back", _set("pod.terminationGracePeriodSeconds", 20), "--grace-seconds"),
    ("root user", _set("pod.securityContext.runAsUser", 0), "runAsUser must be 10001"),
    ("non-root off", _set("pod.securityContext.runAsNonRoot", KeyError), "runAsNonRoot"),
    ("no seccomp", _set("pod.securityContext.seccompProfile", KeyError), "RuntimeDefault"),
    (
        "writable root",
        _set("pod.containers.0.securityContext.readOnlyRootFilesystem", False),
        "readOnlyRootFilesystem",
    ),
    (
        "capabilities kept",
        _set("pod.containers.0.securityContext.capabilities.drop", []),
        "drop must contain ALL",
    ),
    (
        "escalation",
        _set("pod.containers.0.securityContext.allowPrivilegeEscalation", True),
        "allowPrivilegeEscalation",
    ),
    (
        "token mounted",
        _set("pod.automountServiceAccountToken", True),
        "automountServiceAccountToken",
    ),
    ("no limits", _set("pod.containers.0.resources", {"requests": {"cpu": "1"}}), "resources."),
    ("no /tmp", _set("pod.containers.0.volumeMounts", []), "emptyDir mounted on /tmp"),
    (
        "secret in env",
        _set("pod.containers.0.env", [{"name": "DATABASE_URL", "value": "postgresql://u:p@h/d"}]),
        "looks secret",
    ),
    ("no secretRef", _set("pod.containers.0.envFrom", []), "secretRef"),
    ("allow overlap", _set("cron.concurrencyPolicy", "Allow"), "Forbid"),
    (
        "no starting deadline",
        _set("cron.startingDeadlineSeconds", KeyError),
        "startingDeadlineSeconds",
    ),
    ("no time zone", _set("cron.timeZone", KeyError), "timeZone"),
    ("bad cron", _set("cron.schedule", "every 15 minutes"), "not a valid cron"),
    ("many retries", _set("job.backoffLimit", 6), "backoffLimit"),
    (
        "spec not mounted",
        _set("pod.volumes.0.configMap.items", [{"key": "runner.yaml", "path": "runner.yaml"}]),
        "is not mounted",
    ),
]


@pytest.mark.parametrize(("name", "mutate", "expected"), PLANTED, ids=[p[0] for p in PLANTED])
def test_policy_catches_planted_error(name, mutate, expected, rendered, policy):
    docs = rendered("cronjob")
    assert policy.check_manifests(docs) == []
    mutate(docs)
    problems = policy.check_manifests(docs)
    assert any(expected in p for p in problems), (name, problems)


def test_policy_rejects_a_secret_in_a_render(rendered, policy):
    docs = rendered("cronjob")
    docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}, "stringData": {}})
    assert any("must not contain Secrets" in p for p in policy.check_manifests(docs))


def test_scaledjob_job_spec_is_validated_strictly(rendered, policy, validator):
    """kubernetes-validate has no schema for KEDA: the policy checks its JobSpec itself."""
    docs = rendered("scale-out")
    scaled = find(docs, "ScaledJob")["spec"]
    scaled["jobTargetRef"]["backofLimit"] = 1  # typo
    problems = policy.check_manifests(docs)
    assert any("jobTargetRef is not a valid JobSpec" in p for p in problems), problems


def test_scaledjob_must_count_due_unclaimed_jobs(rendered, policy, validator):
    docs = rendered("scale-out")
    find(docs, "ScaledJob")["spec"]["triggers"][0]["metadata"]["query"] = (
        "SELECT COUNT(*) FROM import_jobs"
    )
    problems = policy.check_manifests(docs)
    assert any("status = 'pending'" in p for p in problems), problems


def test_kubernetes_validate_strict_catches_typos_and_types(tmp_path, rendered):
    tool = require_tool("kubernetes-validate")
    docs = rendered("cronjob")
    cron = find(docs, "CronJob")["spec"]
    cron["concurencyPolicy"] = cron.pop("concurrencyPolicy")  # typo
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    result = subprocess.run(
        [tool, "--strict", "-k", MIN_VERSION, "--quiet", str(path)], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stdout
    assert "concurencyPolicy" in result.stdout + result.stderr

    docs = rendered("cronjob")
    cron_job(docs)["backoffLimit"] = "two"
    assert schema_errors(docs)


def test_oldest_version_needs_an_explicit_condition_status(rendered, validator):
    """Kubernetes 1.29-1.33 require `status` in onPodConditions: we validate against 1.29."""
    docs = rendered("cronjob")
    del cron_job(docs)["podFailurePolicy"]["rules"][1]["onPodConditions"][0]["status"]
    assert schema_errors(docs, "1.37.0") == []
    assert schema_errors(docs, MIN_VERSION)


def test_example_secret_holds_placeholders_only(policy, tmp_path):
    docs = policy.load_documents([ROOT / "k8s/secret.example.yaml"])
    assert policy.check_example_secret(docs) == []
    docs[0]["stringData"]["DATABASE_URL"] = "postgresql://app:hunter2@db:5432/shop"
    assert any("placeholder" in p for p in policy.check_example_secret(docs))


def test_schedule_interval(policy):
    assert policy.schedule_interval("*/15 * * * *", "Etc/UTC") == 900
    assert policy.schedule_interval("0 2 * * *", "Etc/UTC") == 86400
    assert policy.schedule_interval("0 9,17 * * 1-5", "Europe/Madrid") == 8 * 3600
    assert policy.schedule_interval("every 15 minutes", "Etc/UTC") is None


def test_a_failed_one_off_job_fails_the_kubernetes_job(rendered):
    """`run-job` exits 1 when its job failed: the Job fails at once, no second pod runs it
    (the queue owns retries), so `kubectl wait --for=condition=complete` fails."""
    job = find(rendered("run-job"), "Job")["spec"]
    fail_codes = {
        code
        for rule in job["podFailurePolicy"]["rules"]
        if rule["action"] == "FailJob"
        for code in rule["onExitCodes"]["values"]
    }
    assert {1, 2} <= fail_codes
