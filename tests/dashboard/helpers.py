"""A dashboard user agent for HTTP-level tests: its own cookie jar on the in-process app."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager
from typing import AsyncIterator

import httpx

from tests.access.world import PASSWORD

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def idempotency_key_of(html: str) -> str:
    match = _KEY.search(html)
    assert match, "no idempotency key in the page"
    return match.group(1)


@asynccontextmanager
async def agent(api: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The ``api`` fixture's client with an empty cookie jar, emptied again afterwards (the app
    runs in the client's own event loop: a second client could not share it)."""
    api.cookies.clear()
    try:
        yield api
    finally:
        api.cookies.clear()


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    """Open the form, post it; returns the sign-in answer (303 to the payments page when it worked)."""
    form = await client.get("/dashboard/sign-in")
    assert form.status_code == 200, form.text
    return await client.post(
        "/dashboard/sign-in", data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


async def signed_in(client: httpx.AsyncClient, email: str) -> str:
    """Sign in and return the session's CSRF token (from the payments page)."""
    answer = await sign_in(client, email)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/dashboard/payments"
    page = await client.get("/dashboard/payments")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def set_cookie_headers(response: httpx.Response, name: str) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(f"{name}=")]


_KEY_FORM = re.compile(r'action="/dashboard/developers/keys"[^>]*>\s*<input type="hidden" name="csrf_token" value="([^"]+)">\s*'
                       r'<input type="hidden" name="idempotency_key" value="([^"]+)">')


def key_form_of(html: str) -> dict[str, str]:
    """The developers page's create-key form: its CSRF token and its one-time idempotency key."""
    match = _KEY_FORM.search(html)
    assert match, "no create-key form with a one-time key"
    return {"csrf_token": match.group(1), "idempotency_key": match.group(2)}
