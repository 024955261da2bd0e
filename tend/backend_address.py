"""Streamlit's page, opened at a page's own address (a link in a mail to /checkin, a
reload, a bookmark), first looks for its server under that address
(/checkin/_stcore/health and host-config, both 404) and only then at the root: one more
round trip before anything is drawn, on every page but Home (streamlit/streamlit#7074;
about 85 ms of a 400 ms load here). Its index page goes out with the server's address
already set (``window.__streamlit.BACKEND_BASE_URL``, which the frontend reads before
guessing), so it connects at once.

Pure ASGI: only a successful HTML response that is Streamlit's index page is touched
(read whole, decompressed when Streamlit gzipped it, sent plain); everything else
streams through.
"""

from __future__ import annotations

import gzip
import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from streamlit import config

# Streamlit's index page, and nothing else HTML (Tend's own routes, the therapist's
# report), names its main module so.
INDEX_MARKER = b'<script type="module" crossorigin src="./static/js/index.'
# Headers of the file as Streamlit has it, which the page sent no longer matches.
_DROPPED = {b"content-length", b"content-encoding", b"etag", b"last-modified"}


def backend_script(base_path: str) -> bytes:
    """The script setting the server's address: the origin the page came from, at
    ``server.baseUrlPath``. Nothing anyone typed is in it."""
    path = "/" + base_path.strip("/") + ("/" if base_path.strip("/") else "")
    return (
        "<script>window.__streamlit = {BACKEND_BASE_URL: "
        f"new URL({json.dumps(path)}, window.location.origin).href}}</script>"
    ).encode()


def with_backend_address(html: bytes, base_path: str) -> bytes:
    """Streamlit's index page with :func:`backend_script` first in its head; any other
    HTML as it is."""
    if INDEX_MARKER not in html or b"<head>" not in html:
        return html
    return html.replace(b"<head>", b"<head>" + backend_script(base_path), 1)


class BackendAddressMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def send_page(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if message["status"] == 200 and headers.get(b"content-type", b"").startswith(
                    b"text/html"
                ):
                    start = message  # held until the body is whole
                    return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_whole(start, b"".join(body), send)

        await self.app(scope, receive, send_page)

    @staticmethod
    async def _send_whole(start: Message, html: bytes, send: Send) -> None:
        headers = start.get("headers", [])
        encoding = dict(headers).get(b"content-encoding")
        if encoding not in (None, b"gzip"):  # not Streamlit's doing: left as it is
            await send(start)
            await send({"type": "http.response.body", "body": html})
            return
        if encoding == b"gzip":
            html = gzip.decompress(html)
        html = with_backend_address(html, config.get_option("server.baseUrlPath") or "")
        kept = [(k, v) for k, v in headers if k.lower() not in _DROPPED]
        kept.append((b"content-length", str(len(html)).encode()))
        await send({**start, "headers": kept})
        await send({"type": "http.response.body", "body": html})
