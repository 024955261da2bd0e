"""Give every browser a device cookie on the first page it loads.

Sign-in throttling counts failures per device (couples.accounts.sign_in), so a browser
must carry its own id before it first signs in: then five wrong passwords typed in one
browser slow down that browser only, not everyone behind the same network address. The
Streamlit script cannot set an HttpOnly cookie, so this wraps the app and adds it to
page responses (HTML) of requests that came without one.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from couples.clients import DEVICE_COOKIE, DEVICE_COOKIE_MAX_AGE, new_device_id
from infra.settings import get_settings


def device_cookie_header(device_id: str) -> str:
    """The Set-Cookie value: HttpOnly (no script reads it), SameSite=Lax, Secure on
    https, for the whole site."""
    cookie: SimpleCookie = SimpleCookie()
    cookie[DEVICE_COOKIE] = device_id
    morsel = cookie[DEVICE_COOKIE]
    morsel["path"] = "/"
    morsel["max-age"] = DEVICE_COOKIE_MAX_AGE
    morsel["httponly"] = True
    morsel["samesite"] = "Lax"
    if get_settings().base_url.startswith("https://"):
        morsel["secure"] = True
    return morsel.OutputString()


def has_device_cookie(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookie: SimpleCookie = SimpleCookie()
            try:
                cookie.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header: treat as none
                continue
            if cookie.get(DEVICE_COOKIE) and cookie[DEVICE_COOKIE].value:
                return True
    return False


class DeviceCookieMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or has_device_cookie(scope):
            await self.app(scope, receive, send)
            return

        navigation = any(
            name == b"accept" and b"text/html" in value for name, value in scope["headers"]
        )

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # Pages only: the static files a page pulls in arrive in parallel and
                # would each hand out a different id. A page the browser revalidated
                # from its cache (304, no content type) counts when it asked for HTML.
                is_page = headers.get("content-type", "").startswith("text/html") or (
                    message["status"] == 304 and navigation
                )
                already = any(
                    v.startswith(DEVICE_COOKIE + "=") for v in headers.getlist("set-cookie")
                )
                if is_page and not already:
                    headers.append("set-cookie", device_cookie_header(new_device_id()))
            await send(message)

        await self.app(scope, receive, send_with_cookie)
