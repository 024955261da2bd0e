"""Tend's routes that act for a signed-in person (sign-out, the data export), over real
HTTP against a real `tend serve`: a request from another site, without the page's form
token, without a cookie or after the session ended does nothing."""

from __future__ import annotations

import http.client
import io
import zipfile
from urllib.parse import urlencode, urlsplit

from couples import accounts
from infra.db import engine_for, transaction
from tend.csrf import FORM_FIELD, form_token
from tend.web import EXPORT, EXPORT_PATH, SIGN_OUT
from tests.factories import make_couple


def _send(
    url: str,
    method: str,
    path: str,
    *,
    cookie: str | None = None,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    sent = dict(headers or {})
    if cookie:
        sent["Cookie"] = f"tend_session={cookie}"
    body = None
    if form is not None:
        body = urlencode(form)
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    connection.request(method, path, body=body, headers=sent)
    response = connection.getresponse()
    data = response.read()
    found: dict[str, str] = {}
    for name, value in response.getheaders():  # Set-Cookie may come more than once
        found[name.lower()] = f"{found[name.lower()]}, {value}" if name.lower() in found else value
    connection.close()
    return response.status, found, data


def _live(token: str) -> bool:
    with transaction() as s:
        return accounts.resolve_session(s, token, touch=False) is not None


SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def test_sign_out_ends_the_session_only_when_posted_by_tends_own_page(served, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, _ = make_couple(s)
        token = accounts.start_session(s, a.id)
    good = {FORM_FIELD: form_token(token, SIGN_OUT)}
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}

    # A link on another site (a top-level GET carries a SameSite=Lax cookie).
    status, headers, _ = _send(served.url, "GET", "/auth/signed-out", cookie=token, headers=evil)
    assert status == 403 and "tend_session" not in headers.get("set-cookie", "")
    # A form on another site, even one that somehow had the token.
    status, _, _ = _send(
        served.url, "POST", "/auth/signed-out", cookie=token, form=good, headers=evil
    )
    assert status == 403
    status, _, _ = _send(
        served.url,
        "POST",
        "/auth/signed-out",
        cookie=token,
        form=good,
        headers={"Origin": "http://evil.example"},
    )
    assert status == 403
    # Same origin, but without the page's token, or with another session's.
    status, _, _ = _send(served.url, "POST", "/auth/signed-out", cookie=token, headers=SAME_ORIGIN)
    assert status == 403
    wrong = {FORM_FIELD: form_token("someone else's session", SIGN_OUT)}
    status, _, _ = _send(
        served.url, "POST", "/auth/signed-out", cookie=token, form=wrong, headers=SAME_ORIGIN
    )
    assert status == 403
    # Origin: null, as a browser sends it under no-referrer: the site check still holds.
    null_cross = {"Origin": "null", "Sec-Fetch-Site": "cross-site"}
    status, _, _ = _send(
        served.url, "POST", "/auth/signed-out", cookie=token, form=good, headers=null_cross
    )
    assert status == 403
    assert _live(token)

    # Tend's own page: its Referrer-Policy (no-referrer) makes the browser send Origin: null.
    origin = {"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    status, headers, _ = _send(
        served.url, "POST", "/auth/signed-out", cookie=token, form=good, headers=origin
    )
    assert status == 303 and headers["location"] == "/sign_in"
    assert "max-age=0" in headers["set-cookie"].lower()
    assert not _live(token)


def test_the_export_is_built_only_for_a_live_session_of_its_own_page(served, tend_env) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        _, a, _ = make_couple(s, "ari@example.org", "bo@example.org")
        token = accounts.start_session(s, a.id)
    good = {FORM_FIELD: form_token(token, EXPORT)}

    refused = [
        _send(served.url, "POST", EXPORT_PATH, form=good, headers=SAME_ORIGIN),  # no cookie
        _send(served.url, "GET", EXPORT_PATH, cookie=token),
        _send(served.url, "POST", EXPORT_PATH, cookie=token, headers=SAME_ORIGIN),  # no token
        _send(
            served.url,
            "POST",
            EXPORT_PATH,
            cookie=token,
            form={FORM_FIELD: form_token(token, SIGN_OUT)},  # a token for something else
            headers=SAME_ORIGIN,
        ),
        _send(
            served.url,
            "POST",
            EXPORT_PATH,
            cookie=token,
            form=good,
            headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        ),
    ]
    for status, headers, body in refused:
        assert status == 403, status
        assert headers["content-type"].startswith("text/html") and b"ari@" not in body

    status, headers, body = _send(
        served.url, "POST", EXPORT_PATH, cookie=token, form=good, headers=SAME_ORIGIN
    )
    assert status == 200
    assert headers["content-type"] == "application/zip"
    assert headers["cache-control"] == "no-store"
    assert headers["content-disposition"].startswith('attachment; filename="tend-export-')
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert "ari@example.org" in archive.read("tend-export.json").decode()

    # Signed out on another device: the same cookie and form token get nothing.
    with transaction() as s:
        accounts.end_all_sessions(s, a.id)
    status, _, body = _send(
        served.url, "POST", EXPORT_PATH, cookie=token, form=good, headers=SAME_ORIGIN
    )
    assert status == 403 and not body.startswith(b"PK")
