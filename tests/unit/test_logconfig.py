"""engine.logconfig: JSON lines in production, readable lines in development; correlation ids
on every record; card numbers and CVCs masked everywhere in the output, extras included."""

from __future__ import annotations

import io
import json
import logging
from typing import Iterator

import pytest

from engine.logconfig import configure_logging
from engine.logcontext import bind_context

VISA = "4111111111111111"
MASTERCARD = "5424000000000015"


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    """A buffer for ``configure(...)``; root logging restored afterwards (pytest's handlers too)."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _json_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_the_bound_ids_and_only_those(output):
    configure_logging(json_logs=True, stream=output)
    log = logging.getLogger("easypay.test")
    with bind_context(request_id="req_abc", merchant_id="m-1", payment_id="p-1", message_id="msg-1"):
        log.info("payment %s is %s", "p-1", "captured")
    log.warning("unbound")
    bound, unbound = _json_lines(output)
    assert bound["message"] == "payment p-1 is captured"
    assert (bound["level"], bound["logger"]) == ("INFO", "easypay.test")
    assert {k: bound[k] for k in ("request_id", "merchant_id", "payment_id", "message_id")} == {
        "request_id": "req_abc", "merchant_id": "m-1", "payment_id": "p-1", "message_id": "msg-1"
    }
    assert "ts" in bound
    assert not {"request_id", "merchant_id", "payment_id", "message_id"} & set(unbound)


def test_json_output_masks_cards_and_cvcs_in_message_args_extras_and_tracebacks(output):
    configure_logging(json_logs=True, stream=output)
    log = logging.getLogger("easypay.test")
    log.info(
        "charging %s with body %s",
        VISA,
        {"card": {"number": "4111 1111 1111 1111", "cvc": "987"}},
        extra={"pan": int(MASTERCARD), "note": f"card {MASTERCARD}", "cvc": "654", "nested": {"cvv": "321"}},
    )
    try:
        raise ValueError(f"rejected {VISA}")
    except ValueError:
        log.exception("failed")
    lines = _json_lines(output)  # still valid JSON after masking
    # Everything the records carry but their timestamps (whose microseconds may hold any 3 digits).
    text = json.dumps([{k: v for k, v in line.items() if k != "ts"} for line in lines])
    for secret in (VISA, MASTERCARD, "4111 1111 1111 1111", "987", "654", "321"):
        assert secret not in text
    assert lines[0]["pan"] == "[card ****0015]" and lines[0]["cvc"] == "***"
    assert "[card ****1111]" in lines[0]["message"] and "[card ****1111]" in lines[1]["exc"]
    assert lines[1]["level"] == "ERROR"


def test_text_output_is_readable_and_masks_everything(output):
    configure_logging(json_logs=False, stream=output)
    log = logging.getLogger("easypay.test")
    with bind_context(request_id="req_text", payment_id="p-2"):
        log.info("card %s cvc=123", VISA)
    line = output.getvalue().strip()
    assert "[req=req_text pay=p-2 msg=-]" in line
    assert VISA not in line and "cvc=123" not in line
    assert "[card ****1111]" in line and "cvc=***" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_non_card_numbers_are_kept(output):
    configure_logging(json_logs=True, stream=output)
    logging.getLogger("easypay.test").info("amount", extra={"amount_minor": 1250, "count": 1234567890123456})
    line = _json_lines(output)[0]
    assert line["amount_minor"] == 1250 and line["count"] == 1234567890123456  # 16 digits, not Luhn-valid
