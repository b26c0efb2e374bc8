from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.processor import format_wire_amount, parse_wire_amount


@pytest.mark.parametrize(
    ("minor", "exponent", "text"),
    [
        (1250, 2, "12.50"),
        (1, 2, "0.01"),
        (0, 2, "0.00"),
        (100, 2, "1.00"),
        (1250, 0, "1250"),
        (5, 3, "0.005"),
        (123456789, 4, "12345.6789"),
    ],
)
def test_format_examples(minor, exponent, text):
    assert format_wire_amount(minor, exponent) == text
    assert parse_wire_amount(text, exponent) == minor


def test_parse_accepts_normalized_decimals():
    assert parse_wire_amount("12.5", 2) == 1250
    assert parse_wire_amount("1250.0", 0) == 1250


@pytest.mark.parametrize("bad", ["12.345", "abc", "", "-1.00", "NaN", "Infinity", "1e400x"])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_wire_amount(bad, 2)


@pytest.mark.parametrize("bad", [(-1, 2), (1, -1), (1, 5), (1, True)])
def test_format_rejects(bad):
    with pytest.raises(ValueError):
        format_wire_amount(*bad)


def test_format_rejects_float():
    with pytest.raises(TypeError):
        format_wire_amount(12.5, 2)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**18), st.integers(min_value=0, max_value=4))
def test_round_trip(minor, exponent):
    text = format_wire_amount(minor, exponent)
    assert parse_wire_amount(text, exponent) == minor
    assert Decimal(text) == Decimal(minor).scaleb(-exponent)
    if exponent:
        whole, frac = text.split(".")
        assert len(frac) == exponent and whole.isdigit()
    else:
        assert text.isdigit()


def _decimal_reference(text: str, exponent: int) -> int | None:
    scaled = Decimal(text).scaleb(exponent)
    return int(scaled) if scaled == scaled.to_integral_value() else None


@given(st.from_regex(r"\A *[0-9]{1,15}(\.[0-9]{0,6})? *\Z"), st.integers(min_value=0, max_value=4))
def test_plain_decimals_parse_like_decimal(text, exponent):
    """The integer fast path for "12.50"-shaped text agrees with exact Decimal arithmetic."""
    expected = _decimal_reference(text.strip(), exponent)
    if expected is None:
        with pytest.raises(ValueError):
            parse_wire_amount(text, exponent)
    else:
        assert parse_wire_amount(text, exponent) == expected


@pytest.mark.parametrize(("text", "minor"), [("1.25e1", 1250), ("+12.50", 1250), (" 12.50\n", 1250), ("12.", 1200)])
def test_other_decimal_spellings_still_parse(text, minor):
    assert parse_wire_amount(text, 2) == minor
