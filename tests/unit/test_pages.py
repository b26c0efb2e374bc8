"""``engine.pages.Page`` and the dashboard's next-page link: the cursor is the last item's id as
text, only when more follow, and a link keeps the filters while replacing the list's cursor."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

from api.dashboard.paging import next_page_url
from engine.pages import Page, page_of


def test_the_extra_row_only_says_more_follow():
    ids = [uuid.uuid4() for _ in range(4)]
    rows = [SimpleNamespace(id=i) for i in ids]
    more = page_of(rows, 3, key=lambda r: r.id)
    assert [r.id for r in more.items] == ids[:3] and more.has_more and more.next_cursor == str(ids[2])
    last = page_of(rows[:3], 3, key=lambda r: r.id)
    assert len(last.items) == 3 and not last.has_more and last.next_cursor is None
    assert page_of([], 3, key=lambda r: r.id) == Page.empty()


def test_rendering_keeps_the_page_and_its_cursor():
    page = page_of([SimpleNamespace(id=n) for n in (9, 8, 7)], 2, key=lambda r: r.id)
    shown = page.map(lambda r: f"entry {r.id}")
    assert list(shown.items) == ["entry 9", "entry 8"] and shown.has_more and shown.next_cursor == "8"
    assert page.with_items(["a", "b"]).next_cursor == "8"


def test_the_next_link_keeps_filters_and_replaces_the_cursor():
    page = Page(items=[1], has_more=True, next_cursor="42")
    url = next_page_url("/dashboard/developers", {"action": "sign in", "audit_after": "99", "event_type": "refund.failed"}, page,
                        cursor="audit_after")
    assert url is not None and urlsplit(url).path == "/dashboard/developers"
    assert parse_qs(urlsplit(url).query) == {"action": ["sign in"], "audit_after": ["42"], "event_type": ["refund.failed"]}
    assert next_page_url("/dashboard/payments", {}, Page.empty()) is None
