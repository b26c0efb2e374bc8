"""Authorize.net XML on the wire, built and read with lxml.

:mod:`.requests` builds every request the client sends, in the schema's element order;
:mod:`.responses` reads every answer. The facts both rely on are written down in
docs/authorizenet.md. The emulator's ``sandbox/wire.py`` deliberately shares no code with this
package: it is an independent implementation that the two check each other against.
"""

from .requests import (
    NAMESPACE,
    Built,
    Credentials,
    RequestBuildError,
    build_batch_transactions,
    build_capture,
    build_charge,
    build_details,
    build_refund,
    build_settled_batches,
    build_unsettled,
    build_void,
)
from .responses import BOM, Document, Node, ResponseParseError, get, parse_response

__all__ = [
    "BOM",
    "NAMESPACE",
    "Built",
    "Credentials",
    "Document",
    "Node",
    "RequestBuildError",
    "ResponseParseError",
    "build_batch_transactions",
    "build_capture",
    "build_charge",
    "build_details",
    "build_refund",
    "build_settled_batches",
    "build_unsettled",
    "build_void",
    "get",
    "parse_response",
]
