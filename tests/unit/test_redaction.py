"""engine.redaction: card numbers and CVCs never reach log output."""

import io
import logging

import pytest

from engine.redaction import RedactingFilter, install_redaction, redact

VISA = "4111111111111111"
NOT_LUHN_16 = "4111111111111112"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Luhn-valid digit runs, 13-19 digits, optionally separated by single spaces or dashes.
        (f"card {VISA} declined", "card [card ****1111] declined"),
        ("card 4111 1111 1111 1111 declined", "card [card ****1111] declined"),
        ("card 4111-1111-1111-1111 declined", "card [card ****1111] declined"),
        ("card 4111 1111-1111 1111.", "card [card ****1111]."),
        ("amex 3700 000000 00002", "amex [card ****0002]"),
        ("visa13 4007000000027!", "visa13 [card ****0027]!"),
        ("19 digits 4111111111111111110", "19 digits [card ****1110]"),
        (f"pan={VISA}&x=1", "pan=[card ****1111]&x=1"),
        (f"a{VISA}b", "a[card ****1111]b"),
        (f"{VISA},{VISA}", "[card ****1111],[card ****1111]"),
        # A card preceded by other digit groups in the same run is still found.
        ("order 12345 4111 1111 1111 1111", "order 12345 [card ****1111]"),
        ("2026-05-15 4111111111111111", "2026-05-15 [card ****1111]"),
        # CVC shapes.
        ('{"cvc": "123"}', '{"cvc": "***"}'),
        ('{"cvv":"1234"}', '{"cvv":"***"}'),
        ('{"card_code": "123"}', '{"card_code": "***"}'),
        ('{"cardCode": "123"}', '{"cardCode": "***"}'),
        ('{"CVC2": "123"}', '{"CVC2": "***"}'),
        ('{"cvc": 123}', '{"cvc": "***"}'),
        ("{'cvc': '123'}", "{'cvc': '***'}"),
        ('{\\"cvc\\": \\"123\\"}', '{\\"cvc\\": \\"***\\"}'),
        ("cvc=123&number=x", "cvc=***&number=x"),
        ("cvv=1234", "cvv=***"),
        ("Card(cvc='123', exp_month=12)", "Card(cvc=***, exp_month=12)"),
        ("cvc: 123", "cvc: ***"),
        ("<cardCode>123</cardCode>", "<cardCode>***</cardCode>"),
        ("<v1:cardCode>123</v1:cardCode>", "<v1:cardCode>***</v1:cardCode>"),
        # Card-number fields regardless of Luhn.
        (f"<cardNumber>{NOT_LUHN_16}</cardNumber>", "<cardNumber>[card ****1112]</cardNumber>"),
        (f"<cardNumber>{VISA}</cardNumber>", "<cardNumber>[card ****1111]</cardNumber>"),
        (f'{{"cardNumber": "{NOT_LUHN_16}"}}', '{"cardNumber": "[card ****1112]"}'),
        (
            f'{{"card": {{"number": "{NOT_LUHN_16}", "exp_month": 12, "cvc": "123"}}}}',
            '{"card": {"number": "[card ****1112]", "exp_month": 12, "cvc": "***"}}',
        ),
        (
            f'{{"card": {{"billing": {{"zip": "1"}}, "number": {NOT_LUHN_16}}}}}',
            '{"card": {"billing": {"zip": "1"}, "number": "[card ****1112]"}}',
        ),
        (
            f'{{"creditCard": {{"cardNumber": "{NOT_LUHN_16}", "cardCode": "999"}}}}',
            '{"creditCard": {"cardNumber": "[card ****1112]", "cardCode": "***"}}',
        ),
        (f"{{'card': {{'number': '{NOT_LUHN_16}'}}}}", "{'card': {'number': '[card ****1112]'}}"),
    ],
)
def test_redact_shapes(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        f"order {NOT_LUHN_16} shipped",  # Luhn-failing 16 digits
        "timestamp 1715772345123",  # 13 digits, fails Luhn
        "id 41111111111111111111",  # 20 digits: too long to be a card
        "411111111111",  # 12 digits
        "4111  1111  1111  1111",  # double spaces are not a card layout
        f'{{"number": "{NOT_LUHN_16}"}}',  # "number" outside a card object
        f'{{"order": {{"number": "{NOT_LUHN_16}"}}}}',
        "payment_method.card.cvc: must be 3 digits",  # prose about the field
        "invalid cvc",
        "amount 12.50 USD, 2026-05-15T10:00:00Z",
        "",
    ],
)
def test_redact_leaves_other_text_alone(text):
    assert redact(text) == text


