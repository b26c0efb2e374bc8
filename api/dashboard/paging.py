"""The "Older →" link of a dashboard list: the page's filters again, with the next page's cursor
(the ``starting_after`` the API takes, ``engine.pages``) under the list's cursor parameter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from engine.pages import Page


def next_page_url(path: str, given: Mapping[str, str], page: Page[Any], *, cursor: str = "starting_after") -> str | None:
    """``path`` with ``given`` (the query shown) and ``cursor`` set to the page's next cursor; None on
    the last page."""
    if page.next_cursor is None:
        return None
    kept = {name: value for name, value in given.items() if name != cursor}
    return f"{path}?{urlencode({**kept, cursor: page.next_cursor})}"


__all__ = ["next_page_url"]
