"""engine.cards: brand detection and card validation."""

import datetime

import pytest
from stdnum import luhn

from engine.cards import Brand, FieldError, detect_brand, last4, validate_card

TODAY = datetime.date(2026, 5, 15)
F = "payment_method.card"

# Authorize.net sandbox test cards.
SANDBOX_CARDS = [
    ("4007000000027", Brand.VISA),
    ("4012888818888", Brand.VISA),
    ("4111111111111111", Brand.VISA),
    ("5424000000000015", Brand.MASTERCARD),
    ("2223000010309703", Brand.MASTERCARD),
    ("2223000010309711", Brand.MASTERCARD),
    ("370000000000002", Brand.AMEX),
    ("6011000000000012", Brand.DISCOVER),
    ("3088000000000017", Brand.JCB),
    ("38000000000006", Brand.DINERS),
]


def cvc_for(brand):
    return "1234" if brand is Brand.AMEX else "123"


@pytest.mark.parametrize(("number", "brand"), SANDBOX_CARDS)
def test_sandbox_cards_are_detected_and_valid(number, brand):
    assert detect_brand(number) is brand
    assert validate_card(number, 12, 2030, cvc_for(brand), today=TODAY) == []
    assert validate_card(number, 12, 2030, None, today=TODAY) == []


@pytest.mark.parametrize(
    ("prefix", "brand"),
    [
        ("4", Brand.VISA),
        ("51", Brand.MASTERCARD),
        ("55", Brand.MASTERCARD),
        ("2221", Brand.MASTERCARD),
        ("2720", Brand.MASTERCARD),
        ("34", Brand.AMEX),
        ("37", Brand.AMEX),
        ("6011", Brand.DISCOVER),
        ("644", Brand.DISCOVER),
        ("649", Brand.DISCOVER),
        ("65", Brand.DISCOVER),
        ("622126", Brand.DISCOVER),
        ("622925", Brand.DISCOVER),
        ("622125", Brand.UNIONPAY),
        ("622926", Brand.UNIONPAY),
        ("62", Brand.UNIONPAY),
        ("3528", Brand.JCB),
        ("3589", Brand.JCB),
        ("3088", Brand.JCB),
        ("3096", Brand.JCB),
        ("3102", Brand.JCB),
        ("3112", Brand.JCB),
        ("3120", Brand.JCB),
        ("3158", Brand.JCB),
        ("3159", Brand.JCB),
        ("3337", Brand.JCB),
        ("3349", Brand.JCB),
        ("300", Brand.DINERS),
        ("305", Brand.DINERS),
        ("36", Brand.DINERS),
        ("38", Brand.DINERS),
        ("39", Brand.DINERS),
        # Just outside the ranges.
        ("50", Brand.UNKNOWN),
        ("56", Brand.UNKNOWN),
        ("2220", Brand.UNKNOWN),
        ("2721", Brand.UNKNOWN),
        ("6010", Brand.UNKNOWN),
        ("643", Brand.UNKNOWN),
        ("3527", Brand.UNKNOWN),
        ("3590", Brand.UNKNOWN),
        ("306", Brand.UNKNOWN),
        ("3103", Brand.UNKNOWN),
        ("3350", Brand.UNKNOWN),
        ("1", Brand.UNKNOWN),
        ("9", Brand.UNKNOWN),
    ],
)
def test_detect_brand_by_iin(prefix, brand):
    assert detect_brand(prefix.ljust(16, "0")) is brand


@pytest.mark.parametrize("number", ["", "4111 1111 1111 1111", "4111-1111-1111-1111", "abcd", None, 4111111111111111])
def test_detect_brand_of_non_digits_is_unknown(number):
    assert detect_brand(number) is Brand.UNKNOWN


def test_brand_is_a_str_enum():
    assert Brand.VISA == "visa"
    assert [b.value for b in Brand] == ["visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "unknown"]


def with_check_digit(partial):
    return partial + luhn.calc_check_digit(partial)


def fields(errors):
    return [e.field for e in errors]


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("4111 1111 1111 1111", "digits only"),
        ("4111-1111-1111-1111", "digits only"),
        ("", "digits only"),
        ("４１１１１１１１１１１１１１１１", "digits only"),  # full-width digits
        (with_check_digit("4111111111"), "12 to 19 digits"),  # 11 digits
        (with_check_digit("4" * 19), "12 to 19 digits"),  # 20 digits
        (with_check_digit("411111111111111"[:13]), "Visa card numbers must be 13, 16 or 19 digits"),  # 14
        (with_check_digit("54240000000000"), "Mastercard card numbers must be 16 digits"),  # 15
        (with_check_digit("3700000000000000"), "American Express card numbers must be 15 digits"),  # 17
        (with_check_digit("60110000000000"), "Discover card numbers must be 16 to 19 digits"),  # 15
        (with_check_digit("30880000000000"), "JCB card numbers must be 16 to 19 digits"),  # 15
        (with_check_digit("380000000000"), "Diners Club card numbers must be 14 to 19 digits"),  # 13
        (with_check_digit("62000000000000"), "UnionPay card numbers must be 16 to 19 digits"),  # 15
        ("4111111111111112", "check digit"),
    ],
)
def test_number_rejections(number, message):
    errors = validate_card(number, 12, 2030, None, today=TODAY)
    assert len(errors) == 1
    assert errors[0].field == f"{F}.number"
    assert message in errors[0].message


