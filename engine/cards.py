"""Card brand detection and validation. Error messages never contain the number or CVC."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from enum import StrEnum

from stdnum import luhn


class Brand(StrEnum):
    VISA = "visa"
    MASTERCARD = "mastercard"
    AMEX = "amex"
    DISCOVER = "discover"
    JCB = "jcb"
    DINERS = "diners"
    UNIONPAY = "unionpay"
    UNKNOWN = "unknown"


# (brand, first IIN in range, last IIN in range); both ends have the same number of digits.
# Checked in order: Discover's 622126-622925 must come before UnionPay's 62.
_IIN_RANGES: tuple[tuple[Brand, str, str], ...] = (
    (Brand.VISA, "4", "4"),
    (Brand.MASTERCARD, "51", "55"),
    (Brand.MASTERCARD, "2221", "2720"),
    (Brand.AMEX, "34", "34"),
    (Brand.AMEX, "37", "37"),
    (Brand.DISCOVER, "6011", "6011"),
    (Brand.DISCOVER, "644", "649"),
    (Brand.DISCOVER, "65", "65"),
    (Brand.DISCOVER, "622126", "622925"),
    (Brand.UNIONPAY, "62", "62"),
    (Brand.JCB, "3528", "3589"),
    # Legacy JCB ranges; Authorize.net's sandbox JCB test card is 3088...
    (Brand.JCB, "3088", "3094"),
    (Brand.JCB, "3096", "3102"),
    (Brand.JCB, "3112", "3120"),
    (Brand.JCB, "3158", "3159"),
    (Brand.JCB, "3337", "3349"),
    (Brand.DINERS, "300", "305"),
    (Brand.DINERS, "36", "36"),
    (Brand.DINERS, "38", "39"),
)

_LENGTHS: dict[Brand, frozenset[int]] = {
    Brand.VISA: frozenset({13, 16, 19}),
    Brand.MASTERCARD: frozenset({16}),
    Brand.AMEX: frozenset({15}),
    Brand.DISCOVER: frozenset(range(16, 20)),
    Brand.JCB: frozenset(range(16, 20)),
    Brand.DINERS: frozenset(range(14, 20)),
    Brand.UNIONPAY: frozenset(range(16, 20)),
    Brand.UNKNOWN: frozenset(range(12, 20)),
}

_BRAND_NAMES: dict[Brand, str] = {
    Brand.VISA: "Visa",
    Brand.MASTERCARD: "Mastercard",
    Brand.AMEX: "American Express",
    Brand.DISCOVER: "Discover",
    Brand.JCB: "JCB",
    Brand.DINERS: "Diners Club",
    Brand.UNIONPAY: "UnionPay",
    Brand.UNKNOWN: "card",
}

MIN_NUMBER_DIGITS = 12
MAX_NUMBER_DIGITS = 19
#: Expiry years further ahead than this are rejected.
MAX_EXPIRY_YEARS_AHEAD = 20

_DIGITS_RE = re.compile(r"[0-9]+")

# Digit groups joined by single spaces, dashes or dots: where a card number typed as text may be.
_DIGIT_RUN_RE = re.compile(r"(?<![0-9])[0-9]+(?:[ .-][0-9]+)*(?![0-9])")
#: How people write a card number in groups: 4-4-4-4, 4-6-5, 4-4-4-4-3, so every group but the last
#: has 4-6 digits and none more than 6. This keeps IP addresses, dates, phone numbers and
#: decimals such as "1715772345.123456" from being joined into a 12-19 digit candidate.
_GROUP_MIN_DIGITS = 4
_GROUP_MAX_DIGITS = 6


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field, e.g. ("payment_method.card.cvc", "must be 3 digits")."""

    field: str
    message: str


def _is_digits(value: object) -> bool:
    return isinstance(value, str) and _DIGITS_RE.fullmatch(value) is not None


def detect_brand(number: str) -> Brand:
    """Brand from the card number's IIN prefix; ``Brand.UNKNOWN`` if none matches or not digits."""
    if not _is_digits(number):
        return Brand.UNKNOWN
    for brand, low, high in _IIN_RANGES:
        if len(number) >= len(low) and low <= number[: len(low)] <= high:
            return brand
    return Brand.UNKNOWN


