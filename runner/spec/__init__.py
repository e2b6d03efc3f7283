"""The spec language: loading, validating and the typed model."""
