"""XML feeds, read element by element as the body arrives (defusedxml's iterparse).

A document type declaration is refused outright, and with it every entity trick (billion
laughs, external entities): a catalogue needs none. Elements and attributes are named by
their local names (namespace prefixes dropped). The record element is the one whose path
of local names ends with `format.record`; each becomes a record:

- its attributes and child elements become fields (an attribute whose name a child element
  also has is kept as `@name`);
- a child with only text is that text; one with attributes or children is an object of the
  same shape, its own text under `_text`; a child that repeats is a list, and so is every
  element named in `format.lists`, even when it appears once;
- decimal commas in text are rewritten as declared (`format.decimal`).

Each record element is dropped from the tree once read, so memory holds one record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse

from runner.feeds import FeedError
from runner.feeds.text import binary, number_reader
from runner.spec.model import FormatSpec

TEXT_KEY = "_text"


def parse_xml(chunks: Iterable[bytes], fmt: FormatSpec) -> Iterator[dict[str, Any]]:
    record_path = tuple(part for part in (fmt.record or "").split("/") if part)
    depth = len(record_path)
    numbers = number_reader(fmt)
    only = frozenset(fmt.decimal_columns) if fmt.decimal_columns else None
    lists = frozenset(fmt.lists)
    stack: list[Element] = []
    names: list[str] = []
    inside = 0  # > 0 while within a record element
    events = iterparse(
        binary(chunks),
        events=("start", "end"),
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )
    try:
        for event, element in events:
            if event == "start":
                stack.append(element)
                names.append(_local(element.tag))
                if inside or tuple(names[-depth:]) == record_path:
                    inside += 1
                continue
            stack.pop()
            names.pop()
            if not inside:
                if stack:
                    stack[-1].remove(element)  # text outside records: not kept
                continue
            inside -= 1
            if inside:
                continue
            record = _record(element, numbers, only, lists)
            if stack:
                stack[-1].remove(element)
            yield record
    except DTDForbidden:
        raise FeedError("the XML feed declares a DTD; refused (entities are not read)") from None
    except (EntitiesForbidden, ExternalReferenceForbidden):
        raise FeedError("the XML feed declares entities; refused") from None
    except ParseError as exc:
        line, column = exc.position
        raise FeedError(f"the XML feed is malformed at line {line}, column {column}") from None


def _local(tag: Any) -> str:
    tag = str(tag)
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag.split(":")[-1]


def _record(
    element: Element,
    numbers: Callable[[str], str] | None,
    only: frozenset[str] | None,
    lists: frozenset[str],
) -> dict[str, Any]:
    value = _value(element, numbers, only, lists, _local(element.tag))
    return value if isinstance(value, dict) else {TEXT_KEY: value}


def _value(
    element: Element,
    numbers: Callable[[str], str] | None,
    only: frozenset[str] | None,
    lists: frozenset[str],
    name: str,
) -> Any:
    children = list(element)
    text = (element.text or "").strip()
    if numbers is not None and text and (only is None or name in only):
        text = numbers(text)
    if not children and not element.attrib:
        return text
    fields: dict[str, Any] = {}
    child_names = {_local(child.tag) for child in children}
    for key, raw in element.attrib.items():
        attribute = _local(key)
        if numbers is not None and (only is None or attribute in only):
            raw = numbers(raw)
        fields[f"@{attribute}" if attribute in child_names else attribute] = raw
    repeated: set[str] = set()
    for child in children:
        child_name = _local(child.tag)
        value = _value(child, numbers, only, lists, child_name)
        if child_name in lists and child_name not in fields:
            fields[child_name] = [value]
            repeated.add(child_name)
        elif child_name not in fields:
            fields[child_name] = value
        elif child_name in repeated:
            fields[child_name].append(value)
        else:
            fields[child_name] = [fields[child_name], value]
            repeated.add(child_name)
    if text:
        fields[TEXT_KEY] = text
    return fields
