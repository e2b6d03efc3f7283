"""`sync-runner db upgrade`: bring the database schema to the latest migration."""

from __future__ import annotations

from pathlib import Path

import click

from runner.commands.common import DATABASE_URL_OPTION, cli_errors, open_settings
from runner.commands.spec import SPECS_OPTION


@click.group()
def db() -> None:
    """Database schema commands.

    \b
    Example (run once per deployment, before the workers):
      sync-runner db upgrade --database-url postgresql://sync@db/sync
    """


@db.command()
@SPECS_OPTION
@DATABASE_URL_OPTION
@click.option("--revision", default="head", show_default=True, help="Target migration revision.")
def upgrade(specs_dir: Path | None, database_url: str | None, revision: str) -> None:
    """Create or migrate the runner's tables (alembic), then print the revision.

    Safe to run again: a database at the target revision is left alone. Run it once per
    deployment before the workers start (the Kubernetes manifests do so in a Job).

    \b
    Examples:
      sync-runner db upgrade
      DATABASE_URL=postgresql://sync@db/sync sync-runner db upgrade
    """
    from runner.db.engine import connect_or_exit
    from runner.db.migrations import current_revision
    from runner.db.migrations import upgrade as run_upgrade

    with cli_errors():
        settings = open_settings(specs_dir, database_url)
        engine = connect_or_exit(settings.database_url, require_schema=False)
        try:
            before = current_revision(engine)
            run_upgrade(engine, revision)
            after = current_revision(engine)
        finally:
            engine.dispose()
    url = engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"{url}: already at revision {after}")
    else:
        click.echo(f"{url}: upgraded from {before or 'an empty database'} to revision {after}")
