"""Small things an operator meets first: a mistyped command, the paths and ids in examples."""

from __future__ import annotations

from click.testing import CliRunner

from runner.cli import cli
from tests.ops.support import ROOT


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), prog_name="sync-runner")


def test_a_mistyped_command_gets_a_suggestion():
    result = invoke("ruun")
    assert result.exit_code == 2
    assert "No such command 'ruun'. Did you mean 'run'?" in result.output
    assert "Did you mean" not in invoke("frobnicate").output  # nothing close: no guess
    assert "Did you mean 'accounts'?" in invoke("acounts", "list").output


def test_examples_use_the_images_paths_and_real_job_ids():
    help_text = invoke("maintain", "--help").output
    assert "/etc/sync-runner/specs" in help_text and "/etc/syncrunner" not in help_text
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "run-job 42" not in dockerfile
    assert "run-job 7c1f2a9e-0d4b-4a57-9a3e-1f0c2b9d8e77" in dockerfile


def test_run_job_keeps_the_old_flag_as_a_documented_no_op():
    help_text = " ".join(invoke("run-job", "--help").output.split())
    assert "--fail-on-job-error No effect, kept for old scripts" in help_text
    assert "1 the attempt failed" in help_text
