"""Process logging: one stderr handler with the correlation ids and card-data redaction."""

from __future__ import annotations

import json
import logging
import sys

from engine.logcontext import ContextFilter
from engine.redaction import RedactingFilter

_TEXT_FORMAT = (
    "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s pay=%(payment_id)s msg=%(message_id)s] %(message)s"
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "merchant_id", "payment_id", "message_id"):
            value = getattr(record, name, "-")
            if value != "-":
                payload[name] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(level: str = "INFO", *, json_logs: bool = False) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Never let the SDK's debug logging (full request XML, card data) or pyxb noise through.
    logging.getLogger("authorizenet.sdk").setLevel(logging.CRITICAL)
    logging.getLogger("pyxb").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
