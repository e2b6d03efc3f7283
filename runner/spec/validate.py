"""Check spec documents: JSON Schema first, then cross-references. (First draft.)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.spec.load import Documents, SpecIssue


def kind_defaults(section: str, kind: str) -> dict[str, Any]:
    """Schema defaults of one auth or pagination kind's parameters."""
    return {}


def check_documents(docs: Documents) -> list[SpecIssue]:
    return []