def test_redact_is_idempotent():
    text = f'card {VISA} {{"cvc": "123"}} <cardNumber>{NOT_LUHN_16}</cardNumber>'
    once = redact(text)
    assert redact(once) == once
    assert VISA not in once and NOT_LUHN_16 not in once and "123" not in once


def make_logger(name):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, handler, stream


def test_filter_redacts_message_and_args():
    logger, handler, stream = make_logger("test.redaction.args")
    handler.addFilter(RedactingFilter())
    logger.info("charging %s cvc=%s", VISA, "123")
    logger.info({"card": {"number": NOT_LUHN_16}})
    output = stream.getvalue()
    assert VISA not in output and NOT_LUHN_16 not in output and "cvc=123" not in output
    assert "charging [card ****1111] cvc=***" in output
    assert "[card ****1112]" in output


def test_logged_exception_is_redacted_in_handler_output():
    logger, handler, stream = make_logger("test.redaction.exc")
    install_redaction(logger)
    try:
        raise ValueError(f"processor rejected {VISA} with cvv=987")
    except ValueError:
        logger.exception("charge failed")
    output = stream.getvalue()
    assert "Traceback" in output and "ValueError" in output
    assert VISA not in output
    assert "987" not in output
    assert "[card ****1111]" in output


def test_bad_format_args_are_still_redacted_and_kept():
    logger, handler, stream = make_logger("test.redaction.badargs")
    install_redaction(logger)
    logger.info("no placeholder", VISA)
    output = stream.getvalue()
    assert VISA not in output
    assert "no placeholder" in output


def test_stack_info_is_redacted():
    logger, handler, stream = make_logger("test.redaction.stack")
    install_redaction(logger)

    logger.info("here", stack_info=True) or "4111111111111111"  # the card is in the stack text
    output = stream.getvalue()
    assert "Stack (most recent call last)" in output
    assert "[card ****1111]" in output
    assert VISA not in output


def test_filter_always_returns_true():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "card %s", (VISA,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "card [card ****1111]"


def test_install_redaction_defaults_to_root_and_covers_propagated_records():
    root = logging.getLogger()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root.addHandler(handler)
    try:
        install_redaction()
        install_redaction()  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        child = logging.getLogger("test.redaction.child.deep")
        child.setLevel(logging.INFO)
        child.info("card %s", VISA)
        assert stream.getvalue() == "card [card ****1111]\n"
    finally:
        root.removeHandler(handler)


def test_a_luhn_valid_number_no_card_network_starts_with_is_left_readable():
    """A thread id (or a microsecond timestamp) can be Luhn-valid by chance: only runs that start
    as card numbers do (2-6) are masked, so a log line keeps its thread id."""
    from stdnum import luhn

    from engine.redaction import redact

    for base in ("14023456789931", "1733212345678901", "9876543210987"):
        number = base + luhn.calc_check_digit(base)
        assert luhn.is_valid(number)
        assert redact(f"Thread-{number} processed a payment") == f"Thread-{number} processed a payment"
    # Cards of every network still are, in the same line.
    for card in ("4111111111111111", "5555555555554444", "2223000048400011", "378282246310005",
                 "6011111111111117", "3530111333300000", "36227206271667"):
        assert card not in redact(f"Thread-1 card {card} ok")
