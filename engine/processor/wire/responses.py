"""Response XML: one lxml parse of the body, read through a tiny by-name :class:`Node` API.

Authorize.net prefixes its answers with a UTF-8 byte-order mark (docs/authorizenet.md, "The
byte-order mark"); it is stripped when present and only then, so a body without it is not damaged.
The bytes go to lxml as they are, so the encoding in the XML declaration is honoured. The parser
resolves no entities and fetches nothing from the network.

Elements are found by local name, whatever their namespace: error bodies are not guaranteed to carry
the Authorize.net namespace, and elements newer than what this client knows are simply never asked
for. :meth:`Node.text` returns the element's text as sent, so values such as authCode "000123" keep
their leading zeros. Nothing here validates against the schema: :mod:`engine.processor.results`
checks the few facts it relies on and treats anything else as an unreadable answer.

Tests check this reader against the official SDK's bindings; the emulator's ``sandbox/wire.py`` is
deliberately not shared with it, so that each one is an independent check of the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lxml import etree

from engine.errors import EasyPayError

log = logging.getLogger(__name__)

BOM = b"\xef\xbb\xbf"


class ResponseParseError(EasyPayError):
    """The body is not a usable Authorize.net response. The message never quotes the body."""


class Node:
    """One element; children are looked up by local name through an index built on first use."""

    __slots__ = ("_element", "_index")

    def __init__(self, element: etree._Element) -> None:
        self._element = element
        self._index: dict[str, list[etree._Element]] | None = None

    def _children_named(self, name: str) -> list[etree._Element]:
        index = self._index
        if index is None:
            index = {}
            for child in self._element:
                tag = child.tag
                if isinstance(tag, str):  # not a processing instruction
                    index.setdefault(tag[tag.rfind("}") + 1:], []).append(child)
            self._index = index
        return index.get(name, [])

    def children(self, name: str) -> list["Node"]:
        return [Node(child) for child in self._children_named(name)]

    def child(self, name: str) -> "Node | None":
        found = self._children_named(name)
        return Node(found[0]) if found else None

    def records(self, name: str, fields: tuple[str, ...]) -> list[dict[str, str | None]]:
        """Each child called ``name`` as ``{field: text}``: the report-page fast path.

        Gives what ``row.child(field).text()`` gives on every row (first occurrence, ``None`` when
        absent, empty or not a leaf) for a thousand rows without a Node per field. Fields are looked
        up in the row's own namespace.
        """
        out = []
        for row in self._children_named(name):
            tag = row.tag
            assert isinstance(tag, str)  # _children_named keeps elements only
            prefix = tag[: tag.rfind("}") + 1]
            by_tag = {child.tag: child for child in reversed(row)}
            record: dict[str, str | None] = {}
            for field in fields:
                element = by_tag.get(prefix + field)
                record[field] = None if element is None or len(element) else element.text or None
            out.append(record)
        return out

    def text(self) -> str | None:
        """The element's text; ``None`` when it is empty or has child elements."""
        element = self._element
        if len(element):
            return None
        return element.text or None


def get(node: Node | None, *path: str) -> str | None:
    """Text at ``path`` below ``node`` (first match at each step), or ``None``."""
    for name in path:
        if node is None:
            return None
        node = node.child(name)
    return node.text() if node is not None else None


@dataclass(frozen=True)
class Document:
    root_name: str
    root: Node

    def get(self, *path: str) -> str | None:
        return get(self.root, *path)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True, remove_pis=True)


def parse_response(body: bytes) -> Document:
    """Parse a response body; raises :class:`ResponseParseError` when it is not usable XML."""
    if body.startswith(BOM):
        body = body[len(BOM):]
    else:
        log.debug("Authorize.net response has no UTF-8 BOM")
    if not body.strip():
        raise ResponseParseError("empty response body")
    try:
        root = etree.fromstring(body, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise ResponseParseError(f"malformed XML response ({type(exc).__name__})") from None
    if root is None or not isinstance(root.tag, str):
        raise ResponseParseError("response has no XML root element")
    tag = root.tag
    return Document(tag[tag.rfind("}") + 1:], Node(root))
