"""Exact money: integer minor units inside, decimal strings outside, never a float.

``parse_amount("12.50", "USD") == 1250`` and ``format_amount(1250, "USD") == "12.50"``.
"""

from __future__ import annotations

import functools
import re

from iso4217 import Currency

from engine.errors import EasyPayError

#: Largest amount accepted, in minor units of whatever currency (10**11 - 1):
#: 999,999,999.99 USD, 99,999,999,999 JPY, 99,999,999.999 BHD. It keeps every amount
#: well inside a signed 64-bit integer and inside Authorize.net's 15-character amount field.
MAX_AMOUNT_MINOR: int = 10**11 - 1

# A plain decimal in major units: no sign, exponent or spaces; "0" or no leading zero.
_AMOUNT_RE = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")
_CODE_RE = re.compile(r"[A-Z]{3}")
# Longer integer parts are above MAX_AMOUNT_MINOR in any currency; checked before int().
_MAX_INTEGER_DIGITS = len(str(MAX_AMOUNT_MINOR))


class AmountError(EasyPayError, ValueError):
    """An amount is malformed or out of range; the message is safe to show a client."""


class CurrencyError(EasyPayError, ValueError):
    """A currency code is not an upper-case ISO 4217 code with a minor-unit exponent."""


def currency_exponent(code: str) -> int:
    """Number of fraction digits of an ISO 4217 currency (USD 2, JPY 0, BHD 3)."""
    if not isinstance(code, str):
        raise CurrencyError("currency must be a 3-letter upper-case ISO 4217 code")
    return _exponent(code)


@functools.lru_cache(maxsize=512)
def _exponent(code: str) -> int:
    """``currency_exponent`` of a string, remembered per code (it is on every amount's path)."""
    if not _CODE_RE.fullmatch(code):
        raise CurrencyError("currency must be a 3-letter upper-case ISO 4217 code")
    try:
        exponent = Currency(code).exponent
    except ValueError:
        raise CurrencyError(f"unknown currency {code}") from None
    if exponent is None:
        raise CurrencyError(f"currency {code} has no minor unit and cannot be used for payments")
    return exponent


def parse_amount(text: str, currency: str) -> int:
    """Parse a decimal string in major units ("12.50") into minor units (1250)."""
    exponent = currency_exponent(currency)
    if not isinstance(text, str):
        raise AmountError("amount must be a string such as \"12.50\"")
    match = _AMOUNT_RE.fullmatch(text)
    if match is None:
        raise AmountError(
            "amount must be a decimal string such as \"12.50\": digits, an optional point "
            "and fraction digits, no sign, exponent, spaces or leading zeros"
        )
    integer_digits, fraction_digits = match.group(1), match.group(2) or ""
    if len(fraction_digits) > exponent:
        if exponent == 0:
            raise AmountError(f"{currency} amounts cannot have decimal places")
        raise AmountError(f"{currency} amounts allow at most {exponent} decimal places")
    if len(integer_digits) > _MAX_INTEGER_DIGITS:
        raise AmountError(f"amount must be at most {format_amount(MAX_AMOUNT_MINOR, currency)}")
    amount_minor = int(integer_digits + fraction_digits.ljust(exponent, "0"))
    if amount_minor <= 0:
        raise AmountError("amount must be greater than zero")
    if amount_minor > MAX_AMOUNT_MINOR:
        raise AmountError(f"amount must be at most {format_amount(MAX_AMOUNT_MINOR, currency)}")
    return amount_minor


def format_amount(amount_minor: int, currency: str) -> str:
    """Format minor units as a decimal string in major units: 1250 USD -> "12.50", 5 JPY -> "5"."""
    return format_minor_units(amount_minor, currency_exponent(currency))


def format_minor_units(amount_minor: int, exponent: int) -> str:
    """The same by exponent: (1250, 2) -> "12.50", (1250, 0) -> "1250", (5, 3) -> "0.005"."""
    if type(amount_minor) is not int:  # bool included: True is not an amount
        raise TypeError("amount_minor must be an int")
    if exponent == 0:
        return str(amount_minor)
    if amount_minor < 0:
        return "-" + format_minor_units(-amount_minor, exponent)
    # Three per payment object, 300 per list page: string slicing, not divmod and a format spec.
    digits = str(amount_minor).rjust(exponent + 1, "0")
    return f"{digits[:-exponent]}.{digits[-exponent:]}"