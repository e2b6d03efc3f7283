"""`MAPPING_CODE_VERSION` (runner/mapping.py) moves whenever the code it stands for changes.

The version keys every `source_hash`: a new version has every record mapped again once,
an unchanged one lets unchanged records skip mapping. So the version must change exactly
when the behaviour of the code that reads, coerces and hashes values can change: the
modules in `MODULES`. This test hashes their syntax tree (comments, docstrings, line
numbers and the version's own line left out) and compares it with `RECORDED`, the tree
hash recorded for each version.

How to bump, after changing one of `MODULES` (the test fails with the new hash):
1. add 1 to `MAPPING_CODE_VERSION` in runner/mapping.py;
2. add `<new version>: "<the hash the failure printed>"` to `RECORDED` below (keep the
   older entries: a hash may stand for one version only).
A change that cannot alter a mapped row (a rename, a refactor) still needs the bump: a
full remap once is the price of never keeping a stale hash.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import runner
from runner.mapping import MAPPING_CODE_VERSION

MODULES = ("mapping.py", "paths.py", "templating.py")
RECORDED: dict[int, str] = {
    1: "5dce4890e0ff0d36d9c922944f0cde22",
    2: "b0e1c4de1d27cfccfdcdf3e5cd1a4d06",
}


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def _is_version_line(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "MAPPING_CODE_VERSION" for t in node.targets
    )


def code_hash() -> str:
    """blake2b of the modules' syntax trees: no comments, docstrings or positions."""
    digest = hashlib.blake2b(digest_size=16)
    package = Path(runner.__file__).parent
    for name in MODULES:
        tree = _without_docstrings(ast.parse((package / name).read_text(encoding="utf-8")))
        assert isinstance(tree, ast.Module)
        tree.body = [node for node in tree.body if not _is_version_line(node)]
        digest.update(name.encode() + b"\0" + ast.dump(tree).encode() + b"\0")
    return digest.hexdigest()


def test_the_version_moves_with_the_code_it_stands_for():
    current = code_hash()
    assert len(set(RECORDED.values())) == len(RECORDED), "a hash may stand for one version only"
    assert max(RECORDED) == MAPPING_CODE_VERSION, (
        f"MAPPING_CODE_VERSION is {MAPPING_CODE_VERSION}, the latest recorded is "
        f"{max(RECORDED)}: record the new version's hash (see this test's docstring)"
    )
    assert RECORDED[MAPPING_CODE_VERSION] == current, (
        f"{', '.join(MODULES)} changed since MAPPING_CODE_VERSION {MAPPING_CODE_VERSION}: "
        f"bump it to {MAPPING_CODE_VERSION + 1} and record {MAPPING_CODE_VERSION + 1}: "
        f'"{current}" in RECORDED (see this test\'s docstring)'
    )


def test_comments_and_docstrings_do_not_count(tmp_path, monkeypatch):
    """The hash reads trees, not text: a comment or a docstring edit keeps the version."""
    package = Path(runner.__file__).parent
    before = code_hash()
    copy = tmp_path / "runner"
    copy.mkdir()
    for name in MODULES:
        text = (package / name).read_text(encoding="utf-8")
        text = text.replace('"""', '"""Edited. ', 1) + "\n# a new comment\n"
        (copy / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(runner, "__file__", str(copy / "__init__.py"))
    assert code_hash() == before
    (copy / "paths.py").write_text(
        (package / "paths.py").read_text(encoding="utf-8") + "\nEXTRA = 1\n", encoding="utf-8"
    )
    assert code_hash() != before
