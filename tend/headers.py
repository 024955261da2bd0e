"""Security headers on every HTTP response: Streamlit's pages, its static files and
Tend's own routes alike (docs/security.md says what each one is for)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What each directive allows, and why Streamlit needs it:
# - script-src 'unsafe-inline': st.html(..., unsafe_allow_javascript=True) runs inline
#   scripts (the quick exit, the redirect to Tend's routes after signing in), and the
#   index page names its server in one (tend/backend_address.py).
#   'unsafe-eval': Vega (the trend charts) compiles its expressions with Function().
# - style-src 'unsafe-inline': Streamlit's styling library injects <style> elements and
#   style attributes at run time.
# - img-src 'self' data: blob: no image from anywhere else, so nothing anyone typed can
#   make a partner's browser fetch a remote image (a read receipt with their address).
# - connect-src 'self': the page talks only to Tend (fetch and its WebSocket).
# - frame-ancestors 'none': no other site may frame Tend (clickjacking).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # Invitation, reset and sign-in tokens travel in URLs: never pass them on.
    "Referrer-Policy": "no-referrer",
}
_ENCODED = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in SECURITY_HEADERS.items()
]


class SecurityHeadersMiddleware:
    """Pure ASGI (no response buffering, WebSockets untouched): adds the headers to the
    start of every HTTP response, replacing any of the same name."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = {name for name, _ in _ENCODED}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in ours]
                message = {**message, "headers": headers + _ENCODED}
            await send(message)

        await self.app(scope, receive, send_with_headers)
