"""Streamlit's index page goes out with the server's address set
(tend/backend_address.py), so a page opened at its own address connects at once."""

from __future__ import annotations

import asyncio
import gzip
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import pytest

from tend.backend_address import BackendAddressMiddleware, backend_script, with_backend_address

INDEX = (resources.files("streamlit") / "static" / "index.html").read_bytes()


def _through(
    status: int, headers: list[tuple[bytes, bytes]], chunks: list[bytes], method: str = "GET"
) -> tuple[dict, bytes]:
    """One response of ``chunks`` through the middleware: its start and its whole body."""

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for i, chunk in enumerate(chunks):
            more = i < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    sent: list[dict] = []

    async def send(message):  # type: ignore[no-untyped-def]
        sent.append(message)

    async def receive():  # type: ignore[no-untyped-def]
        return {"type": "http.request"}

    scope = {"type": "http", "method": method, "path": "/checkin", "headers": []}
    # In a thread of its own: a browser test run before on this worker leaves Playwright's
    # event loop running in this one, and asyncio.run() refuses to nest.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, BackendAddressMiddleware(app)(scope, receive, send)).result()
    return sent[0], b"".join(m.get("body", b"") for m in sent[1:])


def test_streamlits_index_page_names_its_server_first_in_its_head() -> None:
    assert with_backend_address(INDEX, "").count(backend_script("")) == 1
    page = with_backend_address(INDEX, "")
    assert page.index(backend_script("")) < page.index(b'<script type="module"')
    assert b'new URL("/", window.location.origin)' in backend_script("")
    assert b'new URL("/tend/", window.location.origin)' in backend_script("/tend/")
    # Any other HTML (the therapist's report, an error page) is left as it is.
    other = b"<html><head><title>Report</title></head><body>x</body></html>"
    assert with_backend_address(other, "") == other


@pytest.mark.parametrize("compressed", [False, True])
def test_the_page_goes_out_whole_with_its_headers_plain_and_its_length_right(
    compressed: bool,
) -> None:
    body = gzip.compress(INDEX) if compressed else INDEX
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"etag", b'"abc"'),
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
    ] + ([(b"content-encoding", b"gzip")] if compressed else [])
    start, sent = _through(200, headers, [body[:100], body[100:]])
    assert sent == with_backend_address(INDEX, "")
    assert (b"content-length", str(len(sent)).encode()) in start["headers"]
    assert [v for k, v in start["headers"] if k == b"set-cookie"] == [b"a=1", b"b=2"]
    names = {k for k, _v in start["headers"]}
    assert b"content-encoding" not in names and b"etag" not in names


def test_everything_else_streams_through_untouched() -> None:
    js = [(b"content-type", b"text/javascript")]
    assert _through(200, js, [b"a", b"b"]) == (
        {"type": "http.response.start", "status": 200, "headers": js},
        b"ab",
    )
    html = [(b"content-type", b"text/html")]
    assert _through(404, html, [INDEX])[1] == INDEX  # not a page that loads
    assert _through(200, html, [INDEX], method="HEAD")[1] == INDEX
    brotli = [*html, (b"content-encoding", b"br")]
    assert _through(200, brotli, [b"\x00compressed"])[1] == b"\x00compressed"
