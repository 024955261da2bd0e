"""HTTP routes served beside the Streamlit app. They exist because only an HTTP
response can set or clear the HttpOnly session cookie."""

from __future__ import annotations

import datetime as dt
import html
import logging

from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from couples import accounts
from couples.accounts import SESSION_ABSOLUTE
from couples.clients import DEVICE_COOKIE, device_key, new_device_id
from infra.db import get_engine, transaction, utcnow
from infra.errors import TendError
from infra.settings import get_settings
from privacy.export import export_file_name, export_zip
from reports.html import report_html
from reports.pdf import report_pdf
from reports.service import LinkNotValid, report_for_link, report_for_partner
from tend.csrf import checked_session_token
from tend.device_cookie import device_cookie_header
from tend.web import EXPORT, EXPORT_PATH, REPORT_PDF, REPORT_PDF_PATH, SESSION_COOKIE, SIGN_OUT

log = logging.getLogger(__name__)


def _safe_next(value: str | None, default: str = "/") -> str:
    # Only paths on this site: never an open redirect to somewhere else.
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _device_of(request: Request) -> tuple[str, bool]:
    """The browser's device id, and whether it is new (no cookie came with the request)."""
    device_id = request.cookies.get(DEVICE_COOKIE, "")
    return (device_id, False) if device_id else (new_device_id(), True)


def _signed_in(session: Session, user_id: int, request: Request) -> tuple[str, str | None]:
    """Start the session and remember the device as one that signed in to this account
    (it is never locked out by failed sign-ins made elsewhere). Returns the session
    token and a device id to set, if the browser had none."""
    device_id, is_new = _device_of(request)
    accounts.remember_device(session, user_id, device_key(device_id, ""))
    return accounts.start_session(session, user_id), device_id if is_new else None


def _signed_in_redirect(token: str, target: str, new_device: str | None = None) -> Response:
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
    if new_device:
        response.headers.append("set-cookie", device_cookie_header(new_device))
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
        if record is None:
            return RedirectResponse("/sign_in", status_code=303)
        token, new_device = _signed_in(session, record.user_id, request)
    return _signed_in_redirect(token, _safe_next(request.query_params.get("next")), new_device)


def confirm_email(request: Request) -> Response:
    try:
        with transaction() as session:
            user = accounts.confirm_registration(session, request.query_params.get("token", ""))
            token, new_device = _signed_in(session, user.id, request)
    except TendError as exc:
        return _message_page("Link not valid", str(exc), "/register", "Register", 400)
    # Straight into the guided start (it shows the couple space as its first step).
    return _signed_in_redirect(token, "/welcome", new_device)


def sign_in_link(request: Request) -> Response:
    """Links in reminder mails: sign in once and land on the right page. An expired or
    used link still leads to that page, which asks to sign in first and then shows it."""
    raw = request.query_params.get("token", "")
    with transaction() as session:
        record = accounts.redeem_token(session, raw, "sign_in_link")
        target = _safe_next(record.target if record else accounts.link_target(session, raw))
        if record is None:
            return RedirectResponse(target if target != "/" else "/sign_in", status_code=303)
        token, new_device = _signed_in(session, record.user_id, request)
    return _signed_in_redirect(token, target, new_device)


def _only_from_tend(action: str) -> Response:
    """The answer to a GET, or a POST from another site, on a route that acts: nothing
    happens (a link or a form elsewhere must not sign anyone out or download anything)."""
    return _message_page(
        "Nothing was done",
        f"To {action}, use the button on your Account page in Tend.",
        "/account",
        "Your account",
        403,
    )


async def signed_out(request: Request) -> Response:
    """Sign-out, posted by the page's own form (tend.web.post_to): ends this browser's
    session and clears its cookie. A GET, or a POST without the page's form token or
    from another site, ends nothing (logout CSRF)."""
    if request.cookies.get(SESSION_COOKIE):
        token = await checked_session_token(request, SESSION_COOKIE, SIGN_OUT)
        if token is None:
            return _only_from_tend("sign out")
        with transaction() as session:
            accounts.end_session(session, token)
    response = RedirectResponse("/sign_in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def export_download(request: Request) -> Response:
    """The signed-in person's data export, built now for the session this browser still
    holds: no cookie, an ended session or a request from another site gets nothing, and
    nothing is kept for later (no URL that outlives the session, never cached)."""
    token = await checked_session_token(request, SESSION_COOKIE, EXPORT)
    if token is None:
        return _only_from_tend("download your data")

    def build() -> bytes | None:
        with transaction() as session:
            user = accounts.resolve_session(session, token)
            return export_zip(session, user.id) if user is not None else None

    data = await run_in_threadpool(build)
    if data is None:
        return _message_page(
            "Signed out", "Your sign-in has ended. Sign in again first.", "/sign_in", "Sign in", 403
        )
    return Response(
        data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{export_file_name()}"',
            "Cache-Control": "no-store",
        },
    )


# Nothing of a report is kept by a browser or shown to a search engine.
_REPORT_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


