"""Forms that Tend's own pages post to Tend's routes (sign-out, the data export), and the
checks that refuse the same request from any other site.

A form carries a token derived from the session cookie (HMAC with the secret key): a
page of another site cannot read the HttpOnly cookie, so it cannot make the token. The
route also refuses a request the browser marks as cross-site (``Sec-Fetch-Site``) or
whose ``Origin`` is not Tend's own. No Streamlit here: routes and pages both use it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

from infra.settings import get_settings

FORM_FIELD = "form_token"


def form_token(session_token: str, purpose: str) -> str:
    """The token a page puts in its form for ``purpose``; bound to this one session."""
    key = get_settings().resolved_secret_key().encode()
    message = f"tend-form:{purpose}:{session_token}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def from_another_site(request: Request) -> bool:
    """True when the browser says the request comes from a page that is not Tend's."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site != "same-origin":
        return True
    origin = request.headers.get("origin")
    # "null": Tend's own pages send no-referrer, and with it a browser posts Origin: null.
    # The form token and Sec-Fetch-Site still hold for such a request.
    if origin is None or origin == "null":
        return False
    # Tend's public address, or the address this request was sent to (a local install
    # opened as 127.0.0.1 while TEND_BASE_URL says localhost).
    own = {_origin(get_settings().base_url), _origin(str(request.base_url))}
    return origin.lower() not in own


async def checked_session_token(request: Request, cookie: str, purpose: str) -> str | None:
    """The session token of a same-site POST whose form token matches its cookie, else
    None (the caller refuses the request and changes nothing)."""
    token = request.cookies.get(cookie)
    if request.method != "POST" or not token or from_another_site(request):
        return None
    form = await request.form()
    sent = form.get(FORM_FIELD)
    if not isinstance(sent, str) or not hmac.compare_digest(sent, form_token(token, purpose)):
        return None
    return token
