"""`sync-runner validate` and `sync-runner explain`: check specs and show them in full.

Neither command touches a database or the network, and neither imports a database driver or
an HTTP client, so that `validate` runs in well under a second in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import yaml

from runner.errors import ExitCode, SpecError

SPECS_OPTION = click.option(
    "--specs",
    "specs_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Specs directory (default: $SYNC_RUNNER_SPECS, else ./specs if present, else the "
    "specs bundled with the package).",
)
MAPPINGS_OPTION = click.option(
    "--mappings",
    "mappings_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Mappings directory (default: $SYNC_RUNNER_MAPPINGS, else <specs>/mappings if it "
    "exists, else <specs>/../mappings).",
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def validation_report(
    specs_dir: Path | None, mappings_dir: Path | None
) -> tuple[bool, list[dict], str]:
    """Check every spec; return (ok, issues as dicts, one-line summary)."""
    from runner.spec.build import build_spec_set
    from runner.spec.load import check_specs

    docs, issues = check_specs(specs_dir, mappings_dir)
    if issues:
        files = {issue.file for issue in issues}
        summary = f"{_plural(len(issues), 'error')} in {_plural(len(files), 'file')}"
        return False, [issue.as_dict() for issue in issues], summary
    specs = build_spec_set(docs)
    summary = (
        f"OK: {_plural(len(specs.suppliers) + len(specs.marketplaces), 'connector')}, "
        f"{_plural(len(specs.mappings), 'mapping')}, "
        f"{_plural(len(specs.sync_types), 'sync type')}"
    )
    return True, [], summary


@click.command()
@SPECS_OPTION
@MAPPINGS_OPTION
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: one `file:line:col: path: message` line per error, then a summary. "
    "json: {ok, summary, errors: [{file, line, column, path, message}]} (and `accounts`).",
)
@click.option(
    "--accounts",
    "check_accounts",
    is_flag=True,
    help="Also connect to the database and name every credential or env variable an active "
    "account needs and lacks here (exit 2 if any).",
)
@click.option(
    "--database-url",
    metavar="URL",
    default=None,
    help="With --accounts: the database [default: $DATABASE_URL, else database.url in "
    "runner.yaml].",
)
def validate(
    specs_dir: Path | None,
    mappings_dir: Path | None,
    output_format: str,
    check_accounts: bool,
    database_url: str | None,
) -> None:
    """Check every spec: schemas, cross-references and templates. Nothing runs.

    Reads specs/runner.yaml, specs/sync_types.yaml, specs/suppliers/*.yaml,
    specs/marketplaces/*.yaml and the mappings, reports every problem at once with its
    file, line, column and JSON path, and exits 0 when all is valid, 2 otherwise.
    Secrets are never read: templates such as {{ credentials.api_key }} stay unrendered.

    With --accounts (and a database), also lists, for every active live account, each
    credential or env variable its spec needs and it lacks here, e.g.
    `bigbuy account 'EU shop' needs env BIGBUY_API_KEY: not set` (values are never shown).

    \b
    Example (the CI dry run):
      sync-runner validate --specs specs/
      specs/suppliers/acme.yaml:12:15: $.operations.items.paginate.sise:
        unknown key 'sise'; did you mean 'size'?   (one line per error)
      1 error in 1 file
    """
    ok, issues, summary = validation_report(specs_dir, mappings_dir)
    report: dict = {"ok": ok, "summary": summary, "errors": issues}
    lacking: list[str] = []
    if ok and check_accounts:
        lacking = _accounts_lacking(specs_dir, mappings_dir, database_url)
        ok = not lacking
        report.update(ok=ok, accounts={"missing": lacking})
    if output_format == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        for issue in issues:
            click.echo(
                f"{issue['file']}:{issue['line']}:{issue['column']}: {issue['path']}: "
                f"{issue['message']}"
            )
        click.echo(summary)
        for line in lacking:
            click.echo(line)
        if check_accounts and report.get("accounts") is not None:
            click.echo(
                f"{_plural(len(lacking), 'missing secret')} in active accounts"
                if lacking
                else "accounts: every active account has what it needs"
            )
    raise SystemExit(ExitCode.OK if ok else ExitCode.BAD_INPUT)


def _accounts_lacking(
    specs_dir: Path | None, mappings_dir: Path | None, database_url: str | None
) -> list[str]:
    """What every active account needs and lacks (imports the database driver only here)."""
    from runner.accounts import active_accounts_missing
    from runner.commands.common import cli_errors, open_database
    from runner.config import Settings, resolve_database_url
    from runner.spec.load import load_specs

    with cli_errors():
        specs = load_specs(specs_dir, mappings_dir)
        url, origin = resolve_database_url(database_url, specs)
        engine = open_database(Settings(specs, url, origin))
        try:
            return active_accounts_missing(engine, specs)
        finally:
            engine.dispose()


KINDS = ("supplier", "marketplace", "sync-type", "mapping")


def explain_text(kind: str, name: str, specs_dir: Path | None, mappings_dir: Path | None) -> str:
    """The effective spec of one supplier, marketplace, sync type or mapping, as YAML.

    Raises SpecError when the specs are invalid, KeyError (with a suggestion) for an unknown
    name.
    """
    from runner.spec.explain import (
        explain_connector,
        explain_mapping,
        explain_sync_type,
    )
    from runner.spec.load import load_specs
    from runner.spec.validate import suggest

    specs = load_specs(specs_dir, mappings_dir)
    table = {
        "supplier": (specs.suppliers, explain_connector),
        "marketplace": (specs.marketplaces, explain_connector),
        "sync-type": (specs.sync_types, explain_sync_type),
        "mapping": (specs.mappings, explain_mapping),
    }
    items, explain = table[kind]
    if name not in items:
        hint = suggest(name, items) or f" (known: {', '.join(sorted(items)) or 'none'})"
        raise KeyError(f"unknown {kind} '{name}'{hint}")
    spec = items[name]
    source = getattr(spec, "source_file", "") or "sync_types.yaml"
    header = f"# {kind} {name} (from {source}), every default applied\n"
    body = yaml.safe_dump(
        explain(spec), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return header + body


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("name")
@SPECS_OPTION
@MAPPINGS_OPTION
def explain(kind: str, name: str, specs_dir: Path | None, mappings_dir: Path | None) -> None:
    """Print the effective spec of one supplier, marketplace, sync type or mapping.

    Every default is filled in, so the output shows exactly what the runner will do;
    it is itself a valid spec. Templates are shown unrendered (never a secret).

    \b
    Examples:
      sync-runner explain supplier bigbuy
      sync-runner explain sync-type inventory_update
      sync-runner explain mapping shopify_order --specs specs/
    """
    try:
        text = explain_text(kind, name, specs_dir, mappings_dir)
    except SpecError as exc:
        for issue in exc.errors:
            click.echo(str(issue), err=True)
        click.echo(f"{len(exc.errors)} error(s): fix them first (sync-runner validate)", err=True)
        raise SystemExit(ExitCode.BAD_INPUT) from None
    except KeyError as exc:
        click.echo(exc.args[0], err=True)
        raise SystemExit(ExitCode.BAD_INPUT) from None
    click.echo(text, nl=False)
