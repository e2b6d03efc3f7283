"""Resolve the runner's settings: command-line option > environment > specs/runner.yaml >
built-in default.

Specs are always loaded (and checked) before anything touches the database, so a bad spec
exits 2 without connecting.

- specs folder: `--specs DIR`, `SYNC_RUNNER_SPECS`, `./specs` if present, else the specs
  bundled with the package (`runner.bundled`);
- database: `--database-url`, `DATABASE_URL`, `database.url` in runner.yaml, default
  `sqlite:///sync-runner.db`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runner.spec.model import SpecSet

DATABASE_URL_ENV = "DATABASE_URL"


@dataclass(frozen=True)
class Settings:
    specs: SpecSet
    database_url: str
    database_url_from: str  # "option" | "environment" | "runner.yaml" (which holds the default)


def load_specs(specs_dir: Path | str | None = None) -> SpecSet:
    """Every spec of `specs_dir` (default: `$SYNC_RUNNER_SPECS`, `./specs`, the bundled ones),
    checked.

    Raises `runner.errors.SpecError` (exit 2) listing every problem.
    """
    from runner.spec.load import load_specs as _load

    return _load(Path(specs_dir) if specs_dir is not None else None)


def resolve_database_url(
    option: str | None, specs: SpecSet, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """The database URL and where it came from (see the table in the module docstring)."""
    environ = os.environ if environ is None else environ
    if option:
        return option, "option"
    if environ.get(DATABASE_URL_ENV):
        return environ[DATABASE_URL_ENV], "environment"
    return specs.runner.database_url, "runner.yaml"


def load_settings(
    specs_dir: Path | str | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load the specs, then resolve the database URL. Does not connect."""
    specs = load_specs(specs_dir)
    url, origin = resolve_database_url(database_url, specs, environ)
    return Settings(specs=specs, database_url=url, database_url_from=origin)
