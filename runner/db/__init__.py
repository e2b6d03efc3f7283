"""Database: tables, engine, batched writes and migrations."""
