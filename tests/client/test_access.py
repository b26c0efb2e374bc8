"""API keys, users and tokens, and the audit log through the client."""

from __future__ import annotations

import time
import uuid

import pytest

from easypay_client import AuthenticationError, Client, PermissionDeniedError, RateLimitError
from tests.client.conftest import eventually


def test_api_keys_are_created_listed_retrieved_and_revoked(api_url, client: Client, merchant):
    created = client.api_keys.create(role="viewer", name="reporting", rate_limits={"minute": 50})
    assert created.key and created.key.startswith(f"ak_{created.id}:") and created.role == "viewer"
    assert created.rate_limits == {"minute": 50} and created.merchant_id == str(merchant.id)
    # The new key works, for what a viewer may do
    with Client(api_url, created.key) as viewer:
        assert viewer.payments.list(limit=1).data is not None
        with pytest.raises(PermissionDeniedError):
            viewer.api_keys.list()
    assert client.api_keys.retrieve(created.id).key is None
    assert created.id in {k.id for k in client.api_keys.list().data}
    extra = client.api_keys.create(role="developer")
    assert {created.id, extra.id} <= {k.id for k in client.api_keys.list_all(limit=1)}
    revoked = client.api_keys.revoke(created.id)
    assert revoked.revoked_at is not None
    # Revocation takes effect everywhere within a second (each process re-reads after 1 s)
    with Client(api_url, created.key) as gone:

        def refused() -> AuthenticationError | None:
            try:
                gone.payments.list(limit=1)
            except AuthenticationError as exc:
                return exc
            return None

        assert eventually(refused, timeout_s=5, what="the revoked key refused").status == 401


def test_users_get_tokens_that_act_as_credentials(api_url, admin):
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    with Client(api_url, admin.key) as platform:
        user = platform.users.create(email=email, password="correct horse battery", role="merchant", merchant_id=str(admin.id))
        assert user.email == email and user.role == "merchant" and user.disabled_at is None
        assert platform.users.retrieve(user.id).id == user.id
        assert user.id in {u.id for u in platform.users.list().data}
        assert user.id in {u.id for u in platform.users.list_all(limit=1)}
        # A token for the user is a credential of its own
        with Client(api_url, None) as anonymous:
            token = anonymous.tokens.create(email=email, password="correct horse battery")
        assert token.token_type == "Bearer" and token.expires_in > 0
        with Client(api_url, token.access_token) as as_user:
            assert as_user.payments.list(limit=1).has_more in (True, False)
        # Disabling the user ends its tokens
        updated = platform.users.update(user.id, disabled=True)
        assert updated.disabled_at is not None
        with Client(api_url, token.access_token) as as_user, pytest.raises(AuthenticationError):
            as_user.payments.list(limit=1)
        with Client(api_url, None) as anonymous, pytest.raises(AuthenticationError):
            anonymous.tokens.create(email=email, password="correct horse battery")


def test_the_audit_log_pages_through_what_was_done(api_url, client: Client, merchant):
    for name in ("a", "b", "c"):
        client.api_keys.create(role="viewer", name=f"audit-{name}")

    def creations():
        return [e for e in client.audit_logs.list_all(limit=2, action="create_api_key") if e.actor_id == merchant.key_id]

    deadline = time.monotonic() + 10  # entries are written in batches every 200 ms
    while len(entries := creations()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(entries) == 3 and all(e.outcome == "success" and e.object_type == "api_key" for e in entries)
    page = client.audit_logs.list(limit=1, action="create_api_key", actor_id=merchant.key_id)
    assert page.has_more and len(page.data) == 1
    after = client.audit_logs.list(limit=1, action="create_api_key", actor_id=merchant.key_id, starting_after=page.data[0].id)
    assert after.data[0].id < page.data[0].id


def test_a_real_rate_limit_is_a_typed_error_with_its_retry_after(api_url, client: Client):
    limited = client.api_keys.create(role="viewer", rate_limits={"minute": 2})
    with Client(api_url, limited.key, max_retries=0) as viewer:
        viewer.payments.list(limit=1)
        viewer.payments.list(limit=1)
        with pytest.raises(RateLimitError) as throttled:
            viewer.payments.list(limit=1)
    assert throttled.value.status == 429 and throttled.value.code == "rate_limited"
    assert throttled.value.retry_after is not None and 0 < throttled.value.retry_after <= 60
