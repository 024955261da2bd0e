"""What a browser does with what the other partner typed, and what Tend's pages and routes
tell a browser: tried from outside, through Debian's chromium and plain HTTP against a
real `tend serve` (docs/security.md, "What a page may do")."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from agreements import proposals
from checkins import answers, questions, rounds, survey
from checkins.views import AdherenceInput, Sheet
from couples import service as couples
from couples.models import Invitation
from infra.db import engine_for, transaction, utcnow
from notifications.scheduler import record_pass
from tend.headers import SECURITY_HEADERS
from tests.browser import click, go_to_step, open_page, sign_in, wait_idle
from tests.factories import PASSWORD, make_couple, make_user

pytestmark = pytest.mark.browser


class Beacon:
    """A web server on a free loopback port that only records what is asked of it: a
    page that loads anything from it has leaked that (and when) someone read it."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def beacon() -> Iterator[Beacon]:
    server = Beacon()
    yield server
    server.close()


def _sheet(s, user_id: int, round_id: int) -> Sheet:  # type: ignore[no-untyped-def]
    values = {k: 3 for k in survey.SATISFACTION_KEYS} | {"certainty": 4, "safety": 4}
    sheet = Sheet(values=values, texts={"went_well": "a quiet week"})
    for agreement in rounds.round_questions(s, user_id, round_id).agreements:
        sheet.adherence[agreement.agreement_id] = AdherenceInput(4, 4)
    return sheet


def _sign_in(page: Page, url: str, email: str) -> None:
    sign_in(page, url, email, PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("^Hi "))).to_be_visible()


def _literal(page: Page, text: str) -> None:
    """``text`` is on the page exactly as typed (not turned into a link or an image)."""
    expect(page.get_by_text(text, exact=False).first).to_be_visible()


def _named(page: Page, role: str, name: str) -> None:
    """A control whose accessible name is exactly ``name``."""
    expect(page.get_by_role(role, name=name, exact=True)).to_be_visible()  # type: ignore[arg-type]


def test_what_a_partner_typed_is_shown_literally_and_loads_nothing(
    served, new_context, tend_env, beacon: Beacon
) -> None:
    # A name (100 characters at most) with a remote image; longer texts with a link and
    # an HTML image as well. Each image names its place, so a hit says where it leaked.
    def name(tag: str) -> str:
        return f"{tag} ![p]({beacon.url}/{tag}.png)"

    def text(tag: str) -> str:
        return f"{name(tag)} [link]({beacon.url}/{tag}-link) <img src={beacon.url}/{tag}-h.png>"

    now = utcnow()
    day = dt.timedelta(days=1)
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    with transaction(engine) as s:
        _, alex, blair = make_couple(s, "alex@example.org", "blair@example.org", now=now - 9 * day)
        alex.display_name = name("Alex")
        alex_id, blair_id = alex.id, blair.id
    with transaction(engine) as s:
        agreement = proposals.propose_agreement(
            s, alex_id, kind="custom", title=text("title"), body=text("body"), now=now - 8 * day
        )
        proposals.accept(s, blair_id, agreement.id, now=now - 8 * day)
        agreement_id = agreement.id
        then = now - 8 * day
        questions.add_question(
            s, alex_id, text("scale"), kind="scale", visibility="revealed", now=then
        )
        questions.add_question(
            s, alex_id, text("prompt"), kind="text", visibility="revealed", now=then
        )
    # One round both answered (history, trends), one open for Blair (the form).
    with transaction(engine) as s:
        past = rounds.start_round_now(s, alex_id, now=now - 5 * day).id
        for who in (alex_id, blair_id):
            answers.save_answers(s, who, past, _sheet(s, who, past), now=now - 5 * day)
            answers.submit(s, who, past, now=now - 5 * day)
    with transaction(engine) as s:
        current = rounds.start_round_now(s, alex_id, now=now - day).id
        answers.save_answers(s, alex_id, current, _sheet(s, alex_id, current), now=now - day)
    # Someone else invites Dana: the inviter's name goes into the mail's subject.
    with transaction(engine) as s:
        casey = make_user(s, "casey@example.org", name("Casey"))
        couples.create_couple(s, casey.id, name=name("space"), reunited_on=None)
        couples.invite_partner(s, casey.id, "dana@example.org")
    invitation_mail = served.wait_for_mail("dana@example.org", "invited you")
    join_link = served.link_in(invitation_mail)

    violations: list[str] = []

    def watch(page: Page) -> Page:
        page.on(
            "console",
            lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
        )
        return page

    blair_page = watch(new_context().new_page())
    _sign_in(blair_page, served.url, "blair@example.org")

    open_page(blair_page, f"{served.url}/agreement?id={agreement_id}")
    expect(blair_page.get_by_role("heading", name=text("title"))).to_be_visible()
    _literal(blair_page, text("body"))

    open_page(blair_page, served.url + "/checkin")
    go_to_step(blair_page, "Our agreements")
    _literal(blair_page, f"How well did {name('Alex')} keep it?")
    # A screen reader reads each control's name as typed too (Streamlit puts the label's
    # escaped source in aria-label; tend.a11y takes the escapes out).
    _named(blair_page, "radiogroup", f"How well did {name('Alex')} keep it?")
    go_to_step(blair_page, "Our own questions")
    _literal(blair_page, text("scale"))
    _literal(blair_page, text("prompt"))
    _named(blair_page, "radiogroup", text("scale"))
    _named(blair_page, "textbox", text("prompt"))

    open_page(blair_page, served.url + "/checkin_history")
    metric = blair_page.locator('[data-testid="stMetricLabel"]').filter(has_text=name("Alex"))
    expect(metric).to_be_visible()

    # The trend charts (Vega) still draw under the Content-Security-Policy.
    open_page(blair_page, served.url + "/trends")
    chart = blair_page.locator('[data-testid="stVegaLiteChart"]').first
    expect(chart.locator("canvas, svg").first).to_be_visible()
    # It has a name that says what it shows (checkins.trend_summary), names as typed.
    described = blair_page.locator(
        '[data-testid="stVegaLiteChart"][aria-label^="Satisfaction, 0 to 20, 1 check-in in "]'
    )
    expect(described).to_have_count(1)
    words = described.get_attribute("aria-label") or ""
    assert f" {name('Alex')}: " in words, words

    # The local Mailbox shows the inviter the invitation they sent, subject and all.
    casey_page = watch(new_context().new_page())
    _sign_in(casey_page, served.url, "casey@example.org")
    open_page(casey_page, served.url + "/mailbox")
    _literal(casey_page, f"{name('Casey')} invited you to Tend")

    stranger = watch(new_context().new_page())

    # The invitation expired; whoever holds the link asks for a new one.
    with transaction(engine) as s:
        invitation = s.scalar(select(Invitation).where(Invitation.email == "dana@example.org"))
        assert invitation is not None
        invitation.expires_at = now - day
    open_page(stranger, join_link)
    click(stranger, "Ask for a new invitation")
    expect(stranger.locator('[data-testid="stAlert"]').filter(has_text="We let")).to_be_visible()
    _literal(stranger, f"We let {name('Casey')} know you would like a new link.")

    # The second wall: even an image the page itself asked for is refused.
    blocked = stranger.evaluate(
        """url => new Promise(resolve => {
            document.addEventListener("securitypolicyviolation", e => resolve(e.blockedURI));
            const image = new Image();
            image.src = url;
            document.body.appendChild(image);
        })""",
        f"{beacon.url}/csp-wall.png",
    )
    assert blocked.startswith(beacon.url), blocked
    wait_idle(stranger)

    assert beacon.requests == [], beacon.requests
    # Only the violation provoked above, nothing a Tend page needs.
    assert [v for v in violations if "csp-wall" not in v] == [], violations


