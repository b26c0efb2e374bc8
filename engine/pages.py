"""``Page[T]``: one page of a newest-first list, the shape every list in the product returns.

A page knows whether more follow and the cursor of the next one. The cursor is the last item's
public id as text: what clients send back as ``starting_after`` (every list's wire format since
the first one), so ``next_cursor`` is what a "next page" link or ``data[-1].id`` carries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
U = TypeVar("U")


def cursor_text(item_id: Any) -> str:
    """The wire cursor of an item: its public id as text (a UUID, an API key id, an audit entry's
    number). The one encoding: every list decodes ``starting_after`` as the id it names."""
    return str(item_id)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool
    #: ``starting_after`` for the page after this one; None on the last page.
    next_cursor: str | None

    @staticmethod
    def empty() -> Page[Any]:
        """No items, no next page (a list that cannot hold anything for this caller)."""
        return Page(items=[], has_more=False, next_cursor=None)

    def map(self, view: Callable[[T], U]) -> Page[U]:
        """The same page with each item rendered by ``view`` (a row into its public object)."""
        return self.with_items([view(item) for item in self.items])

    def with_items(self, items: Sequence[U]) -> Page[U]:
        """The same page holding ``items`` (the rendered items, same order and count)."""
        return Page(items=items, has_more=self.has_more, next_cursor=self.next_cursor)


def page_of(fetched: Sequence[T], limit: int, *, key: Callable[[T], Any]) -> Page[T]:
    """The page of ``fetched``: up to ``limit + 1`` items read for a page of ``limit``. The extra
    one only tells that more follow (a list of exactly ``limit`` items has no next page)."""
    items = fetched[:limit]
    has_more = len(fetched) > limit
    return Page(items=items, has_more=has_more, next_cursor=cursor_text(key(items[-1])) if has_more else None)


__all__ = ["Page", "cursor_text", "page_of"]
