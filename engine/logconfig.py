"""Process logging: one stderr handler with the correlation ids and card-data redaction.

* Production (``EASYPAY_ENV=production``): one JSON object per line (python-json-logger) with
  ``ts``, ``level``, ``logger``, ``message`` and, when bound, ``request_id``, ``merchant_id``,
  ``payment_id``, ``message_id``, plus any ``extra=`` fields.
* Development and tests: a human-readable line with the same ids.

Redaction happens twice, on every record: ``RedactingFilter`` (on the handler) masks the
message, its arguments and the traceback; the formatters then mask the final output, so fields
added through ``extra=`` are covered too. In JSON each string value is masked (the document stays
valid JSON) and a bare integer that is a card number becomes the masked string.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter as _BaseJsonFormatter
from stdnum import luhn

from engine.logcontext import ContextFilter
from engine.redaction import RedactingFilter, card_mask, redact

_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s pay=%(payment_id)s msg=%(message_id)s] %(message)s"
)
_CONTEXT_FIELDS = ("request_id", "merchant_id", "payment_id", "message_id")
#: LogRecord attributes that are not worth a JSON field of their own.
_RESERVED = (
    "args", "asctime", "created", "exc_info", "exc_text", "filename", "funcName", "levelname", "levelno",
    "lineno", "module", "msecs", "message", "msg", "name", "pathname", "process", "processName",
    "relativeCreated", "stack_info", "thread", "threadName", "taskName",
)


_CVC_FIELD_NAMES = frozenset({"cvc", "cvv", "cvc2", "cvv2", "cardcode", "securitycode"})


def _is_cvc_field(key: Any) -> bool:
    return isinstance(key, str) and key.lower().replace("_", "") in _CVC_FIELD_NAMES


def _redact_value(value: Any) -> Any:
    """Mask card data in a JSON value: strings by pattern, card-number integers, CVC keys at any depth."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        digits = str(abs(value))
        return card_mask(digits) if 13 <= len(digits) <= 19 and luhn.is_valid(digits) else value
    if isinstance(value, dict):
        return {key: "***" if _is_cvc_field(key) else _redact_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redact_value(item) for item in value]
    return value


class JsonFormatter(_BaseJsonFormatter):
    """python-json-logger's formatter with our field names, unbound ids dropped, values redacted."""

    def __init__(self) -> None:
        super().__init__(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exc"},
            reserved_attrs=_RESERVED,
            timestamp="ts",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        for name in _CONTEXT_FIELDS:
            if log_data.get(name) == "-":
                del log_data[name]
        # A CVC passed as a field (extra={"cvc": ...}, at any depth) is masked by its name.
        redacted: dict[str, Any] = _redact_value(dict(log_data))
        return redacted


class TextFormatter(logging.Formatter):
    """The development format; the whole line is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_logging(level: str = "INFO", *, json_logs: bool = False, stream: IO[str] | None = None) -> None:
    """Replace the root handlers with one handler on ``stream`` (stderr by default)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else TextFormatter(_TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
