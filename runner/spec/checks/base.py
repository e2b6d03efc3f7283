"""What every cross-file check shares: the issues found so far, whether a part of a document
passed the schema (`clean`), and the checks of templates, URLs, names and references."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from jinja2 import TemplateSyntaxError

from runner.spec.columns import WRITABLE_COLUMNS
from runner.spec.schema import suggest
from runner.templating import UnsafeTemplate, is_template, template_variables

if TYPE_CHECKING:
    from runner.spec.load import Document, Documents, PathTuple, SpecIssue

# runner.yaml templates (webhook URLs and secrets) may read only the environment.
RUNNER_VARIABLES = frozenset({"env"})

# Response expressions (empty_when, error_when, ...) read the answer; classify rules also
# read the error's code and message.
RESPONSE_VARIABLES = frozenset({"status", "headers", "body"})
CLASSIFY_VARIABLES = RESPONSE_VARIABLES | {"code", "message"}


@lru_cache(maxsize=4096)
def _template_names(source: str, expression: bool) -> tuple[frozenset[str], str | None]:
    """The names a template reads, or what is wrong with it (cached: parsing is slow)."""
    what = "expression" if expression else "template"
    try:
        return frozenset(template_variables(source, expression=expression)), None
    except UnsafeTemplate as exc:
        return frozenset(), f"{what} {exc.message or exc}"
    except TemplateSyntaxError as exc:
        return frozenset(), f"{what} syntax error: {exc.message or exc}"


class Checker:
    """Collects issues for the cross-file checks; `clean()` says whether a part of a
    document passed the schema, so that only well-shaped parts are inspected."""

    sync_types: dict[str, dict[str, Any]]  # set by `run` (runner.spec.validate)
    mappings: dict[str, Document]

    def __init__(self, docs: Documents) -> None:
        self.docs = docs
        self.issues: list[SpecIssue] = []
        self.bad_paths: dict[int, list[PathTuple]] = {}
        self.broken_sync_types: set[str] = set()
        self.broken_mappings: set[str] = set()  # files of mappings writing unknown columns

    def clean(self, doc: Document, path: PathTuple) -> bool:
        """True when no schema error lies at or under `path`."""
        n = len(path)
        return not any(bad[:n] == path for bad in self.bad_paths.get(id(doc), ()))

    def add(self, doc: Document, path: PathTuple, message: str, *, key: bool = False) -> None:
        self.issues.append(doc.issue(path, message, key=key))

    @property
    def sync_types_readable(self) -> bool:
        """Whether sync type names can be checked (sync_types.yaml was read)."""
        return self.docs.sync_types is not None and isinstance(self.docs.sync_types.data, dict)

    def _sync_types(self) -> dict[str, dict[str, Any]]:
        doc = self.docs.sync_types
        if doc is None or not isinstance(doc.data, dict):
            return {}
        return {name: spec for name, spec in doc.data.items() if isinstance(spec, dict)}

    def _mappings(self) -> dict[str, Document]:
        return self._named(self.docs.mappings, "mapping")

    def _named(self, docs: Iterable[Document], what: str) -> dict[str, Document]:
        """Documents by name; a name must equal its file name and be unique."""
        result: dict[str, Document] = {}
        for doc in docs:
            if doc.data is None:
                result.setdefault(doc.stem, doc)  # unreadable: reported, but its name exists
                continue
            name = doc.data.get("name") if isinstance(doc.data.get("name"), str) else doc.stem
            if name != doc.stem:
                self.add(doc, ("name",), f"name '{name}' must equal the file name '{doc.stem}'")
            if name in result:
                self.add(doc, ("name",), f"{what} '{name}' is also defined in {result[name].file}")
                continue
            result[name] = doc
        return result

    def template(
        self,
        doc: Document,
        path: PathTuple,
        source: str,
        allowed: frozenset[str],
        *,
        expression: bool = False,
    ) -> None:
        """Compile a template or expression and check the variables it reads."""
        what = "expression" if expression else "template"
        names, error = _template_names(source, expression)
        if error is not None:
            self.add(doc, path, error)
            return
        for name in sorted(names - allowed):
            hint = suggest(name, allowed) or ""
            self.add(
                doc,
                path,
                f"unknown variable '{name}' in {what}{hint} "
                f"(available: {', '.join(sorted(allowed))})",
            )

    def templates_in(self, doc: Document, path: PathTuple, value: Any, allowed) -> None:
        """Check every template string anywhere under `value`."""
        if isinstance(value, dict):
            for key, item in value.items():
                self.templates_in(doc, (*path, key), item, allowed)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.templates_in(doc, (*path, index), item, allowed)
        elif is_template(value):
            self.template(doc, path, value, allowed)

    def url(self, doc: Document, path: PathTuple, value: str, allowed) -> None:
        """An http(s) URL, or a template (checked as one)."""
        if is_template(value):
            self.template(doc, path, value, allowed)
            return
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.add(doc, path, f"{value!r} is not an http(s) URL (or a template)")

    def reference(
        self, doc: Document, path: PathTuple, name: str, known: Iterable[str], what: str
    ) -> bool:
        known = list(known)
        if name in known:
            return True
        hint = suggest(name, known) or (
            f" (known: {', '.join(sorted(known))})" if known else f" (no {what}s are defined)"
        )
        self.add(doc, path, f"unknown {what} '{name}'{hint}")
        return False

    def unique(self, doc: Document, path: PathTuple, items: list[Any], what: str) -> None:
        seen: set[str] = set()
        for index, item in enumerate(items):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in seen:
                    self.add(doc, (*path, index, "name"), f"duplicate {what} name '{name}'")
                seen.add(name)

    @staticmethod
    def unknown_column(column: str, target: str) -> str:
        allowed = WRITABLE_COLUMNS[target]
        hint = suggest(column, allowed) or f" (writable: {', '.join(sorted(allowed))})"
        return f"'{column}' is not a writable column of {target}{hint}"