def find_card_numbers(text: str, *, min_digits: int = MIN_NUMBER_DIGITS) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of ``text`` that read as a card number: Luhn-valid, ``min_digits`` to 19
    digits, either one unbroken digit run or whole digit groups laid out as cards are written.

    The one detector of card numbers in free text: log redaction masks these spans, the API refuses
    text fields that hold one. Spans may overlap (every candidate slice of a run is reported).
    """
    spans: list[tuple[int, int]] = []
    for run in _DIGIT_RUN_RE.finditer(text):
        groups = [(m.start(), m.end()) for m in _DIGITS_RE.finditer(run.group(0))]
        base = run.start()
        for i in range(len(groups)):
            digits = ""
            for j in range(i, len(groups)):
                start, end = groups[j]
                if j > i:
                    inner_start, inner_end = groups[j - 1]
                    inner = inner_end - inner_start
                    if not _GROUP_MIN_DIGITS <= inner <= _GROUP_MAX_DIGITS or end - start > _GROUP_MAX_DIGITS:
                        break
                digits += run.group(0)[start:end]
                if len(digits) > MAX_NUMBER_DIGITS:
                    break
                if len(digits) >= min_digits and luhn.is_valid(digits):
                    spans.append((base + groups[i][0], base + end))
    return spans


def _describe_lengths(lengths: frozenset[int]) -> str:
    ordered = sorted(lengths)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]} to {ordered[-1]}"
    if len(ordered) == 1:
        return str(ordered[0])
    return ", ".join(map(str, ordered[:-1])) + f" or {ordered[-1]}"


def _number_errors(number: object, field: str) -> tuple[list[FieldError], Brand]:
    if not isinstance(number, str):
        return [FieldError(field, "must be a string of digits")], Brand.UNKNOWN
    if not _is_digits(number):
        return [FieldError(field, "must contain digits only, without spaces or dashes")], Brand.UNKNOWN
    brand = detect_brand(number)
    errors = []
    if not MIN_NUMBER_DIGITS <= len(number) <= MAX_NUMBER_DIGITS:
        errors.append(FieldError(field, f"must be {MIN_NUMBER_DIGITS} to {MAX_NUMBER_DIGITS} digits"))
    elif len(number) not in _LENGTHS[brand]:
        lengths = _describe_lengths(_LENGTHS[brand])
        errors.append(FieldError(field, f"{_BRAND_NAMES[brand]} card numbers must be {lengths} digits"))
    if not luhn.is_valid(number):
        errors.append(FieldError(field, "is not a valid card number (check digit mismatch)"))
    return errors, brand


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_card(
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str | None,
    *,
    today: datetime.date,
    prefix: str = "payment_method.card",
) -> list[FieldError]:
    """Every problem with the card details, each naming its field; empty when the card is valid.

    A card is valid through the last day of its expiry month. ``cvc=None`` means not supplied.
    """
    errors, brand = _number_errors(number, f"{prefix}.number")

    month_ok = _is_int(exp_month) and 1 <= exp_month <= 12
    if not month_ok:
        errors.append(FieldError(f"{prefix}.exp_month", "must be a month number from 1 to 12"))

    max_year = today.year + MAX_EXPIRY_YEARS_AHEAD
    year_ok = False
    if not _is_int(exp_year) or not 1000 <= exp_year <= 9999:
        errors.append(FieldError(f"{prefix}.exp_year", "must be a 4-digit year"))
    elif exp_year > max_year:
        errors.append(FieldError(f"{prefix}.exp_year", f"must be no later than {max_year}"))
    elif exp_year < today.year:
        errors.append(FieldError(f"{prefix}.exp_year", "card has expired"))
    else:
        year_ok = True
    if month_ok and year_ok and (exp_year, exp_month) < (today.year, today.month):
        errors.append(FieldError(f"{prefix}.exp_month", "card has expired"))

    if cvc is not None:
        cvc_length = 4 if brand is Brand.AMEX else 3
        if not _is_digits(cvc) or len(cvc) != cvc_length:
            errors.append(FieldError(f"{prefix}.cvc", f"must be {cvc_length} digits"))
    return errors


def last4(number: str) -> str:
    """The last four digits of a card number, the only part that may be stored or shown."""
    if not _is_digits(number) or len(number) < 4:
        raise ValueError("card number must be at least 4 digits")
    return number[-4:]