def test_wrong_length_and_luhn_are_both_reported():
    errors = validate_card("41111111111111", 12, 2030, None, today=TODAY)
    assert fields(errors) == [f"{F}.number", f"{F}.number"]


@pytest.mark.parametrize("month", [0, 13, -1, True, "12", 12.0, None])
def test_exp_month_rejections(month):
    errors = validate_card("4111111111111111", month, 2030, "123", today=TODAY)
    assert errors == [FieldError(f"{F}.exp_month", "must be a month number from 1 to 12")]


@pytest.mark.parametrize(("year", "message"), [(30, "4-digit"), (999, "4-digit"), (10000, "4-digit"), ("2030", "4-digit"), (2030.0, "4-digit"), (None, "4-digit"), (2047, "no later than 2046")])
def test_exp_year_rejections(year, message):
    errors = validate_card("4111111111111111", 12, year, "123", today=TODAY)
    assert fields(errors) == [f"{F}.exp_year"]
    assert message in errors[0].message


def test_twenty_years_ahead_is_allowed():
    assert validate_card("4111111111111111", 12, 2046, "123", today=TODAY) == []


@pytest.mark.parametrize(
    ("month", "year", "field"),
    [(4, 2026, "exp_month"), (1, 2026, "exp_month"), (12, 2025, "exp_year"), (6, 2020, "exp_year")],
)
def test_expired_cards(month, year, field):
    errors = validate_card("4111111111111111", month, year, "123", today=TODAY)
    assert errors == [FieldError(f"{F}.{field}", "card has expired")]


def test_card_is_valid_through_the_last_day_of_its_expiry_month():
    assert validate_card("4111111111111111", 5, 2026, "123", today=datetime.date(2026, 5, 31)) == []
    assert validate_card("4111111111111111", 5, 2026, "123", today=datetime.date(2026, 5, 1)) == []
    assert fields(validate_card("4111111111111111", 5, 2026, "123", today=datetime.date(2026, 6, 1))) == [f"{F}.exp_month"]
    assert validate_card("4111111111111111", 12, 2026, "123", today=datetime.date(2026, 12, 31)) == []
    assert fields(validate_card("4111111111111111", 12, 2026, "123", today=datetime.date(2027, 1, 1))) == [f"{F}.exp_year"]


@pytest.mark.parametrize(
    ("number", "cvc", "message"),
    [
        ("4111111111111111", "12", "must be 3 digits"),
        ("4111111111111111", "1234", "must be 3 digits"),
        ("4111111111111111", "12a", "must be 3 digits"),
        ("4111111111111111", " 123", "must be 3 digits"),
        ("4111111111111111", "", "must be 3 digits"),
        ("4111111111111111", "１２３", "must be 3 digits"),
        ("4111111111111111", 123, "must be 3 digits"),
        ("370000000000002", "123", "must be 4 digits"),
        ("370000000000002", "12345", "must be 4 digits"),
        ("5424000000000015", "1234", "must be 3 digits"),
    ],
)
def test_cvc_rejections(number, cvc, message):
    assert validate_card(number, 12, 2030, cvc, today=TODAY) == [FieldError(f"{F}.cvc", message)]


def test_all_problems_are_reported_together():
    errors = validate_card("4111111111111112", 13, 2020, "12", today=TODAY)
    assert fields(errors) == [f"{F}.number", f"{F}.exp_month", f"{F}.exp_year", f"{F}.cvc"]


def test_prefix_names_the_fields():
    errors = validate_card("x", 0, 0, "x", today=TODAY, prefix="card")
    assert fields(errors) == ["card.number", "card.exp_month", "card.exp_year", "card.cvc"]


@pytest.mark.parametrize(
    ("number", "cvc"),
    [("4111111111111112", "987"), ("4111111111111111", "98"), ("411111111111", "9876"), ("370000000000002", "987")],
)
def test_messages_never_contain_number_or_cvc(number, cvc):
    errors = validate_card(number, 13, 1999, cvc, today=TODAY)
    assert errors
    for error in errors:
        text = f"{error.field} {error.message} {error!r}"
        assert number not in text
        assert number[-4:] not in text
        assert cvc not in text


def test_last4():
    assert last4("4111111111111111") == "1111"
    assert last4("370000000000002") == "0002"
    for bad in ["123", "4111 1111 1111 1111", ""]:
        with pytest.raises(ValueError):
            last4(bad)


@pytest.mark.parametrize(
    "text",
    ["4111111111111111", "x 4111 1111 1111 1111 y", "4111-1111-1111-1111", "4111.1111.1111.1111",
     "3782 822463 10005", "4111 1111 1111 1111 110", "order 12345 4111 1111 1111 1111", "a4111111111111111b"],
)
def test_find_card_numbers_finds_cards_in_text(text):
    from engine.cards import find_card_numbers

    assert find_card_numbers(text)


@pytest.mark.parametrize(
    "text",
    ["4111111111111112",  # fails Luhn
     "41111111111111111111",  # 20 digits
     "4111 1111",  # too short
     # Joined, each of these is Luhn-valid and card-length: the group layout tells them apart.
     "2026-12-03 2026-12-19", "192.168.100.100", "1715772345.123457",  # Unix time with microseconds
     "03.12.2026", "+1 555 123 4568",
     "4111  1111  1111  1111"],  # double spaces are not a card layout
)
def test_find_card_numbers_leaves_ordinary_numbers(text):
    from engine.cards import find_card_numbers

    assert find_card_numbers(text) == []
