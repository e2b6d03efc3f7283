"""`sync-runner accounts add|list|show|set|disable|check`: supplier accounts and marketplace
integrations of a user, without SQL. Thin commands over `runner.accounts` and
`runner.account_check`; every one also prints `--json`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import yaml

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    cli_errors,
    open_database,
    open_settings,
    to_json,
)
from runner.commands.spec import SPECS_OPTION
from runner.errors import ExitCode

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from runner.config import Settings

CREDENTIAL_OPTION = click.option(
    "--credential",
    "credentials",
    multiple=True,
    metavar="KEY=REF",
    help="A credential the spec reads as {{ credentials.KEY }}: KEY=env:NAME (an environment "
    "variable, e.g. from a Kubernetes Secret), KEY=file:/path (a mounted secret file), or "
    "KEY=VALUE (the secret itself, stored in the database: a warning says so). Repeatable.",
)
SETTING_OPTION = click.option(
    "--setting",
    "settings_",
    multiple=True,
    metavar="KEY=VALUE",
    help="An account setting, e.g. base_url=https://api.sandbox.bigbuy.eu/rest or "
    "language=es (the value is read as YAML: rate_limit=false). Repeatable.",
)
MODE_OPTION = click.option(
    "--mode",
    type=click.Choice(["live", "mock"]),
    default=None,
    help="live: the real API; mock: the mapping's generated records, no network.",
)


@contextmanager
def _database(
    specs_dir: Path | None, database_url: str | None, *, writable: bool = False
) -> Iterator[tuple[Settings, Engine]]:
    """Specs (exit 2 on a bad one), then the database (exit 3; a read-only one too when the
    command writes), disposed afterwards; the runner's errors become one line."""
    with cli_errors():
        settings = open_settings(specs_dir, database_url)
        engine = open_database(settings, writable=writable)
        try:
            yield settings, engine
        finally:
            engine.dispose()


def _credentials(pairs: tuple[str, ...], *, unset: tuple[str, ...] = ()) -> dict[str, Any]:
    from runner.credentials import parse_credential

    values: dict[str, Any] = dict.fromkeys(unset)
    for pair in pairs:
        try:
            key, value, literal = parse_credential(pair)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--credential") from None
        if literal:
            click.echo(
                f"warning: credential {key} is stored in the database as given; prefer "
                f"{key}=env:NAME or {key}=file:/path",
                err=True,
            )
        values[key] = value
    return values


def _settings(pairs: tuple[str, ...], *, unset: tuple[str, ...] = ()) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(unset)
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r}: expected KEY=VALUE", param_hint="--setting")
        try:
            values[key.strip()] = yaml.safe_load(text) if text else ""
        except yaml.YAMLError:
            values[key.strip()] = text
    return values


def _print_account(view: dict[str, Any]) -> None:
    rows = [
        ("id", view["id"]),
        ("user", view["user_id"]),
        (view["kind"], view["spec"]),
        ("name", view["name"]),
        ("status", view["status"]),
        ("mode", view["mode"]),
    ]
    if view.get("shop_url"):
        rows.append(("shop url", view["shop_url"]))
    for key, ref in sorted(view["credentials"].items()):
        rows.append((f"credential {key}", ref))
    for key, value in sorted(view["settings"].items()):
        rows.append((f"setting {key}", value))
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        click.echo(f"{label:<{width}}  {value}")
    for line in view.get("missing") or []:
        click.echo(f"missing: {line}")


@click.group()
def accounts() -> None:
    """Supplier accounts and marketplace integrations of a user.

    Credentials are references to where the secret lives (env:NAME, file:/path), or the
    secret itself (stored in the database, with a warning).

    \b
    Examples:
      sync-runner accounts add --user u1 --supplier bigbuy --name "EU shop" \\
          --credential api_key=env:BIGBUY_API_KEY
      sync-runner accounts add --user u1 --marketplace shopify --name "Main store" \\
          --shop-url https://main.myshopify.com --credential access_token=env:SHOPIFY_TOKEN
      sync-runner accounts check <id>        # one cheap request: is the key accepted?
      sync-runner accounts list --user u1
    """


