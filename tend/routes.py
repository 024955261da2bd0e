"""HTTP routes served beside the Streamlit app. They exist because only an HTTP
response can set or clear the HttpOnly session cookie."""

from __future__ import annotations

import html

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from couples import accounts
from couples.accounts import SESSION_ABSOLUTE
from couples.db import get_engine, transaction
from couples.errors import TendError
from couples.settings import get_settings
from tend.web import SESSION_COOKIE


def _safe_next(value: str | None, default: str = "/") -> str:
    # Only paths on this site: never an open redirect to somewhere else.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _signed_in_redirect(token: str, target: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(SESSION_ABSOLUTE.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=get_settings().base_url.startswith("https://"),
        path="/",
    )
    return response


def _message_page(title: str, message: str, link: str, link_text: str, status: int) -> Response:
    body = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>{html.escape(title)} · Tend</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>
<p><a href="{html.escape(link)}">{html.escape(link_text)}</a></p></body></html>"""
    return HTMLResponse(body, status_code=status)


def session_from_ticket(request: Request) -> Response:
    """A sign-in just succeeded in the Streamlit page; turn its ticket into the cookie."""
    ticket = request.query_params.get("ticket", "")
    with transaction() as session:
        record = accounts.redeem_token(session, ticket, "session_ticket")
        token = accounts.start_session(session, record.user_id) if record else None
    if token is None:
        return RedirectResponse("/sign_in", status_code=303)
    return _signed_in_redirect(token, _safe_next(request.query_params.get("next")))


def confirm_email(request: Request) -> Response:
    try:
        with transaction() as session:
            user = accounts.confirm_registration(session, request.query_params.get("token", ""))
            token = accounts.start_session(session, user.id)
    except TendError as exc:
        return _message_page("Link not valid", str(exc), "/register", "Register", 400)
    return _signed_in_redirect(token, "/couple")


def sign_in_link(request: Request) -> Response:
    """Links in reminder mails: sign in once and land on the right page. An expired or
    used link still leads to the sign-in page."""
    with transaction() as session:
        record = accounts.redeem_token(
            session, request.query_params.get("token", ""), "sign_in_link"
        )
        token = accounts.start_session(session, record.user_id) if record else None
        target = _safe_next(record.target if record else None)
    if token is None:
        return RedirectResponse("/sign_in", status_code=303)
    return _signed_in_redirect(token, target)


def signed_out(request: Request) -> Response:
    with transaction() as session:
        accounts.end_session(session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/sign_in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def healthz(request: Request) -> Response:
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # report, don't crash: this is what the check is for
        return JSONResponse({"status": "error", "database": repr(exc)}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


ROUTES = [
    Route("/auth/session", session_from_ticket, methods=["GET"]),
    Route("/auth/confirm", confirm_email, methods=["GET"]),
    Route("/auth/link", sign_in_link, methods=["GET"]),
    Route("/auth/signed-out", signed_out, methods=["GET", "POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
