"""Every typed record lists the columns its repository selects, in select order (``_make``
builds it by position, so a reordered or added column must show up here)."""

from __future__ import annotations

import pytest

from engine.db import accounts
from engine.db.models import ApiKey, Merchant, User
from engine.db.records import ApiKeyRecord, MerchantRecord, UserLoginRecord, UserRecord

CASES = [
    (MerchantRecord, [c.name for c in Merchant.__table__.c]),
    (ApiKeyRecord, [c.name for c in accounts._KEY_COLUMNS]),
    (UserRecord, [c.name for c in accounts._USER_COLUMNS]),
    (UserLoginRecord, [c.name for c in User.__table__.c]),
]


@pytest.mark.parametrize(("record", "columns"), CASES, ids=[record.__name__ for record, _ in CASES])
def test_a_record_has_the_selected_columns_in_order(record, columns):
    assert list(record._fields) == columns


def test_the_key_and_user_records_leave_the_secrets_out():
    assert "secret_hash" in ApiKey.__table__.c and "secret_hash" not in ApiKeyRecord._fields
    assert "password_hash" not in UserRecord._fields and "password_hash" in UserLoginRecord._fields