async def report_download(request: Request) -> Response:
    """The report both partners consented to, as a PDF, for the signed-in partner who
    presses the button on the report page (a form token bound to the session, as for
    the export): never by a link, never for anyone else."""
    token = await checked_session_token(request, SESSION_COOKIE, REPORT_PDF)
    if token is None:
        return _message_page(
            "Nothing was done",
            "To download the report, use the button on the report page in Tend.",
            "/report",
            "The report page",
            403,
        )

    def build() -> bytes | str:
        with transaction() as session:
            user = accounts.resolve_session(session, token)
            if user is None:
                return "Your sign-in has ended. Sign in again first."
            try:
                report = report_for_partner(session, user.id)
            except TendError as exc:
                return str(exc)
        return report_pdf(report)

    result = await run_in_threadpool(build)
    if isinstance(result, str):
        return _message_page("No report", result, "/report", "The report page", 403)
    return Response(
        result,
        media_type="application/pdf",
        headers={
            "Content-Disposition": 'attachment; filename="tend-report.pdf"',
            **_REPORT_HEADERS,
        },
    )


async def therapist_report(request: Request) -> Response:
    """The therapist's read-only link: the report while both partners consent and the
    link is neither revoked nor expired; each opening is logged for both partners."""
    token = request.query_params.get("t", "")

    def build() -> str:
        with transaction() as session:
            report, share = report_for_link(session, token)
        return report_html(report, expires_on=f"{share.expires_on:%-d %B %Y}")

    try:
        page = await run_in_threadpool(build)
    except LinkNotValid as exc:
        body = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><meta name="robots" content="noindex">
<title>Link not valid · Tend</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1>Link not valid</h1><p>{html.escape(str(exc))}</p>
<p>The couple who shared it can send you a new one.</p></body></html>"""
        return HTMLResponse(body, status_code=404, headers=_REPORT_HEADERS)
    return HTMLResponse(page, headers=_REPORT_HEADERS)


def unsubscribe(request: Request) -> Response:
    """One-click unsubscribe (RFC 8058). Mail clients POST here; a person following the
    link in the mail gets a page with a button, because link scanners and previews
    fetch GET links on their own and must not turn anything off."""
    token = request.query_params.get("token", "")
    if request.method == "GET":
        from notifications.preferences import kind_label, read_unsubscribe_token

        data = read_unsubscribe_token(token)
        if data is None:
            return _message_page(
                "Link not valid",
                "This unsubscribe link is damaged. Sign in and open Notifications instead.",
                "/sign_in",
                "Sign in",
                400,
            )
        label = kind_label(str(data["k"]))
        body = f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>Stop these mails · Tend</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">
<h1>Stop these mails?</h1><p>No more mails of this kind: <strong>{html.escape(label)}</strong>.
You can turn them on again on the Notifications page after signing in.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Stop these mails</button></form></body></html>"""
        return HTMLResponse(body)
    from notifications.preferences import unsubscribe as turn_off

    with transaction() as session:
        label = turn_off(session, token)
    if label is None:
        return _message_page(
            "Link not valid",
            "This unsubscribe link is damaged. Sign in and open Notifications instead.",
            "/sign_in",
            "Sign in",
            400,
        )
    return _message_page(
        "Done",
        f"You will get no more mails of this kind: {label}.",
        "/sign_in",
        "Sign in to Tend",
        200,
    )


# A scheduler whose last successful dispatch pass is older than this is reported stale.
SCHEDULER_STALE_AFTER = dt.timedelta(minutes=10)


def healthz(request: Request) -> Response:
    """The database, the scheduler's last successful passes and how the last dispatch
    pass found the SMTP server ("smtp": ok, unreachable or stalled). 503 when the database
    is unreachable or the dispatcher has not succeeded for SCHEDULER_STALE_AFTER (a new
    install whose scheduler has not run yet reports "not run yet" with 200)."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # report, don't crash: this is what the check is for
        # Anyone can read /healthz: the details go to the log, not into the answer.
        log.exception("health check: the database is unreachable")
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    from notifications.scheduler import last_passes, smtp_state

    now = utcnow()
    passes = last_passes()
    body: dict[str, object] = {"status": "ok", "database": "ok", "scheduler": "not run yet"}
    jobs = {}
    for job, row in passes.items():
        jobs[job] = {
            "last_success": row.last_success_at.isoformat() if row.last_success_at else None,
            "last_run": row.last_run_at.isoformat(),
            # Whether the last pass failed, never its exception text (`tend jobs` shows it).
            "failing": row.last_error is not None,
        }
    if jobs:
        body["jobs"] = jobs
        dispatch = passes.get("dispatch")
        smtp = smtp_state(dispatch)
        if smtp is not None:
            # "ok", "unreachable" or "stalled": how the last dispatch pass found the server.
            body["smtp"] = smtp
        last_ok = dispatch.last_success_at if dispatch else None
        if last_ok is not None and now - last_ok <= SCHEDULER_STALE_AFTER:
            body["scheduler"] = "ok"
        else:
            body["scheduler"] = "stale"
            body["status"] = "error"
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


ROUTES = [
    Route("/auth/session", session_from_ticket, methods=["GET"]),
    Route("/auth/confirm", confirm_email, methods=["GET"]),
    Route("/auth/link", sign_in_link, methods=["GET"]),
    Route("/auth/signed-out", signed_out, methods=["GET", "POST"]),
    Route(EXPORT_PATH, export_download, methods=["GET", "POST"]),
    Route(REPORT_PDF_PATH, report_download, methods=["GET", "POST"]),
    Route("/therapist/report", therapist_report, methods=["GET"]),
    Route("/unsubscribe", unsubscribe, methods=["GET", "POST"]),
    Route("/healthz", healthz, methods=["GET"]),
]
