"""Real chromium against a real `tend serve`: sessions across two browsers, and the quick
exit leaving for a neutral page without a way Back."""

from __future__ import annotations

import http.server
import threading

import pytest
from playwright.sync_api import Page, expect

from infra.db import engine_for, transaction
from tests.browser import (
    click,
    fill,
    free_port,
    open_page,
    wait_until,
)
from tests.browser import (
    sign_in as sign_in_as,
)
from tests.factories import PASSWORD, make_couple

pytestmark = pytest.mark.browser
NEW_PASSWORD = "another long secret phrase"


@pytest.fixture(scope="module")
def neutral_site(tmp_path_factory):  # type: ignore[no-untyped-def]
    # One for the module, so its tests share one server (its address is in the server's env).
    tmp_path = tmp_path_factory.mktemp("neutral")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text("<title>Weather</title><h1>Weather</h1>")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()


@pytest.fixture
def served_safe(serve, tend_env, neutral_site):  # type: ignore[no-untyped-def]
    served = serve({"TEND_QUICK_EXIT_URL": neutral_site})
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s)
    return served


def sign_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    # Sign in is the default page: it lives at "/" (its own path answers "not found").
    sign_in_as(page, url, "a@example.org", PASSWORD)
    expect(page.get_by_role("heading", name="Hi A")).to_be_visible()


def session_cookie(page: Page) -> str | None:
    cookies = page.context.cookies()
    return next((c["value"] for c in cookies if c["name"] == "tend_session"), None)


@pytest.mark.parametrize("how", ["sign out", "password change"])
def test_ending_sessions_signs_out_the_other_browser(served_safe, new_context, how: str) -> None:
    first, second = new_context().new_page(), new_context().new_page()
    sign_in(first, served_safe.url)
    sign_in(second, served_safe.url)
    open_page(first, served_safe.url + "/account")
    if how == "sign out":
        click(first, "Sign out")
        expect(first.get_by_role("heading", name="Sign in")).to_be_visible()
    else:
        old_session = session_cookie(first)
        fill(first, "Current password", PASSWORD)
        fill(first, "New password", NEW_PASSWORD)
        click(first, "Change password")
        # Wait for the change itself (the heading was there before it): the browser that
        # changed it gets a fresh session and stays signed in.
        wait_until(lambda: session_cookie(first) not in (None, old_session), "a new session")
        expect(first.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
    # The other browser finds its session ended without a click (its sidebar re-checks
    # every two seconds) and shows the sign-in page; a page it opens asks to sign in.
    expect(second.get_by_role("heading", name="Sign in")).to_be_visible()
    open_page(second, served_safe.url + "/couple")
    expect(second.get_by_role("heading", name="Sign in to continue")).to_be_visible()


@pytest.mark.parametrize("viewport", [(1200, 900), (375, 700)], ids=["desktop", "phone"])
def test_quick_exit_leaves_at_once_and_back_does_not_return(
    served_safe, browser, neutral_site, viewport
) -> None:
    size = {"width": viewport[0], "height": viewport[1]}
    context = browser.new_context(viewport=size)
    try:
        page = context.new_page()
        page.goto("about:blank")
        sign_in(page, served_safe.url)
        open_page(page, served_safe.url + "/account")
        button = page.locator("#tend-quick-exit")
        expect(button).to_be_visible()
        expect(button).to_be_in_viewport()
        button.click()
        page.wait_for_url(neutral_site)
        expect(page.get_by_role("heading", name="Weather")).to_be_visible()
        page.go_back(wait_until="load")
        # Back does not lead to the account page that was replaced.
        assert not page.url.endswith("/account"), page.url
    finally:
        context.close()