def _get(url: str) -> tuple[int, Message, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode(errors="replace")


def test_security_headers_on_pages_static_files_and_routes(served) -> None:
    status, _, index = _get(served.url + "/agreements")
    assert status == 200
    script = re.search(r'src="(\.?/?static/js/[^"]+\.js)"', index)
    assert script, index[:500]
    urls = [
        served.url + "/agreements",  # a Streamlit page
        served.url + "/" + script.group(1).lstrip("./"),  # a static file
        served.url + "/healthz",  # Tend's routes
        served.url + "/unsubscribe?token=damaged",
        served.url + "/no-such-page",
    ]
    for url in urls:
        _, headers, _ = _get(url)
        for header, value in SECURITY_HEADERS.items():
            assert headers.get(header) == value, (url, header, headers.get(header))
    policy = SECURITY_HEADERS["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "img-src 'self' data: blob:;" in policy


def test_healthz_reports_failing_jobs_without_their_errors(served, tend_env) -> None:
    error = "planner reminders failed: OperationalError('/srv/tend/secret-path.db')"
    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    record_pass(engine, "nightly", at=utcnow(), error=error)
    # As the scheduler beside it records its passes (it may not have run yet).
    record_pass(engine, "dispatch", at=utcnow())
    status, _, body = _get(served.url + "/healthz")
    assert status == 200
    assert "secret-path" not in body and "OperationalError" not in body
    report = json.loads(body)
    assert report["jobs"]["nightly"]["failing"] is True
    assert report["jobs"]["dispatch"]["failing"] is False


def test_a_bad_id_is_not_found_and_no_traceback_reaches_the_browser(
    served, new_context, tend_env
) -> None:
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s, "alex@example.org", "blair@example.org")
    page = new_context().new_page()
    _sign_in(page, served.url, "alex@example.org")
    for bad in ("99999999999999999999", "2147483648", "-1", "1e3", "%00", "١٢"):
        open_page(page, f"{served.url}/agreement?id={bad}")
        expect(page.get_by_text("This agreement does not exist")).to_be_visible()
        shown = page.locator("body").inner_text()
        assert "Traceback" not in shown and "Error" not in shown, (bad, shown)
        assert '.py"' not in shown and "/site-packages/" not in shown, (bad, shown)
    # Anything a page did not expect shows a plain message, its details only in the log.
    children = subprocess.run(
        ["pgrep", "-P", str(served.process.pid)], capture_output=True, text=True
    ).stdout.split()
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in children]
    streamlit = next(c for c in commands if b"streamlit" in c)
    option = streamlit.index(b"--client.showErrorDetails")
    assert streamlit[option + 1] == b"none"
