"""The official SDK as the oracle for engine.processor.wire (test-only; product code has no PyXB).

``read_with_sdk`` is the response reader the client used before it moved to lxml: the SDK's
``CreateFromDocument`` (schema-validating PyXB) and, for the bodies the bindings refuse (API errors
without the XSD-required ``transactionResponse``), the plain local-name lxml walk the old client
fell back to. Its :class:`Document` offers the same ``child``/``children``/``records``/``text`` API,
so :mod:`engine.processor.results` can interpret both readings and the results can be compared.

``sdk_fields`` reads a request body with the SDK and lists every element it holds as ``(path, text)``;
``schema_order_violations`` checks the body's element order against the SDK's bindings.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

import pyxb
import pyxb.binding.content
from authorizenet import apicontractsv1 as contracts
from lxml import etree

from engine.processor import wire

BOM = b"\xef\xbb\xbf"


@contextlib.contextmanager
def _patient_pyxb() -> Iterator[None]:
    """PyXB gives up on a billTo with all seven address fields (its automaton's nondeterminism limit
    is 20); let it search further while the oracle reads, so that it reads every body these tests build."""
    config = pyxb.binding.content.AutomatonConfiguration
    saved = config.PermittedNondeterminism
    config.PermittedNondeterminism = 10_000
    try:
        yield
    finally:
        config.PermittedNondeterminism = saved


# PyXB complains about elements newer than its 2024 bindings; that is not what these tests check.
for _name in ("pyxb.binding.basis", "pyxb.binding.content"):
    logging.getLogger(_name).setLevel(logging.ERROR)


class _OracleNode:
    """Shared helpers: ``records`` in terms of ``child(...).text()``."""

    def child(self, name: str):  # pragma: no cover - overridden
        raise NotImplementedError

    def children(self, name: str) -> list:  # pragma: no cover - overridden
        raise NotImplementedError

    def records(self, name: str, fields: tuple[str, ...]) -> list[dict[str, str | None]]:
        out = []
        for row in self.children(name):
            record = {}
            for field in fields:
                found = row.child(field)
                record[field] = found.text() if found is not None else None
            out.append(record)
        return out


class PyxbNode(_OracleNode):
    """A PyXB binding instance, walked through its ordered content by element name."""

    def __init__(self, obj: object) -> None:
        self._obj = obj

    @staticmethod
    def _name(item: object) -> str | None:
        declaration = getattr(item, "elementDeclaration", None)
        if declaration is not None:
            return declaration.name().localName()
        # Content PyXB could not place in the content model is kept with no declaration; the
        # value still knows which element it came from.
        element = getattr(getattr(item, "value", None), "_element", None)
        bound = element() if callable(element) else None
        return bound.name().localName() if bound is not None else None

    def children(self, name: str) -> list[PyxbNode]:
        ordered = getattr(self._obj, "orderedContent", None)
        if not callable(ordered):
            return []
        return [
            PyxbNode(item.value)
            for item in ordered()
            if getattr(item, "value", None) is not None and self._name(item) == name
        ]

    def child(self, name: str) -> PyxbNode | None:
        found = self.children(name)
        return found[0] if found else None

    def text(self) -> str | None:
        obj = self._obj
        if obj is None:
            return None
        if isinstance(obj, str):
            value = str(obj)
        elif isinstance(obj, Decimal):
            value = str(Decimal(obj))  # keeps "12.50" rather than the canonical "12.5"
        elif hasattr(obj, "xsdLiteral"):
            value = obj.xsdLiteral()
        else:
            return None
        return value or None


class LenientNode(_OracleNode):
    """The old client's fallback reader: lxml, children matched with ``etree.QName`` local names."""

    def __init__(self, el: etree._Element) -> None:
        self._el = el

    def children(self, name: str) -> list[LenientNode]:
        return [LenientNode(c) for c in self._el if isinstance(c.tag, str) and etree.QName(c).localname == name]

    def child(self, name: str) -> LenientNode | None:
        found = self.children(name)
        return found[0] if found else None

    def text(self) -> str | None:
        if len(self._el):
            return None
        return self._el.text or None


