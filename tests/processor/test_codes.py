"""The failure-code table: every entry, and the human-readable docstring table, agree."""

from __future__ import annotations

import re

import pytest

from engine.processor import Outcome, TransactionResult, codes, failure_for

EXPECTED = {
    "card_declined": ["2", "3", "4"],
    "incorrect_number": ["6", "37", "315"],
    "invalid_expiry": ["7", "316"],
    "expired_card": ["8", "317"],
    "incorrect_cvc": ["44", "65", "78"],
    "avs_mismatch": ["27", "127"],
    "avs_and_cvc_mismatch": ["45"],
    "duplicate_transaction": ["11", "318"],
    "authentication_failed": ["E00007", "E00005", "E00006", "E00008", "13"],
    "processing_error": ["19", "20", "21", "22", "23", "25", "26", "36", "57", "58", "59", "60", "61", "62", "63",
                         "120", "121", "122", "E00001"],
    "amount_invalid": ["5", "49", "289"],
    "card_type_not_accepted": ["17", "28"],
    "transaction_not_found": ["15", "16", "319", "E00040"],
    "capture_exceeds_authorized": ["47"],
    "partial_capture_not_supported": ["48"],
    "refund_not_settled": ["54", "50"],
    "refund_exceeds_captured": ["55", "51"],
    "held_for_review": ["193", "252", "253"],
    "fraud_declined": ["250", "251", "254"],
    "configuration_error": ["E00002", "E00003", "E00004", "E00009", "E00010", "E00011", "12", "33", "66", "290"],
}


def test_table_is_exactly_the_expected_mapping():
    flat = {code: stable for stable, processor_codes in EXPECTED.items() for code in processor_codes}
    assert dict(codes.PROCESSOR_CODES) == flat


def _docstring_table() -> dict[str, set[str]]:
    """Parse the RST table in codes.__doc__ (rows between the 2nd and 3rd ``====`` rules)."""
    lines = codes.__doc__.splitlines()
    rules = [i for i, line in enumerate(lines) if line.startswith("=====")]
    rows: dict[str, set[str]] = {}
    current = None
    for line in lines[rules[1] + 1 : rules[2]]:
        match = re.match(r"^([a-z_]+)\s{2,}(.+?)\s*$", line)
        if match:
            current = match.group(1)
            rows[current] = set(re.findall(r"\bE?\d+\b", match.group(2)))
        else:  # continuation line of the previous row
            assert current is not None and line.startswith(" "), line
            rows[current].update(re.findall(r"\bE?\d+\b", line))
    return rows


def test_docstring_table_matches_code_table():
    table = _docstring_table()
    assert set(table) == set(EXPECTED)
    for stable, documented in table.items():
        assert documented == set(EXPECTED[stable]), stable


@pytest.mark.parametrize(
    ("processor_code", "stable"), [(c, s) for s, cs in EXPECTED.items() for c in cs]
)
def test_every_entry(processor_code, stable):
    outcome = Outcome.DECLINED if stable in ("card_declined",) else Outcome.ERROR
    failure = failure_for(TransactionResult(outcome=outcome, reason_code=processor_code))
    assert failure.code == stable
    assert failure.processor_code == processor_code
    assert failure.message == codes.MESSAGES[stable]


def test_defaults_and_outcome_rules():
    unmapped_decline = failure_for(TransactionResult(Outcome.DECLINED, reason_code="9999"))
    assert (unmapped_decline.code, unmapped_decline.processor_code) == ("card_declined", "9999")
    unmapped_error = failure_for(TransactionResult(Outcome.ERROR, reason_code="152"))
    assert (unmapped_error.code, unmapped_error.processor_code) == ("processing_error", "152")
    assert failure_for(TransactionResult(Outcome.ERROR)).code == "processing_error"
    held = failure_for(TransactionResult(Outcome.HELD, reason_code="9"))
    assert (held.code, held.processor_code) == ("held_for_review", "9")
    dup = failure_for(TransactionResult(Outcome.DUPLICATE, reason_code="11", transaction_id="1"))
    assert dup.code == "duplicate_transaction"
    not_sent = failure_for(TransactionResult(Outcome.NOT_SENT, error="ConnectError"))
    assert (not_sent.code, not_sent.processor_code) == ("processing_error", None)
    unknown = failure_for(TransactionResult(Outcome.UNKNOWN, error="ReadTimeout"))
    assert (unknown.code, unknown.processor_code) == ("outcome_unknown", None)
    with pytest.raises(ValueError):
        failure_for(TransactionResult(Outcome.APPROVED, reason_code="1"))


def test_insufficient_funds_is_documented_unmapped():
    assert "insufficient_funds" in codes.MESSAGES
    assert "insufficient_funds" not in codes.PROCESSOR_CODES.values()
    assert "no Authorize.net code maps to it" in codes.__doc__
