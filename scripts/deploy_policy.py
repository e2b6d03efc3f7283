"""Our own checks of the deployment files, for what offline validators cannot see.

kubernetes-validate checks rendered manifests against the OpenAPI schemas, but the rules that
the API server applies (a Job's pods must not restart, exit code 2 must fail the Job at once,
...) and our own conventions (restricted security context, `args` never `command`, a specs
ConfigMap mounted with every key) are not in any schema. This module checks them, and lays
the specs out as the pods mount them so that `sync-runner validate` can read them there.

    python scripts/deploy_policy.py manifests RENDERED.yaml... [--min-version 1.29.0]
    python scripts/deploy_policy.py example-secret k8s/secret.example.yaml
    python scripts/deploy_policy.py dockerfile Dockerfile
    python scripts/deploy_policy.py mounted-specs RENDERED.yaml [--same-as specs mappings]

Each prints one line per problem and exits 1 if there is any (`mounted-specs` exits with the
first failing `sync-runner validate` exit code). Used by .ci/deploy-checks and tests/deploy.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

CONTAINER = "sync-runner"
RUN_AS_USER = 10001
MAX_BACKOFF_LIMIT = 3
WORKER_GRACE_SECONDS = 25  # `run` / `run-job` --grace-seconds default
PLACEHOLDER = "CHANGE-ME"
# The KEDA trigger must count exactly what `run` may claim next: due, unclaimed jobs.
QUEUE_QUERY_PARTS = ("import_jobs", "status = 'pending'", "scheduled_at <= now()")


@dataclass
class Workload:
    """One pod template of a rendered manifest, with the Job spec around it."""

    where: str  # e.g. "CronJob/sync-runner"
    kind: str
    job_spec: dict[str, Any]
    pod_spec: dict[str, Any]
    resource: dict[str, Any]


def load_documents(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in paths:
        text = Path(path).read_text(encoding="utf-8")
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def workloads(docs: Iterable[dict[str, Any]]) -> Iterator[Workload]:
    for doc in docs:
        kind = doc.get("kind")
        where = f"{kind}/{doc.get('metadata', {}).get('name')}"
        spec = doc.get("spec") or {}
        if kind == "CronJob":
            job_spec = spec.get("jobTemplate", {}).get("spec", {})
        elif kind == "Job":
            job_spec = spec
        elif kind == "ScaledJob":
            job_spec = spec.get("jobTargetRef", {})
        else:
            continue
        pod_spec = job_spec.get("template", {}).get("spec", {})
        yield Workload(where, kind, job_spec, pod_spec, doc)


# ---------------------------------------------------------------------------------------------
# Manifests


def check_manifests(docs: list[dict[str, Any]], *, min_version: str = "1.29.0") -> list[str]:
    """Every policy problem of a rendered overlay, one readable line each."""
    problems: list[str] = []
    config_maps = {
        d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap" and "metadata" in d
    }
    for doc in docs:
        if doc.get("kind") == "Secret":
            name = doc.get("metadata", {}).get("name")
            problems.append(
                f"Secret/{name}: a rendered overlay must not contain Secrets; create them "
                "outside git (see k8s/secret.example.yaml)"
            )
    found = False
    for workload in workloads(docs):
        found = True
        problems += check_job(workload)
        problems += check_pod(workload, config_maps)
        if workload.kind == "CronJob":
            problems += check_cronjob(workload)
        if workload.kind == "ScaledJob":
            problems += check_scaledjob(workload, min_version)
    if not found:
        problems.append("no CronJob, Job or ScaledJob found in the rendered manifests")
    return problems


def check_job(w: Workload) -> list[str]:
    p: list[str] = []
    job = w.job_spec
    backoff = job.get("backoffLimit")
    if not isinstance(backoff, int) or backoff > MAX_BACKOFF_LIMIT:
        p.append(
            f"{w.where}: backoffLimit must be set to at most {MAX_BACKOFF_LIMIT} (got {backoff})"
        )
    if not isinstance(job.get("activeDeadlineSeconds"), int):
        p.append(f"{w.where}: activeDeadlineSeconds must be set")
    rules = (job.get("podFailurePolicy") or {}).get("rules") or []
    fails_on_2 = any(
        r.get("action") == "FailJob"
        and (r.get("onExitCodes") or {}).get("operator") == "In"
        and 2 in ((r.get("onExitCodes") or {}).get("values") or [])
        for r in rules
    )
    if not fails_on_2:
        p.append(f"{w.where}: podFailurePolicy needs a FailJob rule for exit code 2 (bad spec)")
    ignores_disruption = any(
        r.get("action") == "Ignore"
        and any(
            c.get("type") == "DisruptionTarget" and c.get("status") == "True"
            for c in r.get("onPodConditions") or []
        )
        for r in rules
    )
    if not ignores_disruption:
        p.append(
            f"{w.where}: podFailurePolicy needs an Ignore rule for DisruptionTarget "
            '(with status: "True")'
        )
    return p


def check_pod(w: Workload, config_maps: dict[str, dict[str, Any]]) -> list[str]:
    p: list[str] = []
    pod = w.pod_spec
    if pod.get("restartPolicy") != "Never":
        p.append(
            f"{w.where}: restartPolicy must be Never (got {pod.get('restartPolicy')!r}); a Job's "
            "pods may not be Always, and podFailurePolicy needs Never"
        )
    if pod.get("automountServiceAccountToken") is not False:
        p.append(f"{w.where}: automountServiceAccountToken must be false")
    sc = pod.get("securityContext") or {}
    if sc.get("runAsNonRoot") is not True:
        p.append(f"{w.where}: securityContext.runAsNonRoot must be true")
    if sc.get("runAsUser") != RUN_AS_USER:
        p.append(f"{w.where}: securityContext.runAsUser must be {RUN_AS_USER} (numeric, non-root)")
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        p.append(f"{w.where}: securityContext.seccompProfile.type must be RuntimeDefault")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    containers = pod.get("containers") or []
    if [c.get("name") for c in containers] != [CONTAINER]:
        p.append(f"{w.where}: expected exactly one container named {CONTAINER}")
    for c in containers + (pod.get("initContainers") or []):
        grace = pod.get("terminationGracePeriodSeconds", 30)
        p += check_container(w.where, c, volumes, grace)
    for volume in volumes.values():
        p += check_config_map_volume(w.where, volume, config_maps)
    return p


def check_container(
    where: str, c: dict[str, Any], volumes: dict[str, Any], pod_grace: int = 30
) -> list[str]:
    p: list[str] = []
    where = f"{where} container {c.get('name')}"
    if "command" in c:
        p.append(f"{where}: use args, never command (command replaces the image ENTRYPOINT)")
    if not c.get("args"):
        p.append(f"{where}: args must name the sync-runner command (run, run-job, db upgrade)")
    image = str(c.get("image", ""))
    if image.endswith(":latest"):
        p.append(f"{where}: pin the image, not :latest")
    sc = c.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        p.append(f"{where}: securityContext.allowPrivilegeEscalation must be false")
    if sc.get("privileged"):
        p.append(f"{where}: must not be privileged")
    if sc.get("readOnlyRootFilesystem") is not True:
        p.append(f"{where}: securityContext.readOnlyRootFilesystem must be true")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        p.append(f"{where}: securityContext.capabilities.drop must contain ALL")
    if (sc.get("capabilities") or {}).get("add"):
        p.append(f"{where}: must not add capabilities")
    if "runAsUser" in sc and sc["runAsUser"] in (0, "0"):
        p.append(f"{where}: must not run as root")
    resources = c.get("resources") or {}
    for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
        if key not in (resources.get(section) or {}):
            p.append(f"{where}: resources.{section}.{key} must be set")
    tmp = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
    if not tmp or "emptyDir" not in volumes.get(tmp[0].get("name"), {}):
        p.append(f"{where}: needs an emptyDir mounted on /tmp (the root filesystem is read-only)")
    args = [str(a) for a in c.get("args") or []]
    if args[:1] in (["run"], ["run-job"]):
        # the worker's own deadline for handing a job back after SIGTERM must end before the
        # kubelet's SIGKILL
        grace = float(option_value(args, "--grace-seconds") or WORKER_GRACE_SECONDS)
        if grace + 5 > pod_grace:
            p.append(
                f"{where}: --grace-seconds {grace:g} + 5 must not exceed "
                f"terminationGracePeriodSeconds {pod_grace}"
            )
    if not any("secretRef" in e for e in c.get("envFrom") or []):
        p.append(f"{where}: secrets come through envFrom a secretRef (DATABASE_URL)")
    for env in c.get("env") or []:
        if "value" in env and re.search(r"PASSWORD|TOKEN|SECRET|DATABASE_URL|KEY", env["name"]):
            p.append(f"{where}: env {env['name']} looks secret: take it from the Secret instead")
    return p


def check_config_map_volume(
    where: str, volume: dict[str, Any], config_maps: dict[str, dict[str, Any]]
) -> list[str]:
    source = volume.get("configMap")
    if source is None:
        return []
    name = source.get("name")
    cm = config_maps.get(name)
    if cm is None:
        return [f"{where}: volume {volume.get('name')} mounts ConfigMap {name}, not in the render"]
    keys = set(cm.get("data") or {}) | set(cm.get("binaryData") or {})
    items = source.get("items")
    if items is None:
        return []
    listed = {i.get("key") for i in items}
    p = [
        f"{where}: volume {volume.get('name')}: key {key} of ConfigMap {name} is not mounted "
        "(add it to the volume's items)"
        for key in sorted(keys - listed)
    ]
    p += [
        f"{where}: volume {volume.get('name')}: items name key {key}, which ConfigMap {name} "
        "does not have"
        for key in sorted(listed - keys)
    ]
    return p


def check_cronjob(w: Workload) -> list[str]:
    p: list[str] = []
    spec = w.resource.get("spec") or {}
    if spec.get("concurrencyPolicy") != "Forbid":
        p.append(f"{w.where}: concurrencyPolicy must be Forbid")
    deadline = spec.get("startingDeadlineSeconds")
    if not isinstance(deadline, int) or deadline < 10:
        p.append(f"{w.where}: startingDeadlineSeconds must be set, at least 10")
    if not spec.get("timeZone"):
        p.append(f"{w.where}: timeZone must be set")
    for key in ("successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if not isinstance(spec.get(key), int):
            p.append(f"{w.where}: {key} must be set")
    if len(w.resource.get("metadata", {}).get("name", "")) > 52:
        p.append(f"{w.where}: a CronJob name has at most 52 characters")
    interval = schedule_interval(spec.get("schedule", ""), spec.get("timeZone") or "Etc/UTC")
    active = w.job_spec.get("activeDeadlineSeconds")
    if interval is None:
        p.append(f"{w.where}: schedule {spec.get('schedule')!r} is not a valid cron expression")
    elif isinstance(active, int) and active >= interval:
        p.append(
            f"{w.where}: activeDeadlineSeconds ({active}) must be shorter than the schedule "
            f"interval ({interval} s)"
        )
    p += check_max_runtime(w)
    return p


def check_max_runtime(w: Workload) -> list[str]:
    """`run` limits itself with --max-runtime, inside activeDeadlineSeconds with room for the
    grace period, so that it stops at a job boundary before Kubernetes kills it."""
    container = next(iter(w.pod_spec.get("containers") or []), {})
    args = [str(a) for a in container.get("args") or []]
    if not args or args[0] != "run":
        return [f"{w.where}: the container must run `run` (args[0]), got {args[:1]}"]
    runtime = option_value(args, "--max-runtime")
    if runtime is None or not runtime.isdigit():
        return [f"{w.where}: `run` needs --max-runtime SECONDS inside activeDeadlineSeconds"]
    active = w.job_spec.get("activeDeadlineSeconds") or 0
    grace = w.pod_spec.get("terminationGracePeriodSeconds", 30)
    if int(runtime) + grace > active:
        return [
            f"{w.where}: --max-runtime {runtime} + terminationGracePeriodSeconds {grace} must "
            f"fit in activeDeadlineSeconds {active}"
        ]
    return []


def option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def schedule_interval(schedule: str, time_zone: str) -> int | None:
    """The shortest gap in seconds between two runs of a cron schedule."""
    from croniter import croniter

    if not croniter.is_valid(schedule):
        return None
    start = datetime(2025, 1, 1, tzinfo=ZoneInfo(time_zone))
    it = croniter(schedule, start)
    previous = it.get_next(datetime)
    shortest = None
    for _ in range(500):  # enough firings to see the shortest gap of any usual schedule
        current = it.get_next(datetime)
        # aware datetimes of one zone subtract as wall-clock times: compare in UTC
        gap = int((current.astimezone(UTC) - previous.astimezone(UTC)).total_seconds())
        if gap > 0:
            shortest = gap if shortest is None else min(shortest, gap)
        previous = current
    return shortest


def check_scaledjob(w: Workload, min_version: str) -> list[str]:
    p: list[str] = []
    spec = w.resource.get("spec") or {}
    # kubernetes-validate only warns on a CRD; its jobTargetRef is a batch/v1 JobSpec, so
    # validate it as one (strict: unknown fields are errors).
    import kubernetes_validate

    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"}, "spec": w.job_spec}
    try:
        kubernetes_validate.validate(job, min_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        p.append(f"{w.where}: jobTargetRef is not a valid JobSpec at {path}: {exc.message}")
    container = next(iter(w.pod_spec.get("containers") or []), {})
    args = [str(a) for a in container.get("args") or []]
    if args[:1] != ["run"] or option_value(args, "--max-jobs") is None:
        p.append(f"{w.where}: drainers run `run --max-jobs N --max-runtime S`")
    p += check_max_runtime(w)
    triggers = [t for t in spec.get("triggers") or [] if t.get("type") == "postgresql"]
    if not triggers:
        p.append(f"{w.where}: needs a postgresql trigger")
    for trigger in triggers:
        query = " ".join(str(trigger.get("metadata", {}).get("query", "")).lower().split())
        for part in QUEUE_QUERY_PARTS:
            if part not in query:
                p.append(f"{w.where}: the trigger query must count due, unclaimed jobs ({part})")
        if not trigger.get("authenticationRef"):
            p.append(f"{w.where}: the trigger must take its connection from authenticationRef")
    for key in ("maxReplicaCount", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
        if not isinstance(spec.get(key), int):
            p.append(f"{w.where}: {key} must be set")
    return p


def check_example_secret(docs: list[dict[str, Any]]) -> list[str]:
    """An example Secret holds placeholders only: every value contains CHANGE-ME."""
    p: list[str] = []
    for doc in docs:
        if doc.get("kind") != "Secret":
            continue
        where = f"Secret/{doc.get('metadata', {}).get('name')}"
        if doc.get("data"):
            p.append(f"{where}: an example uses stringData with placeholders, not data")
        for key, value in (doc.get("stringData") or {}).items():
            if PLACEHOLDER not in str(value):
                p.append(f"{where}: {key} must be a placeholder containing {PLACEHOLDER}")
    return p


# ---------------------------------------------------------------------------------------------
# Dockerfile


def check_dockerfile(text: str) -> list[str]:
    """What hadolint does not check, or only warns about: a numeric non-root final user, the
    exec-form entry point, the Python environment and the OCI labels."""
    p: list[str] = []
    lines = _dockerfile_instructions(text)
    froms = [i for i, (op, _) in enumerate(lines) if op == "FROM"]
    if not froms:
        return ["Dockerfile: no FROM"]
    head = lines[: froms[0]]
    if not any(op == "ARG" and arg.startswith("PYTHON_IMAGE=") for op, arg in head):
        p.append("Dockerfile: ARG PYTHON_IMAGE=<slim python image> must come before the first FROM")
    if len(froms) < 2:
        p.append("Dockerfile: must be multi-stage (build a wheel, install it in a slim runtime)")
    final = lines[froms[-1] :]
    users = [arg for op, arg in final if op == "USER"]
    if not users:
        p.append("Dockerfile: the final stage must set USER (numeric, non-root)")
    else:
        user = users[-1].split(":")[0]
        if not user.isdigit():
            p.append(f"Dockerfile: USER {users[-1]} must be numeric (the kubelet checks non-root)")
        elif int(user) == 0:
            p.append("Dockerfile: the final USER must not be root (0)")
    entry = [arg for op, arg in final if op == "ENTRYPOINT"]
    if not entry or entry[-1].replace(" ", "") != '["sync-runner"]':
        p.append('Dockerfile: ENTRYPOINT must be exec form ["sync-runner"]')
    cmd = [arg for op, arg in final if op == "CMD"]
    if not cmd or not cmd[-1].startswith("["):
        p.append('Dockerfile: CMD must be exec form (["run"])')
    env = " ".join(arg for op, arg in final if op == "ENV")
    for name in ("PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"):
        if name not in env:
            p.append(f"Dockerfile: the runtime stage must set ENV {name}")
    labels = " ".join(arg for op, arg in final if op == "LABEL")
    for key in ("title", "version", "revision", "source"):
        if f"org.opencontainers.image.{key}=" not in labels:
            p.append(f"Dockerfile: missing OCI label org.opencontainers.image.{key}")
    return p


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        op, _, arg = current.strip().partition(" ")
        instructions.append((op.upper(), " ".join(arg.split())))
        current = ""
    return instructions


# ---------------------------------------------------------------------------------------------
# Specs as mounted


@dataclass
class MountedSpecs:
    where: str
    root: Path  # the pod's filesystem, re-rooted here
    env: dict[str, str]  # SYNC_RUNNER_SPECS / SYNC_RUNNER_MAPPINGS as the pod sees them

    def host_path(self, pod_path: str) -> Path:
        return self.root / pod_path.lstrip("/")


def materialize_mounts(docs: list[dict[str, Any]], dest: Path) -> list[MountedSpecs]:
    """Write the ConfigMap volumes of every workload that mounts specs, as the kubelet would
    lay them out, under dest/<n>/. Workloads without a specs mount are skipped."""
    config_maps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    mounted: list[MountedSpecs] = []
    for n, w in enumerate(workloads(docs)):
        container = next(iter(w.pod_spec.get("containers") or []), {})
        env = {e["name"]: e.get("value", "") for e in container.get("env") or [] if "name" in e}
        if "SYNC_RUNNER_SPECS" not in env:
            continue
        root = dest / str(n)
        volumes = {v.get("name"): v for v in w.pod_spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            source = volumes.get(mount.get("name"), {}).get("configMap")
            if source is None:
                continue
            data = (config_maps.get(source.get("name")) or {}).get("data") or {}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] not in data:
                    continue
                target = root / mount["mountPath"].lstrip("/") / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(data[item["key"]], encoding="utf-8")
        mounted.append(MountedSpecs(w.where, root, env))
    return mounted


def compare_trees(mounted: Path, repo: Path) -> list[str]:
    """Files that differ between a mounted folder and the repository folder it comes from."""

    def files(folder: Path) -> dict[str, bytes]:
        return {
            str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in (".yaml", ".yml")
        }

    got, want = files(mounted), files(repo)
    p = [
        f"{repo / name}: not in the ConfigMap (add it to k8s/config)"
        for name in want.keys() - got.keys()
    ]
    p += [f"{mounted / name}: mounted but not in {repo}" for name in got.keys() - want.keys()]
    p += [
        f"{repo / name}: differs from the mounted copy"
        for name in want.keys() & got.keys()
        if want[name] != got[name]
    ]
    return sorted(p)


def validate_mounted(
    docs: list[dict[str, Any]],
    *,
    sync_runner: str = "sync-runner",
    same_as: tuple[Path, Path] | None = None,
    out=sys.stdout,
) -> int:
    """Run `sync-runner validate` on the specs of every workload, as its pod mounts them.
    Returns 0, or the first non-zero exit code (2 for a bad spec), or 1 for a layout problem."""
    with tempfile.TemporaryDirectory(prefix="mounted-specs-") as tmp:
        mounted = materialize_mounts(docs, Path(tmp))
        if not mounted:
            print("no workload mounts specs (SYNC_RUNNER_SPECS)", file=out)
            return 1
        worst = 0
        for m in mounted:
            specs = m.host_path(m.env["SYNC_RUNNER_SPECS"])
            mappings = m.host_path(m.env.get("SYNC_RUNNER_MAPPINGS", "/etc/sync-runner/mappings"))
            if same_as is not None:
                problems = compare_trees(specs, same_as[0]) + compare_trees(mappings, same_as[1])
                for problem in problems:
                    print(f"{m.where}: {problem}", file=out)
                if problems:
                    worst = worst or 1
            env = {
                **os.environ,
                "SYNC_RUNNER_SPECS": str(specs),
                "SYNC_RUNNER_MAPPINGS": str(mappings),
            }
            cmd = [*shlex.split(sync_runner), "validate"]
            result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            status = "ok" if result.returncode == 0 else f"FAILED (exit {result.returncode})"
            print(f"{m.where}: sync-runner validate on the mounted specs: {status}", file=out)
            if result.returncode != 0:
                print((result.stdout + result.stderr).rstrip(), file=out)
                worst = worst or result.returncode
        return worst


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    manifests = sub.add_parser("manifests", help="policy checks of rendered manifests")
    manifests.add_argument("files", nargs="+", type=Path)
    manifests.add_argument("--min-version", default="1.29.0")
    secret = sub.add_parser("example-secret", help="an example Secret holds placeholders only")
    secret.add_argument("files", nargs="+", type=Path)
    dockerfile = sub.add_parser("dockerfile", help="checks hadolint does not make")
    dockerfile.add_argument("file", type=Path)
    mounted = sub.add_parser("mounted-specs", help="sync-runner validate on the mounted specs")
    mounted.add_argument("files", nargs="+", type=Path)
    mounted.add_argument("--sync-runner", default="sync-runner")
    mounted.add_argument("--same-as", nargs=2, type=Path, metavar=("SPECS", "MAPPINGS"))
    args = parser.parse_args(argv)

    if args.command == "mounted-specs":
        same_as = tuple(args.same_as) if args.same_as else None
        return validate_mounted(
            load_documents(args.files), sync_runner=args.sync_runner, same_as=same_as
        )
    if args.command == "manifests":
        problems = check_manifests(load_documents(args.files), min_version=args.min_version)
    elif args.command == "example-secret":
        problems = check_example_secret(load_documents(args.files))
    else:
        problems = check_dockerfile(args.file.read_text(encoding="utf-8"))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