@accounts.command("add", short_help="Add a supplier account or marketplace integration.")
@click.option("--user", "user_id", required=True, help="The user (shop owner) id.")
@click.option("--supplier", "supplier", default=None, metavar="SPEC", help="A supplier spec.")
@click.option(
    "--marketplace", "marketplace", default=None, metavar="SPEC", help="A marketplace spec."
)
@click.option("--name", required=True, help="The account's name, e.g. 'EU shop'.")
@click.option("--shop-url", default=None, help="The shop's URL (marketplaces).")
@CREDENTIAL_OPTION
@SETTING_OPTION
@MODE_OPTION
@click.option("--id", "account_id", default=None, help="The account id [default: a new UUID].")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def add(
    user_id: str,
    supplier: str | None,
    marketplace: str | None,
    name: str,
    shop_url: str | None,
    credentials: tuple[str, ...],
    settings_: tuple[str, ...],
    mode: str | None,
    account_id: str | None,
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Add a supplier account (--supplier SPEC) or a marketplace integration
    (--marketplace SPEC) to a user. Prints what it still lacks (an unset env variable)."""
    from runner.accounts import account_view, add_account

    if bool(supplier) == bool(marketplace):
        raise click.UsageError("give exactly one of --supplier SPEC or --marketplace SPEC")
    stored = _credentials(credentials)
    with _database(specs_dir, database_url, writable=True) as (settings, engine):
        account = add_account(
            engine,
            settings.specs,
            user_id=user_id,
            kind="supplier" if supplier else "marketplace",
            spec_name=supplier or marketplace or "",
            name=name,
            credentials=stored,
            settings=_settings(settings_),
            mode=mode or "live",
            shop_url=shop_url,
            account_id=account_id,
        )
    view = account_view(account, settings.specs)
    if as_json:
        click.echo(to_json(view))
        return
    click.echo(f"added {account.kind} account {account.id} ({account.label}) for {user_id}")
    for line in view["missing"]:
        click.echo(f"missing: {line}")


@accounts.command("list", short_help="List accounts (credentials never shown).")
@click.option("--user", "user_id", default=None, help="Only this user's accounts.")
@click.option(
    "--kind", type=click.Choice(["supplier", "marketplace"]), default=None, help="Only one kind."
)
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def list_(
    user_id: str | None,
    kind: str | None,
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """List accounts: id, user, kind, spec, name, status, mode (credentials never shown)."""
    from runner.accounts import account_view, list_accounts

    with _database(specs_dir, database_url) as (settings, engine):
        found = list_accounts(engine, user_id=user_id, kind=kind)  # type: ignore[arg-type]
    views = [account_view(a, settings.specs) for a in found]
    if as_json:
        click.echo(to_json(views))
        return
    if not views:
        click.echo("no accounts (add one with `sync-runner accounts add`)")
        return
    header = ("id", "user", "kind", "spec", "name", "status", "mode", "lacks")
    rows = [
        (
            v["id"][:8],
            v["user_id"],
            v["kind"],
            v["spec"],
            v["name"],
            v["status"],
            v["mode"],
            str(len(v["missing"])) if v["missing"] else "-",
        )
        for v in views
    ]
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    for row in (header, *rows):
        click.echo("  ".join(f"{c!s:<{w}}" for c, w in zip(row, widths, strict=True)).rstrip())


@accounts.command(short_help="Show one account and what it lacks here.")
@click.argument("account_id")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def show(account_id: str, specs_dir: Path | None, database_url: str | None, as_json: bool) -> None:
    """Show one account (an id or a unique prefix): credentials as references, and what it
    needs and lacks here."""
    from runner.accounts import account_view, get_account

    with _database(specs_dir, database_url) as (settings, engine):
        account = get_account(engine, account_id)
    view = account_view(account, settings.specs)
    if as_json:
        click.echo(to_json(view))
    else:
        _print_account(view)


@accounts.command("set", short_help="Change an account.")
@click.argument("account_id")
@click.option("--name", default=None, help="A new name.")
@click.option("--status", type=click.Choice(["active", "disabled"]), default=None)
@click.option("--shop-url", default=None, help="A new shop URL (marketplaces).")
@CREDENTIAL_OPTION
@SETTING_OPTION
@MODE_OPTION
@click.option("--unset-credential", multiple=True, metavar="KEY", help="Remove a credential.")
@click.option("--unset-setting", multiple=True, metavar="KEY", help="Remove a setting.")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def set_(
    account_id: str,
    name: str | None,
    status: str | None,
    shop_url: str | None,
    credentials: tuple[str, ...],
    settings_: tuple[str, ...],
    mode: str | None,
    unset_credential: tuple[str, ...],
    unset_setting: tuple[str, ...],
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Change an account: name, status, mode, shop URL; credentials and settings are merged
    (KEY=... replaces one, --unset-... removes one)."""
    from runner.accounts import AccountChange, account_view, set_account

    change = AccountChange(
        name=name,
        status=status,
        mode=mode,
        shop_url=shop_url,
        credentials=_credentials(credentials, unset=unset_credential),
        settings=_settings(settings_, unset=unset_setting),
    )
    with _database(specs_dir, database_url, writable=True) as (settings, engine):
        account = set_account(engine, account_id, change)
    view = account_view(account, settings.specs)
    if as_json:
        click.echo(to_json(view))
    else:
        _print_account(view)


@accounts.command(short_help="Disable an account (nothing is deleted).")
@click.argument("account_id")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def disable(account_id: str, specs_dir: Path | None, database_url: str | None, as_json: bool):
    """Disable an account: schedules skip it and its jobs skip it (`set --status active`
    brings it back). Nothing is deleted."""
    from runner.accounts import AccountChange, account_view, set_account

    with _database(specs_dir, database_url, writable=True) as (_, engine):
        account = set_account(engine, account_id, AccountChange(status="disabled"))
    if as_json:
        click.echo(to_json(account_view(account)))
    else:
        click.echo(f"disabled {account.kind} account {account.id} ({account.label})")


@accounts.command(short_help="One cheap request: does the account work?")
@click.argument("account_id")
@click.option("--offline", is_flag=True, help="Ask the mock connector instead of the API.")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def check(
    account_id: str,
    offline: bool,
    specs_dir: Path | None,
    database_url: str | None,
    as_json: bool,
) -> None:
    """Send the one cheap request the spec declares (`check:`) and say whether the account
    works; exit 1 with one line naming what failed: secret missing, auth refused, network,
    or spec.

    \b
    Examples:
      sync-runner accounts check 3f2a9c1e
      sync-runner accounts check 3f2a9c1e --offline   # the mock: no network, no secret
    """
    from runner.account_check import check_account
    from runner.accounts import get_account

    with _database(specs_dir, database_url) as (settings, engine):
        account = get_account(engine, account_id)
        result = check_account(settings.specs, account, offline=offline, engine=engine)
    if as_json:
        click.echo(to_json(vars(result)))
    else:
        click.echo(result.line(), err=not result.ok)
    if not result.ok:
        raise SystemExit(ExitCode.UNEXPECTED)
