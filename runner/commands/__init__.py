"""CLI command modules, imported lazily by runner.cli."""
