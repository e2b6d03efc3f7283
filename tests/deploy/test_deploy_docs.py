"""docs/deploy.md names only files that exist, and its one-off recipe yields a valid Job."""

from __future__ import annotations

import re
import subprocess

import yaml
from deploy_support import ROOT, find

DOC = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_every_repository_path_in_the_guide_exists():
    paths = set(re.findall(r"`((?:k8s|scripts|specs|mappings|tests|docs)/[\w./-]*)", DOC))
    paths |= {"Dockerfile", ".dockerignore", ".yamllint.yaml", ".ci/deploy-checks"}
    assert paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert missing == []


def test_one_off_recipe_gives_a_valid_job(kubectl):
    """The guide's `render ... | sed s/PLACEHOLDER/$JOB_ID/g`, with a full id and a prefix."""
    assert f"s/{PLACEHOLDER}/$JOB_ID/g" in DOC
    rendered = subprocess.run(
        [
            kubectl,
            "kustomize",
            "--load-restrictor",
            "LoadRestrictionsNone",
            str(ROOT / "k8s/overlays/production/run-job"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for job_id in ("7c1f2a9e-0d4b-4a57-9a3e-1f0c2b9d8e77", "7c1f2a9e"):
        docs = [d for d in yaml.safe_load_all(rendered.replace(PLACEHOLDER, job_id)) if d]
        job = find(docs, "Job")
        name = job["metadata"]["name"]
        assert name == f"sync-runner-run-job-{job_id}"
        assert len(name) <= 63 and DNS_LABEL.match(name)
        container = job["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == ["run-job", job_id]
        assert "command" not in container
