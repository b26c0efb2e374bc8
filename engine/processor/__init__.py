"""Authorize.net processor client (framework-free).

See :mod:`engine.processor.client` for the transport/outcome rules and
:mod:`engine.processor.codes` for the failure-code table.
"""

from .amounts import format_wire_amount, parse_wire_amount
from .client import ProcessorClient
from .codes import Failure, failure_for
from .types import (
    BatchSummary,
    Billing,
    Card,
    ChargeRequest,
    OpaqueData,
    Outcome,
    TransactionDetails,
    TransactionResult,
    TransactionSummary,
)
from .wire import RequestBuildError

__all__ = [
    "BatchSummary",
    "Billing",
    "Card",
    "ChargeRequest",
    "Failure",
    "OpaqueData",
    "Outcome",
    "ProcessorClient",
    "RequestBuildError",
    "TransactionDetails",
    "TransactionResult",
    "TransactionSummary",
    "failure_for",
    "format_wire_amount",
    "parse_wire_amount",
]
