"""Read spec files: YAML with the position of every node, then check and build the model.

`load_specs()` is the one entry point. It reads every file of a specs directory and its
mappings, validates them (`runner.spec.validate`), and builds frozen model objects
(`runner.spec.build`). Every problem of every file is collected and raised at once as a
`SpecError` whose `errors` are `SpecIssue`s (file, line, column, JSON path, message).
Secrets are never resolved here: templates stay unrendered strings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from runner.errors import SpecError
from runner.spec.model import SpecSet

DocumentKind = Literal["runner", "sync_types", "supplier", "marketplace", "mapping"]
PathTuple = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class SpecIssue:
    """One located problem in one spec file. Lines and columns start at 1."""

    file: str
    line: int
    column: int
    path: str  # JSON path, e.g. $.operations.products.paginate.size
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.path}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
        }


def json_path(path: PathTuple) -> str:
    """`("operations", "products", "paginate")` -> `$.operations.products.paginate`."""
    text = "$"
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part.isidentifier():
            text += f".{part}"
        else:
            text += "[" + repr(part) + "]"
    return text


@dataclass
class Document:
    """One parsed YAML file: its plain data and where every key and value sits."""

    file: str  # as given to the user: relative to the working directory when possible
    kind: DocumentKind
    data: Any
    value_marks: dict[PathTuple, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[PathTuple, tuple[int, int]] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return Path(self.file).stem

    def position(self, path: PathTuple, *, key: bool = False) -> tuple[int, int]:
        """Line and column of the node at `path` (its key with `key=True`), or of the
        closest ancestor that exists."""
        path = tuple(path)
        while True:
            marks = self.key_marks if key else self.value_marks
            if path in marks:
                return marks[path]
            if key and path in self.value_marks:
                return self.value_marks[path]
            if not path:
                return (1, 1)
            path = path[:-1]

    def issue(self, path: PathTuple, message: str, *, key: bool = False) -> SpecIssue:
        line, column = self.position(path, key=key)
        return SpecIssue(self.file, line, column, json_path(path), message)


# ---------------------------------------------------------------------------------------------
# YAML with positions


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML, except that dates stay strings (`value: 2025-01-01` means the text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Reader:
    """Turns a composed YAML node tree into plain data, recording marks and duplicates."""

    def __init__(self, document: Document, loader: yaml.SafeLoader) -> None:
        self.document = document
        self.loader = loader
        self.issues: list[SpecIssue] = []

    def mark(self, node: yaml.Node) -> tuple[int, int]:
        return (node.start_mark.line + 1, node.start_mark.column + 1)

    def convert(self, node: yaml.Node, path: PathTuple) -> Any:
        self.document.value_marks.setdefault(path, self.mark(node))
        if isinstance(node, yaml.MappingNode):
            return self.convert_mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.loader.construct_object(node)
        except yaml.YAMLError as exc:
            line, column = self.mark(node)
            message = getattr(exc, "problem", None) or str(exc)
            self.issues.append(
                SpecIssue(self.document.file, line, column, json_path(path), message)
            )
            return None

    def convert_mapping(self, node: yaml.MappingNode, path: PathTuple) -> dict[str, Any]:
        result: dict[str, Any] = {}
        explicit_keys: dict[str, tuple[int, int]] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                merged.extend(sources)
                continue
            key = self.scalar_key(key_node, path)
            if key is None:
                continue
            if key in explicit_keys:
                line, column = self.mark(key_node)
                first_line = explicit_keys[key][0]
                self.issues.append(
                    SpecIssue(
                        self.document.file,
                        line,
                        column,
                        json_path((*path, key)),
                        f"duplicate key '{key}' (first defined on line {first_line})",
                    )
                )
                continue
            explicit_keys[key] = self.mark(key_node)
            self.document.key_marks[(*path, key)] = self.mark(key_node)
            result[key] = self.convert(value_node, (*path, key))
        # `<<: *anchor` merges keys that are not set explicitly (YAML merge key semantics).
        for source in merged:
            if not isinstance(source, yaml.MappingNode):
                line, column = self.mark(source)
                self.issues.append(
                    SpecIssue(
                        self.document.file,
                        line,
                        column,
                        json_path(path),
                        "'<<' merges only mappings",
                    )
                )
                continue
            values = self.convert_mapping(source, path)
            for key, value in values.items():
                result.setdefault(key, value)
        return result

    def scalar_key(self, key_node: yaml.Node, path: PathTuple) -> str | None:
        line, column = self.mark(key_node)
        if not isinstance(key_node, yaml.ScalarNode):
            self.issues.append(
                SpecIssue(self.document.file, line, column, json_path(path), "keys must be text")
            )
            return None
        # Keys are text: `200: x` and `"200": x` name the same key (as in JSON).
        return str(key_node.value)


# Bounds of one spec file, checked before anything is built from it: the bundled specs are a
# few KB with a handful of aliases; a 300-byte alias bomb expands to millions of nodes.
MAX_SPEC_BYTES = 1024 * 1024
MAX_ALIASES = 1_000
MAX_EXPANDED_NODES = 100_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expansion_issue(document: Document, root: yaml.Node) -> SpecIssue | None:
    """The composed node graph (an alias is a second reference to a node) walked once, each
    node's expanded size memoised: a recursive alias, more than `MAX_ALIASES` aliases, or a
    tree of more than `MAX_EXPANDED_NODES` nodes once aliases are expanded is an issue,
    located at the node that crossed the bound. Costs the size of the file, not of its
    expansion."""
    sizes: dict[int, int] = {}
    started: set[int] = set()
    aliases = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if finished:
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_EXPANDED_NODES:
                return SpecIssue(
                    document.file,
                    line,
                    column,
                    "$",
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes "
                    "(an alias bomb?): write the values out, or use fewer aliases",
                )
            sizes[key] = size
            continue
        if key in sizes or key in started:
            if key not in sizes:  # started, not finished: an ancestor of itself
                return SpecIssue(document.file, line, column, "$", "YAML alias refers to itself")
            aliases += 1
            if aliases > MAX_ALIASES:
                return SpecIssue(
                    document.file,
                    line,
                    column,
                    "$",
                    f"more than {MAX_ALIASES:,} YAML aliases: write the values out",
                )
            continue
        started.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))
    return None


def _read_bounded(path: Path) -> str:
    """The file's text, refusing it unread beyond `MAX_SPEC_BYTES`."""
    with path.open("rb") as handle:
        data = handle.read(MAX_SPEC_BYTES + 1)
    if len(data) > MAX_SPEC_BYTES:
        raise ValueError(f"file is larger than {MAX_SPEC_BYTES:,} bytes: a spec is a few KB")
    return data.decode("utf-8")


