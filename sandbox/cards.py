"""Card checks and the Authorize.net sandbox trigger values (docs/authorizenet.md, "Sandbox test values").

Pure functions only: no I/O, no logging. Nothing here keeps a card number.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re

#: billTo.zip that turns any card transaction into a general decline (reason 2).
DECLINE_ZIP = "46282"

#: billTo.zip -> avsResultCode (docs/authorizenet.md, "Sandbox test values"). Any other ZIP gives "Y".
AVS_BY_ZIP = {
    "46201": "A",
    "46203": "E",
    "46204": "G",
    "46205": "N",
    "46206": "P",
    "46207": "R",
    "46208": "S",
    "46209": "U",
    "46211": "W",
    "46214": "X",
    "46217": "Z",
}
DEFAULT_AVS = "Y"

#: creditCard.cardCode -> cvvResultCode (docs/authorizenet.md, "Sandbox test values"). Any other code gives "M".
CVV_BY_CODE = {"900": "M", "901": "N", "902": "S", "903": "U", "904": "P"}
DEFAULT_CVV = "M"

_DIGITS = re.compile(r"[0-9]+")


def luhn_ok(number: str) -> bool:
    """True when ``number`` is all digits and passes the Luhn check."""
    if not _DIGITS.fullmatch(number):
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def brand(number: str) -> str | None:
    """The Authorize.net ``accountType`` for a PAN, or None when not accepted.

    Values follow ``cardTypeEnum``: Visa, MasterCard, AmericanExpress, Discover,
    JCB, DinersClub. China UnionPay ranges inside 622126-622925 report Discover.
    """
    n = len(number)
    if number[:1] == "4" and n in (13, 16, 19):
        return "Visa"
    p2, p3, p4, p6 = int(number[:2]), int(number[:3]), int(number[:4]), int(number[:6])
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "MasterCard"
    if p2 in (34, 37) and n == 15:
        return "AmericanExpress"
    if (p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925) and n in (16, 19):
        return "Discover"
    if (3528 <= p4 <= 3589 or p4 in (3088, 3096, 3112, 3158, 3337)) and n in (16, 19):
        return "JCB"
    if (300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095) and 14 <= n <= 16:
        return "DinersClub"
    return None


_EXP_FORMATS = (
    # (regex, month group, year group)
    (re.compile(r"(\d{4})-(\d{2})"), 2, 1),  # YYYY-MM (the SDK samples)
    (re.compile(r"(\d{2})(\d{2})"), 1, 2),  # MMYY
    (re.compile(r"(\d{2})(\d{4})"), 1, 2),  # MMYYYY
    (re.compile(r"(\d{2})[/-](\d{2})"), 1, 2),  # MM/YY, MM-YY
    (re.compile(r"(\d{2})[/-](\d{4})"), 1, 2),  # MM/YYYY, MM-YYYY
)


def parse_expiration(value: str) -> tuple[int, int] | None:
    """``(year, month)`` for the formats the gateway accepts, else None (reason 7)."""
    for rx, mg, yg in _EXP_FORMATS:
        m = rx.fullmatch(value)
        if m:
            month, year = int(m.group(mg)), int(m.group(yg))
            if year < 100:
                year += 2000
            if 1 <= month <= 12:
                return year, month
            return None
    return None


def is_expired(year: int, month: int, now: dt.datetime) -> bool:
    """A card is good through the last day of its expiration month (UTC)."""
    last_day = calendar.monthrange(year, month)[1]
    return now.date() > dt.date(year, month, last_day)


def avs_for_zip(zip_code: str | None) -> str:
    """AVS result for a billTo.zip (first five characters are compared)."""
    if not zip_code:
        return DEFAULT_AVS
    return AVS_BY_ZIP.get(zip_code.strip()[:5], DEFAULT_AVS)


def cvv_for_code(card_code: str | None) -> str:
    """CVV result for a cardCode; empty when no code was sent."""
    if not card_code:
        return ""
    return CVV_BY_CODE.get(card_code, DEFAULT_CVV)
