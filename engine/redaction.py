"""Keep card numbers and CVCs out of logs.

``redact()`` masks card data in free text; ``RedactingFilter`` applies it to log records
(message, args and traceback text). Logging runs filters attached to a *logger* only for records
logged on that very logger, not for records propagated from child loggers, so the filter must sit
on the *handlers*: ``install_redaction()`` puts it there.
"""

from __future__ import annotations

import logging
import re

from engine.cards import find_card_numbers

#: Logs mask 13-19 digit runs: 12-digit numbers (ids, amounts in minor units) are too common there.
_MIN_PAN_DIGITS = 13
#: Every card network the processor takes starts with 2-6 (Mastercard 2/5, Amex, Diners and JCB 3,
#: Visa 4, Discover, UnionPay and Maestro 5/6). A Luhn-valid run starting otherwise (a thread id
#: such as 140234567899312, a timestamp in microseconds) is not a card and stays readable.
_CARD_FIRST_DIGITS = frozenset("23456")
_CVC_MASK = "***"

_CVC_KEYS = r"cvc2?|cvv2?|card_?code|security_?code"
# JSON / Python-repr keys: "cvc": "123", 'cvv': '123', "cardCode": 123, \"cvc\": \"123\".
_CVC_QUOTED_RE = re.compile(
    rf"""(?P<key>(?P<q>\\?["'])(?:{_CVC_KEYS})(?P=q)\s*:\s*)"""
    r"""(?:(?P<vq>\\?["'])[^"'\n]{0,64}?(?P=vq)|[0-9]+)""",
    re.IGNORECASE,
)
# Bare keys: cvc=123, cvv="123", card_code: 123 (after ":" only digits or a quoted value, so prose
# such as "cvc: must be 3 digits" is left alone).
_CVC_BARE_RE = re.compile(
    rf"""(?P<key>(?<![\w"'])(?:{_CVC_KEYS})(?:\s*=\s*(?=[^\s=])|\s*:\s*(?=["'0-9])))"""
    r"""(?:"[^"\n]{0,64}?"|'[^'\n]{0,64}?'|[^\s&,;<>"'(){}\[\]]+)""",
    re.IGNORECASE,
)
# XML: <cardCode>123</cardCode>, with or without a namespace prefix.
_CVC_XML_RE = re.compile(
    rf"(?P<open><(?P<tag>(?:\w+:)?(?:{_CVC_KEYS}))(?:\s[^<>]*)?>)[^<]*(?P<close></(?P=tag)\s*>)",
    re.IGNORECASE,
)
_NUMBER_XML_RE = re.compile(
    r"(?P<open><(?P<tag>(?:\w+:)?card_?number)(?:\s[^<>]*)?>)(?P<value>[^<]*)(?P<close></(?P=tag)\s*>)",
    re.IGNORECASE,
)
# "cardNumber": "...", 'card_number': 4111...
_NUMBER_KEY_RE = re.compile(
    r"""(?P<key>(?P<q>\\?["'])(?:card_?number)(?P=q)\s*:\s*)(?:(?P<vq>\\?["'])(?P<value>[0-9 -]*)(?P=vq)|(?P<bare>[0-9]+))""",
    re.IGNORECASE,
)
# A card object: "card": {...} (one level of nesting inside), then its "number" inside.
_CARD_OBJECT_RE = re.compile(
    r"""(?P<head>(?P<q>\\?["'])(?:card|credit_?card|payment_?card)(?P=q)\s*:\s*\{)(?P<body>(?:[^{}]|\{[^{}]*\})*)\}""",
    re.IGNORECASE,
)
_NUMBER_IN_CARD_RE = re.compile(
    r"""(?P<key>(?P<q>\\?["'])number(?P=q)\s*:\s*)(?:(?P<vq>\\?["'])(?P<value>[0-9 -]*)(?P=vq)|(?P<bare>[0-9]+))""",
    re.IGNORECASE,
)


def card_mask(digits: str) -> str:
    """The mask that replaces a card number: "[card ****1111]"."""
    only_digits = "".join(ch for ch in digits if ch.isascii() and ch.isdigit())
    return f"[card ****{only_digits[-4:]}]" if len(only_digits) >= 4 else "[card ****]"


def _replace_number_value(match: re.Match[str]) -> str:
    quote = match.group("vq") or '"'
    value = match.group("value") if match.group("vq") else match.group("bare")
    return f"{match.group('key')}{quote}{card_mask(value)}{quote}"


def _redact_card_object(match: re.Match[str]) -> str:
    body = _NUMBER_IN_CARD_RE.sub(_replace_number_value, match.group("body"))
    return f"{match.group('head')}{body}}}"


def _replace_quoted_cvc(match: re.Match[str]) -> str:
    quote = match.group("vq") or '"'
    return f"{match.group('key')}{quote}{_CVC_MASK}{quote}"


def _replace_bare_cvc(match: re.Match[str]) -> str:
    return f"{match.group('key')}{_CVC_MASK}"


def _mask_card_numbers(text: str) -> str:
    """Mask every card number ``engine.cards.find_card_numbers`` finds, merging overlapping spans so
    no digit of any candidate card stays visible."""
    spans = sorted(span for span in find_card_numbers(text, min_digits=_MIN_PAN_DIGITS) if text[span[0]] in _CARD_FIRST_DIGITS)
    if not spans:
        return text
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, position = [], 0
    for start, end in merged:
        out.append(text[position:start])
        out.append(card_mask(text[start:end]))
        position = end
    out.append(text[position:])
    return "".join(out)


def redact(text: str) -> str:
    """Mask card numbers (Luhn-valid digit runs, and card-number fields) and CVC values."""
    text = _NUMBER_XML_RE.sub(lambda m: f"{m.group('open')}{card_mask(m.group('value'))}{m.group('close')}", text)
    text = _NUMBER_KEY_RE.sub(_replace_number_value, text)
    text = _CARD_OBJECT_RE.sub(_redact_card_object, text)
    text = _CVC_XML_RE.sub(lambda m: f"{m.group('open')}{_CVC_MASK}{m.group('close')}", text)
    text = _CVC_QUOTED_RE.sub(_replace_quoted_cvc, text)
    text = _CVC_BARE_RE.sub(_replace_bare_cvc, text)
    return _mask_card_numbers(text)


class RedactingFilter(logging.Filter):
    """Redacts a record's formatted message and traceback text; never drops a record.

    Attach it to handlers (see ``install_redaction``): logger-level filters miss propagated records.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: keep what we have, redacted, for the handler to show
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add one shared ``RedactingFilter`` to each handler of ``logger`` (root by default).

    Filters must sit on handlers to see records propagated from child loggers. Only handlers
    present now are covered: call this after logging is configured. Idempotent per handler.
    """
    target = logging.getLogger() if logger is None else logger
    redacting = RedactingFilter()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redacting)
    return redacting