def read_document(path: Path, kind: DocumentKind) -> tuple[Document, list[SpecIssue]]:
    """Parse one YAML file. Returns the document (data None when unusable) and its issues."""
    document = Document(file=display_path(path), kind=kind, data=None)
    try:
        text = _read_bounded(path)
    except (OSError, UnicodeDecodeError) as exc:
        return document, [SpecIssue(document.file, 1, 1, "$", f"cannot read file: {exc}")]
    except ValueError as exc:
        return document, [SpecIssue(document.file, 1, 1, "$", str(exc))]
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return document, [document.issue((), "file is empty: expected a mapping")]
        too_big = expansion_issue(document, node)
        if too_big is not None:
            return document, [too_big]
        reader = _Reader(document, loader)
        data = reader.convert(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = exc.problem or str(exc)
        if exc.context and exc.context_mark is not None:
            message += f" ({exc.context} that starts on line {exc.context_mark.line + 1})"
        return document, [SpecIssue(document.file, line, column, "$", f"YAML error: {message}")]
    except yaml.YAMLError as exc:
        return document, [SpecIssue(document.file, 1, 1, "$", f"YAML error: {exc}")]
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        reader.issues.append(document.issue((), "expected a mapping at the top of the file"))
        return document, reader.issues
    document.data = data
    return document, reader.issues


def display_path(path: Path) -> str:
    """A path as users typed it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# Directories


def default_specs_dir() -> Path:
    """`$SYNC_RUNNER_SPECS`, else `./specs` if it exists, else the specs bundled with the
    package (`runner.bundled`). `--specs DIR` comes before all three (the commands pass it)."""
    env = os.environ.get("SYNC_RUNNER_SPECS")
    if env:
        return Path(env)
    local = Path("specs")
    if local.is_dir():
        return local
    from runner.bundled import bundled_dir

    return bundled_dir("specs")


def specs_not_found() -> str:
    """The missing-folder message, naming the four places a specs folder comes from."""
    from runner.bundled import bundled_dir

    return (
        "specs directory not found; the specs folder is --specs DIR, else $SYNC_RUNNER_SPECS, "
        f"else ./specs if present, else the bundled specs ({bundled_dir('specs')})"
    )


def default_mappings_dir(specs_dir: Path) -> Path:
    """`$SYNC_RUNNER_MAPPINGS`, else `<specs>/mappings` if it exists, else `<specs>/../mappings`."""
    env = os.environ.get("SYNC_RUNNER_MAPPINGS")
    if env:
        return Path(env)
    inside = Path(specs_dir) / "mappings"
    return inside if inside.is_dir() else Path(specs_dir).parent / "mappings"


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


@dataclass
class Documents:
    """Every parsed file of one specs directory and its mappings."""

    runner: Document | None = None
    sync_types: Document | None = None
    suppliers: list[Document] = field(default_factory=list)
    marketplaces: list[Document] = field(default_factory=list)
    mappings: list[Document] = field(default_factory=list)

    def all(self) -> list[Document]:
        head = [d for d in (self.runner, self.sync_types) if d is not None]
        return [*head, *self.suppliers, *self.marketplaces, *self.mappings]


def read_documents(specs_dir: Path, mappings_dir: Path) -> tuple[Documents, list[SpecIssue]]:
    """Parse every spec file. Missing required files and folders are issues too."""
    docs = Documents()
    issues: list[SpecIssue] = []
    if not specs_dir.is_dir():
        where = display_path(specs_dir)
        return docs, [SpecIssue(where, 1, 1, "$", specs_not_found())]

    def read(path: Path, kind: DocumentKind) -> Document:
        document, found = read_document(path, kind)
        issues.extend(found)
        return document

    runner_file = _first_existing(specs_dir, "runner")
    if runner_file is not None:
        docs.runner = read(runner_file, "runner")
    sync_types_file = _first_existing(specs_dir, "sync_types")
    if sync_types_file is None:
        where = display_path(specs_dir / "sync_types.yaml")
        issues.append(
            SpecIssue(
                where,
                1,
                1,
                "$",
                "file not found: every specs directory declares its sync types in sync_types.yaml",
            )
        )
    else:
        docs.sync_types = read(sync_types_file, "sync_types")
    docs.suppliers = [read(p, "supplier") for p in _yaml_files(specs_dir / "suppliers")]
    docs.marketplaces = [read(p, "marketplace") for p in _yaml_files(specs_dir / "marketplaces")]
    if not mappings_dir.is_dir():
        issues.append(
            SpecIssue(
                display_path(mappings_dir),
                1,
                1,
                "$",
                "mappings directory not found (set --mappings)",
            )
        )
    docs.mappings = [read(p, "mapping") for p in _yaml_files(mappings_dir)]
    return docs, issues


def _first_existing(folder: Path, stem: str) -> Path | None:
    for suffix in (".yaml", ".yml"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    return None


def check_specs(
    specs_dir: Path | None = None, mappings_dir: Path | None = None
) -> tuple[Documents, list[SpecIssue]]:
    """Read and check every spec file; return the documents and every issue, sorted."""
    from runner.spec.validate import check_documents

    specs_dir = Path(specs_dir) if specs_dir is not None else default_specs_dir()
    if mappings_dir is None:
        mappings_dir = default_mappings_dir(specs_dir)
    docs, issues = read_documents(specs_dir, Path(mappings_dir))
    issues.extend(check_documents(docs))
    return docs, sorted(set(issues))


def load_specs(specs_dir: Path | None = None, mappings_dir: Path | None = None) -> SpecSet:
    """Load, check and build every spec. Raises `SpecError` listing every problem at once."""
    from runner.spec.build import build_spec_set

    docs, issues = check_specs(specs_dir, mappings_dir)
    if issues:
        raise SpecError(issues)
    return build_spec_set(docs)
