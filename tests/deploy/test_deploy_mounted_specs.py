"""`sync-runner validate` on the specs exactly as a pod mounts them from the ConfigMaps."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from deploy_support import ROOT, find, render_overlay

SYNC_RUNNER = f"{sys.executable} -m runner"


def test_mounted_layout_is_the_repository_layout(rendered, policy, tmp_path):
    docs = rendered("cronjob")
    [mounted] = policy.materialize_mounts(docs, tmp_path)
    specs = mounted.host_path(mounted.env["SYNC_RUNNER_SPECS"])
    mappings = mounted.host_path(mounted.env["SYNC_RUNNER_MAPPINGS"])
    assert (specs / "runner.yaml").is_file()
    assert (specs / "suppliers" / "bigbuy.yaml").is_file()
    assert policy.compare_trees(specs, ROOT / "specs") == []
    assert policy.compare_trees(mappings, ROOT / "mappings") == []


def test_validate_passes_on_the_mounted_specs_of_every_workload(rendered, policy):
    for overlay in ("cronjob", "run-job", "scale-out"):
        out = io.StringIO()
        code = policy.validate_mounted(
            rendered(overlay),
            sync_runner=SYNC_RUNNER,
            same_as=(ROOT / "specs", ROOT / "mappings"),
            out=out,
        )
        assert code == 0, out.getvalue()
        assert "validate on the mounted specs: ok" in out.getvalue()


def test_a_broken_spec_mounted_through_the_config_map_fails_validate(kubectl, policy, project_copy):
    bigbuy = project_copy / "specs/suppliers/bigbuy.yaml"
    bigbuy.write_text(bigbuy.read_text().replace("type: bearer", "type: no-such-auth", 1))
    docs = render_overlay(kubectl, project_copy / "k8s/overlays/production/cronjob")
    out = io.StringIO()
    code = policy.validate_mounted(docs, sync_runner=SYNC_RUNNER, out=out)
    assert code == 2, out.getvalue()  # ExitCode.BAD_INPUT
    assert "suppliers/bigbuy.yaml" in out.getvalue()
    assert "no-such-auth" in out.getvalue()


def test_a_spec_file_left_out_of_the_config_map_is_reported(kubectl, policy, project_copy):
    extra = project_copy / "specs/suppliers/extra.yaml"
    extra.write_text((project_copy / "specs/suppliers/bigbuy.yaml").read_text())
    docs = render_overlay(kubectl, project_copy / "k8s/overlays/production/cronjob")
    out = io.StringIO()
    code = policy.validate_mounted(
        docs,
        sync_runner=SYNC_RUNNER,
        same_as=(project_copy / "specs", project_copy / "mappings"),
        out=out,
    )
    assert code == 1
    assert "extra.yaml: not in the ConfigMap" in out.getvalue()


def test_a_config_map_key_without_an_items_entry_is_not_mounted(rendered, policy, tmp_path):
    """What the kubelet does: a key left out of `items` is not in the volume at all."""
    docs = rendered("cronjob")
    volume = find(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]
    volume["configMap"]["items"] = [
        i for i in volume["configMap"]["items"] if "bigbuy" not in i["key"]
    ]
    [mounted] = policy.materialize_mounts(docs, tmp_path)
    specs = mounted.host_path(mounted.env["SYNC_RUNNER_SPECS"])
    assert not Path(specs / "suppliers" / "bigbuy.yaml").exists()
    assert any(
        "suppliers/bigbuy.yaml: not in the ConfigMap" in p
        for p in policy.compare_trees(specs, ROOT / "specs")
    )