@dataclass(frozen=True)
class Reading:
    document: wire.Document  # duck-typed: root is a PyxbNode or LenientNode
    strict: bool  # True when the SDK's schema-validating parse accepted the body


def read_with_sdk(body: bytes) -> Reading:
    """The pre-lxml client's reading of a body. Raises wire.ResponseParseError like it did."""
    if body.startswith(BOM):
        body = body[len(BOM):]
    if not body.strip():
        raise wire.ResponseParseError("empty response body")
    try:
        with _patient_pyxb():
            instance = contracts.CreateFromDocument(body)
        name = instance._element().name().localName()
        return Reading(wire.Document(name, PyxbNode(instance)), strict=True)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the old client fell back on every PyXB failure mode
        pass
    try:
        root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise wire.ResponseParseError(f"malformed XML response ({type(exc).__name__})") from None
    return Reading(wire.Document(etree.QName(root).localname, LenientNode(root)), strict=False)  # type: ignore[arg-type]


def sdk_object(body: bytes) -> object:
    """A request body as the SDK reads it (raises when the bindings reject it, e.g. out of order)."""
    with _patient_pyxb():
        return contracts.CreateFromDocument(body)


def _walk(el: etree._Element, prefix: str, out: list[tuple[str, str | None]]) -> None:
    for child in el:
        if not isinstance(child.tag, str):
            continue
        path = f"{prefix}/{etree.QName(child).localname}"
        if len(child):
            out.append((path, None))
            _walk(child, path, out)
        else:
            out.append((path, child.text or ""))


def fields(body: bytes) -> list[tuple[str, str | None]]:
    """Every element of an XML body in document order, as ``(path, text)``."""
    root = etree.fromstring(body)
    out: list[tuple[str, str | None]] = [(etree.QName(root).localname, None)]
    _walk(root, etree.QName(root).localname, out)
    return out


def _sdk_walk(node: PyxbNode, prefix: str, out: list[tuple[str, str | None]]) -> None:
    ordered = getattr(node._obj, "orderedContent", None)
    for item in ordered() if callable(ordered) else ():
        value = getattr(item, "value", None)
        name = PyxbNode._name(item)
        if value is None or name is None:
            continue  # text between elements
        path = f"{prefix}/{name}"
        child = PyxbNode(value)
        if callable(getattr(value, "orderedContent", None)):
            out.append((path, None))
            _sdk_walk(child, path, out)
        else:
            out.append((path, child.text() or ""))


def sdk_fields(body: bytes) -> list[tuple[str, str | None]]:
    """Every element of a request body as the SDK's ``CreateFromDocument`` read it, as ``(path, text)``."""
    instance = sdk_object(body)
    name = instance._element().name().localName()
    out: list[tuple[str, str | None]] = [(name, None)]
    _sdk_walk(PyxbNode(instance), name, out)
    return out


def schema_order_violations(body: bytes) -> list[str]:
    """Elements out of the XSD sequence order, judged by the SDK's bindings (empty when in order).

    The generated bindings list each complex type's elements in the order of its schema sequence
    (inherited ones first), which is what the gateway enforces. CreateFromDocument alone does not
    catch every misplacement, so this walks the body and checks each parent's children against it.
    """
    root = etree.fromstring(body)
    problems: list[str] = []

    def check(el: etree._Element, type_definition: type, path: str) -> None:
        order = {key.localName(): (i, decl) for i, (key, decl) in enumerate(type_definition._ElementMap.items())}
        last = -1
        for child in el:
            name = etree.QName(child).localname
            if name not in order:
                problems.append(f"{path}/{name}: not an element of {type_definition.__name__}")
                continue
            index, declaration = order[name]
            if index < last:
                problems.append(f"{path}/{name}: out of schema order")
            last = max(last, index)
            child_type = declaration.elementBinding().typeDefinition()
            if len(child):
                check(child, child_type, f"{path}/{name}")

    name = etree.QName(root).localname
    check(root, getattr(contracts, name).typeDefinition(), name)
    return problems
