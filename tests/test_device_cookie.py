"""The device cookie middleware at the ASGI level: which responses carry a new cookie."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from starlette.requests import Request

from couples import accounts
from couples.clients import device_key
from couples.models import KnownDevice
from infra.settings import get_settings
from tend import routes
from tend.device_cookie import DeviceCookieMiddleware
from tests.factories import make_user


def _respond(status: int, content_type: str | None, request_headers: list[tuple[bytes, bytes]]):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        headers = [(b"content-type", content_type.encode())] if content_type else []
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/", "headers": request_headers}
    # In a thread of its own: after the browser tests, Playwright's sync API keeps an
    # event loop running in this one, and asyncio.run() refuses to nest.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, DeviceCookieMiddleware(app)(scope, receive, send)).result()
    return [v.decode() for k, v in sent[0]["headers"] if k == b"set-cookie"]


PAGE = [(b"accept", b"text/html,application/xhtml+xml,*/*;q=0.8")]


@pytest.mark.parametrize(
    ("status", "content_type", "request_headers", "gets_cookie"),
    [
        (200, "text/html; charset=utf-8", PAGE, True),
        (304, None, PAGE, True),  # a page revalidated from the browser's cache
        (200, "application/javascript", [(b"accept", b"*/*")], False),
        (304, None, [(b"accept", b"*/*")], False),
        (200, "text/html", [*PAGE, (b"cookie", b"a=1; tend_device=known")], False),
    ],
)
def test_pages_without_a_device_cookie_get_one(
    monkeypatch, status, content_type, request_headers, gets_cookie
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TEND_BASE_URL", "http://tend.test")
    get_settings.cache_clear()
    cookies = _respond(status, content_type, request_headers)
    get_settings.cache_clear()
    assert bool(cookies) == gets_cookie
    if gets_cookie:
        [cookie] = cookies
        assert cookie.startswith("tend_device=") and len(cookie.split(";")[0]) > 40
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # TEND_BASE_URL is http:// in the tests


def _get(path: str, query: str, cookie: str | None = None) -> Request:
    headers = [(b"cookie", cookie.encode())] if cookie else []

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode()}
    return Request({**scope, "headers": headers}, receive)


def test_a_mailed_sign_in_link_makes_the_browser_a_known_device(tx, tend_env) -> None:
    """Every way of signing in (here a link from a mail) remembers the browser for the
    account; a browser that came without a device cookie is given one."""
    with tx() as s:
        user = make_user(s, "sam@example.org")
        with_cookie = accounts.issue_sign_in_link(s, user.id, "/checkin")
        without_cookie = accounts.issue_sign_in_link(s, user.id, "/checkin")
    response = routes.sign_in_link(
        _get("/auth/link", f"token={with_cookie}", "tend_device=sams-phone")
    )
    assert not any(v.startswith(b"tend_device=") for k, v in response.raw_headers)
    response = routes.sign_in_link(_get("/auth/link", f"token={without_cookie}"))
    [given] = [
        v.decode().split(";")[0].removeprefix("tend_device=")
        for k, v in response.raw_headers
        if k == b"set-cookie" and v.startswith(b"tend_device=")
    ]
    with tx() as s:
        known = set(s.scalars(select(KnownDevice.device).where(KnownDevice.user_id == user.id)))
    assert known == {device_key("sams-phone", ""), device_key(given, "")}
