"""Exact conversion between integer minor units and Authorize.net decimal strings.

Floats never appear: formatting is integer arithmetic, parsing goes through ``Decimal``.

These are the *wire* spellings, by exponent: lenient about what Authorize.net sends back ("12.5",
"1250.0", "0.00"). What a client sends is parsed strictly, by currency, by ``engine.money.parse_amount``.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation, localcontext

from engine.money import format_minor_units

#: Largest currency exponent accepted (ISO 4217 uses 0, 2, 3 and 4).
MAX_EXPONENT = 4

#: The shape every amount in an Authorize.net answer has ("12.50", "1250"): read without Decimal.
_PLAIN_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]*))?")


def _check_exponent(exponent: int) -> None:
    if isinstance(exponent, bool) or not isinstance(exponent, int) or not 0 <= exponent <= MAX_EXPONENT:
        raise ValueError(f"currency exponent must be an integer 0..{MAX_EXPONENT}")


def format_wire_amount(amount_minor: int, exponent: int) -> str:
    """``1250, 2 -> "12.50"``; ``1250, 0 -> "1250"``; ``5, 3 -> "0.005"``."""
    _check_exponent(exponent)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError("amount_minor must be an int (minor units)")
    if amount_minor < 0:
        raise ValueError("amount_minor must not be negative")
    return format_minor_units(amount_minor, exponent)


def parse_wire_amount(text: str, exponent: int) -> int:
    """``"12.50", 2 -> 1250``; ``"12.5", 2 -> 1250``.

    Raises ``ValueError`` when the text is not a plain non-negative decimal or carries more
    fractional precision than the currency has (never rounds).
    """
    _check_exponent(exponent)
    plain = _PLAIN_AMOUNT.fullmatch(text.strip()) if isinstance(text, str) else None
    if plain is not None:
        whole, fraction = plain.group(1), (plain.group(2) or "").rstrip("0")
        if len(fraction) > exponent:
            raise ValueError("amount has more fractional digits than the currency exponent")
        scale: int = 10**exponent
        return int(whole) * scale + int(fraction.ljust(exponent, "0") or "0")
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        raise ValueError("amount is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ValueError("amount must be a finite, non-negative decimal")
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, len(value.as_tuple().digits) + exponent + 2)
        scaled = value.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError("amount has more fractional digits than the currency exponent")
    return int(scaled)
