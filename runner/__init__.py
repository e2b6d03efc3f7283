"""sync-runner: declarative sync runner for e-commerce data."""

__version__ = "0.1.0"
