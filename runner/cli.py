"""The `sync-runner` command line.

Commands live in `runner/commands/*.py` and are imported only when invoked, so that
`sync-runner --help` and `sync-runner validate` stay fast and never import a database driver
or an HTTP client. Each command is thin: parse options, call one plain function, print, and
return an exit code (see `runner.errors.ExitCode`).
"""

from __future__ import annotations

import difflib
import importlib

import click

# command name -> "module:attribute"; the order here is the order in --help
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("runner.commands.sync", "demo", "Seed a demo shop and run every sync type offline."),
    "validate": ("runner.commands.spec", "validate", "Check every spec; exit 2 on any error."),
    "explain": ("runner.commands.spec", "explain", "Print the effective spec with defaults."),
    "run": ("runner.commands.worker", "run", "Enqueue due schedules, drain the queue, exit."),
    "run-job": ("runner.commands.worker", "run_job", "Run one given job now."),
    "sync": ("runner.commands.sync", "sync", "Run one sync at once, without the queue."),
    "accounts": (
        "runner.commands.accounts",
        "accounts",
        "Add, list, show, change, disable or check accounts.",
    ),
    "links": (
        "runner.commands.links",
        "links",
        "List, set or remove links between products and shop listings.",
    ),
    "enqueue": ("runner.commands.queue", "enqueue", "Put a job in the queue."),
    "jobs": ("runner.commands.queue", "jobs", "List, show, retry or cancel jobs."),
    "stats": ("runner.commands.queue", "stats", "Running jobs and 7-day counts per status."),
    "budgets": (
        "runner.commands.budgets",
        "budgets",
        "Request budgets per account: used, next slot.",
    ),
    "maintain": ("runner.commands.maintain", "maintain", "Apply retention and scoring policies."),
    "db": ("runner.commands.db", "db", "Database schema commands (upgrade)."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        module = importlib.import_module(module_name)
        return getattr(module, attr)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """A mistyped command gets a suggestion: `No such command 'ruun'. Did you mean 'run'?`"""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in COMMANDS:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Use the short help kept above, so that --help imports no command module.
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sync-runner")
def cli() -> None:
    """Keep a shop's database in step with its suppliers and marketplaces.

    Suppliers, marketplaces, field mappings and sync types are declared in YAML (see
    `specs/` and `mappings/`); jobs wait in the `import_jobs` table.

    \b
    Quick start (offline, embedded SQLite):
      sync-runner demo
    Check specs in CI:
      sync-runner validate --specs specs/
    Kubernetes CronJob entry point:
      sync-runner run --max-runtime 780
    """


def main() -> None:
    cli(prog_name="sync-runner")
