"""`sync-runner links`: the links between imported products and marketplace listings that
pushes write through (runner/push/links.py): list them, link one by hand, forget one."""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.common import (
    DATABASE_URL_OPTION,
    JSON_OPTION,
    cli_errors,
    fail,
    open_database,
    open_settings,
    to_json,
    when,
)
from runner.commands.spec import SPECS_OPTION
from runner.errors import ExitCode

USER_OPTION = click.option("--user", "user_id", required=True, help="The user (shop owner) id.")
PRODUCT_OPTIONS = (
    click.option("--integration", "integration_id", required=True, help="The integration id."),
    click.option("--supplier", "supplier_id", required=True, help="The product's supplier id."),
    click.option("--external-id", required=True, help="The product's id at its supplier."),
)


def _product(command):
    for option in reversed(PRODUCT_OPTIONS):
        command = option(command)
    return command


@click.group()
def links() -> None:
    """Links between imported products and their marketplace listings.

    A push links products by SKU by itself; link by hand what has no SKU in common.

    \b
    Examples:
      sync-runner links list --user u1
      sync-runner links set --user u1 --integration shop-1 --supplier sup-1 \\
          --external-id p-17 --product-id 1017
      sync-runner links remove --user u1 --integration shop-1 --supplier sup-1 --external-id p-17
    """


@links.command("list", short_help="List the links of a user (first 1,000).")
@USER_OPTION
@click.option("--integration", "integration_id", default=None, help="Only this integration.")
@SPECS_OPTION
@DATABASE_URL_OPTION
@JSON_OPTION
def list_(user_id, integration_id, specs_dir: Path | None, database_url, as_json: bool) -> None:
    from runner.push.links import list_links

    with cli_errors():
        engine = open_database(open_settings(specs_dir, database_url))
        try:
            rows = list_links(engine, user_id, integration_id)
        finally:
            engine.dispose()
    if as_json:
        click.echo(to_json(rows))
        return
    for row in rows:
        click.echo(
            f"{row['integration_id']}  {row['supplier_id']}/{row['external_id']}  "
            f"sku {row['sku'] or '-'}  -> {row['remote_product_id']}"
            f"{'/' + row['remote_variant_id'] if row['remote_variant_id'] else ''}  "
            f"({row['matched_by']})  stock pushed {when(row['stock_pushed_at'])}  "
            f"price pushed {when(row['price_pushed_at'])}"
        )
    click.echo(f"{len(rows)} link(s)")


@links.command("set", short_help="Link one product to a listing by hand.")
@USER_OPTION
@_product
@click.option("--product-id", required=True, help="The listing's product id in the shop.")
@click.option("--variant-id", default=None, help="The variant id (Shopify).")
@click.option("--inventory-item-id", default=None, help="The inventory item id (Shopify).")
@click.option("--location-id", default=None, help="The stock location id, if not the setting.")
@SPECS_OPTION
@DATABASE_URL_OPTION
def set_(
    user_id,
    integration_id,
    supplier_id,
    external_id,
    product_id,
    variant_id,
    inventory_item_id,
    location_id,
    specs_dir: Path | None,
    database_url,
) -> None:
    from runner.clock import SystemClock
    from runner.push.links import NoSuchProduct, set_link
    from runner.sync.accounts import load_accounts

    remote = {
        "remote_product_id": product_id,
        "remote_variant_id": variant_id,
        "inventory_item_id": inventory_item_id,
        "location_id": location_id,
    }
    with cli_errors():
        engine = open_database(open_settings(specs_dir, database_url), writable=True)
        try:
            load_accounts(engine, user_id, "marketplace", integration_id)  # theirs, or exit 2
            set_link(
                engine,
                user_id,
                integration_id,
                supplier_id,
                external_id,
                remote,
                SystemClock().now(),
            )
        except NoSuchProduct as exc:
            raise fail(str(exc), ExitCode.BAD_INPUT) from None
        finally:
            engine.dispose()
    click.echo(f"linked {supplier_id}/{external_id} to {product_id}: the next push sends it")


@links.command("remove", short_help="Forget one link (the next push matches it again).")
@USER_OPTION
@_product
@SPECS_OPTION
@DATABASE_URL_OPTION
def remove(
    user_id, integration_id, supplier_id, external_id, specs_dir: Path | None, database_url
) -> None:
    from runner.push.links import remove_link

    with cli_errors():
        engine = open_database(open_settings(specs_dir, database_url), writable=True)
        try:
            gone = remove_link(engine, user_id, integration_id, supplier_id, external_id)
        finally:
            engine.dispose()
    if not gone:
        raise fail(
            f"no link of {supplier_id}/{external_id} to {integration_id}", ExitCode.BAD_INPUT
        )
    click.echo(f"removed the link of {supplier_id}/{external_id} to {integration_id}")
