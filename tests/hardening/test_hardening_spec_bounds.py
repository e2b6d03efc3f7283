"""YAML alias bombs, recursive aliases and oversized spec files, through the real CLI.

A 300-byte spec with nine levels of aliases expands to 387 million nodes. The loader walks
the composed node graph once, each node's expanded size memoised, and refuses the file
before building anything: `validate` (and `run`, which loads the specs first) exits 2 with a
located error in well under a second, under a 1 GB address-space limit, at a peak memory
of a plain `validate`. A spec file over 1 MiB is refused unread.
"""

from __future__ import annotations

import itertools
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner.errors import SpecError
from runner.spec.load import MAX_SPEC_BYTES, load_specs
from tests.hardening.support import ROOT

LEVELS = "abcdefghi"
LINES = ["name: bomb", "a: &a [" + ",".join(['"lol"'] * 9) + "]"]
LINES += [f"{b}: &{b} [" + ",".join([f"*{a}"] * 9) + "]" for a, b in itertools.pairwise(LEVELS)]
BOMB = "\n".join(LINES) + "\n"
GIGABYTE = 1024**3


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (GIGABYTE, GIGABYTE))


def _project(tmp_path: Path, supplier_text: str) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    shutil.copytree(ROOT / "mappings", tmp_path / "mappings")
    (tmp_path / "specs" / "suppliers" / "bomb.yaml").write_text(supplier_text)
    return tmp_path / "specs"


def _cli_limited(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    return done, time.perf_counter() - started


def test_an_alias_bomb_exits_2_located_fast_under_a_memory_limit(tmp_path):
    assert len(BOMB) < 400
    specs = _project(tmp_path, BOMB)
    for command in (["validate"], ["run", "--no-maintenance"]):
        args = [*command, "--specs", str(specs)]  # the mappings next to it
        if command[0] == "run":
            args += ["--database-url", f"sqlite:///{tmp_path / 'never.db'}"]
        done, seconds = _cli_limited(*args)
        assert done.returncode == 2, (command, done.returncode, done.stderr[-2000:])
        assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
        output = done.stdout + done.stderr  # validate reports on stdout, run on stderr
        assert "suppliers/bomb.yaml:7:4: $: " in output, output  # the anchor over the bound
        assert "YAML aliases expand to more than 100,000 nodes" in output
        assert seconds < 10, seconds  # the whole process, on a shared machine
    assert not (tmp_path / "never.db").exists()  # refused before connecting
    started = time.perf_counter()
    with pytest.raises(SpecError) as raised:
        load_specs(specs, specs.parent / "mappings")
    assert time.perf_counter() - started < 1.0  # the load itself, in-process
    assert "alias bomb" in str(raised.value.errors[0])


def test_a_recursive_alias_is_a_located_error(tmp_path):
    specs = _project(tmp_path, "name: bomb\ntitle: x\nloop: &loop [1, *loop]\n")
    done, _ = _cli_limited("validate", "--specs", str(specs))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "suppliers/bomb.yaml:3:7: $: YAML alias refers to itself" in done.stdout


def test_an_oversized_spec_file_is_refused_unread(tmp_path):
    filler = "# " + "x" * 78 + "\n"
    text = "name: bomb\n" + filler * (MAX_SPEC_BYTES // len(filler) + 1)
    specs = _project(tmp_path, text)
    done, _ = _cli_limited("validate", "--specs", str(specs))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "suppliers/bomb.yaml:1:1: $: file is larger than 1,048,576 bytes" in done.stdout


def test_a_few_aliases_and_merge_keys_still_load(tmp_path):
    specs = _project(tmp_path, "name: bomb\n")
    (specs / "suppliers" / "bomb.yaml").unlink()
    (tmp_path / "mappings" / "alias_demo.yaml").write_text(
        "target: imported_products\n"
        "key: external_id\n"
        "fields:\n"
        "  external_id: &id {from: id, type: string, required: true}\n"
        "  sku: {<<: *id, required: false}\n"
        "  price: &money {from: price, type: decimal}\n"
        "  cost_price: {<<: *money, from: cost}\n"
    )
    done, _ = _cli_limited("validate", "--specs", str(specs))
    assert done.returncode == 0, done.stderr
