"""engine.money: exact parsing and formatting of amounts."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from iso4217 import Currency

from engine.money import (
    MAX_AMOUNT_MINOR,
    AmountError,
    CurrencyError,
    currency_exponent,
    format_amount,
    parse_amount,
)

USABLE_CURRENCIES = sorted(c.code for c in Currency if c.exponent is not None)


@pytest.mark.parametrize(("code", "exponent"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("BHD", 3), ("KWD", 3)])
def test_currency_exponent(code, exponent):
    assert currency_exponent(code) == exponent


@pytest.mark.parametrize("code", ["usd", "Usd", " USD", "USD ", "US", "USDX", "", "ZZZ", "XAU", "XXX", "XTS", 840, None])
def test_currency_exponent_rejects(code):
    with pytest.raises(CurrencyError):
        currency_exponent(code)


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "USD", 1250),
        ("12.5", "USD", 1250),
        ("12", "USD", 1200),
        ("0.01", "USD", 1),
        ("0.5", "USD", 50),
        ("12", "JPY", 12),
        ("1", "JPY", 1),
        ("0.001", "BHD", 1),
        ("1.5", "BHD", 1500),
        ("999999999.99", "USD", MAX_AMOUNT_MINOR),
        ("99999999999", "JPY", MAX_AMOUNT_MINOR),
    ],
)
def test_parse_amount(text, currency, minor):
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        # Shape.
        ("", "USD"),
        (" 12.50", "USD"),
        ("12.50 ", "USD"),
        ("12. 50", "USD"),
        ("12.50\n", "USD"),
        ("-12.50", "USD"),
        ("+12.50", "USD"),
        ("1e3", "USD"),
        ("1E3", "USD"),
        ("1.2e1", "USD"),
        (".50", "USD"),
        ("12.", "USD"),
        (".", "USD"),
        ("012.50", "USD"),
        ("00", "USD"),
        ("01", "JPY"),
        ("12,50", "USD"),
        ("1,000.00", "USD"),
        ("1_000", "USD"),
        ("12.5.0", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("0x10", "USD"),
        ("١٢", "USD"),  # Arabic-Indic digits
        ("１２", "USD"),  # full-width digits
        # Too many fraction digits.
        ("12.5", "JPY"),
        ("12.0", "JPY"),
        ("12.505", "USD"),
        ("12.500", "USD"),
        ("0.0001", "BHD"),
        # Not strictly positive.
        ("0", "USD"),
        ("0.00", "USD"),
        ("0", "JPY"),
        # Above the cap.
        ("1000000000.00", "USD"),
        ("1000000000", "USD"),
        ("100000000000", "JPY"),
        ("100000000", "BHD"),
        ("9" * 5000, "USD"),
    ],
)
def test_parse_amount_rejects(text, currency):
    with pytest.raises(AmountError):
        parse_amount(text, currency)


@pytest.mark.parametrize("value", [12.5, 1250, Decimal("12.50"), None, True, b"12.50"])
def test_parse_amount_requires_a_string(value):
    with pytest.raises(AmountError):
        parse_amount(value, "USD")


@pytest.mark.parametrize("currency", ["usd", "XAU", "ZZZ"])
def test_parse_amount_rejects_bad_currency(currency):
    with pytest.raises(CurrencyError):
        parse_amount("12.50", currency)


def test_amount_error_messages_are_client_safe():
    with pytest.raises(AmountError, match="at most 2 decimal places"):
        parse_amount("12.505", "USD")
    with pytest.raises(AmountError, match="JPY amounts cannot have decimal places"):
        parse_amount("12.5", "JPY")
    with pytest.raises(AmountError, match=r"at most 999999999\.99"):
        parse_amount("1000000000", "USD")
    with pytest.raises(AmountError, match="greater than zero"):
        parse_amount("0.00", "USD")


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, "USD", "12.50"),
        (1, "USD", "0.01"),
        (100, "USD", "1.00"),
        (0, "USD", "0.00"),
        (5, "JPY", "5"),
        (1, "BHD", "0.001"),
        (1234567, "BHD", "1234.567"),
        (MAX_AMOUNT_MINOR, "USD", "999999999.99"),
        (-1250, "USD", "-12.50"),
        (-5, "USD", "-0.05"),
    ],
)
def test_format_amount(minor, currency, text):
    assert format_amount(minor, currency) == text


@pytest.mark.parametrize("value", [12.5, 12.0, Decimal("12"), "1250", True, None])
def test_format_amount_requires_an_int(value):
    with pytest.raises(TypeError):
        format_amount(value, "USD")


@given(st.sampled_from(USABLE_CURRENCIES), st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR))
def test_format_then_parse_round_trips(currency, minor):
    assert parse_amount(format_amount(minor, currency), currency) == minor


@given(st.sampled_from(USABLE_CURRENCIES), st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR), st.data())
def test_parse_matches_decimal_arithmetic(currency, minor, data):
    """Any valid spelling (fewer fraction digits) parses to what Decimal says."""
    exponent = currency_exponent(currency)
    text = format_amount(minor, currency)
    if exponent:
        trim = data.draw(st.integers(min_value=0, max_value=exponent))
        if trim and text.endswith("0" * trim):
            text = text[:-trim].rstrip(".")
    parsed = parse_amount(text, currency)
    assert parsed == minor
    assert Decimal(text).scaleb(exponent) == parsed


@given(st.text(max_size=20), st.sampled_from(["USD", "JPY", "BHD"]))
def test_parse_never_returns_a_non_positive_or_non_int(text, currency):
    try:
        value = parse_amount(text, currency)
    except AmountError:
        return
    assert type(value) is int
    assert 0 < value <= MAX_AMOUNT_MINOR
    assert parse_amount(format_amount(value, currency), currency) == value


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from([0, 2, 3]))
def test_format_minor_units_is_decimal_arithmetic(minor, exponent):
    """Every integer, negative and zero included, reads as Decimal shifted by the exponent, with
    exactly ``exponent`` fraction digits."""
    from engine.money import format_minor_units

    text = format_minor_units(minor, exponent)
    assert Decimal(text) == Decimal(minor).scaleb(-exponent)
    assert len(text.partition(".")[2]) == exponent
