"""Helpers for real-browser tests: a real `tend serve`, Debian's chromium, the mail drop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect
from playwright.sync_api import Error as PlaywrightError

from tend.mailbox import DroppedMail, dropped_mails, links_in
from tend.web import SESSION_COOKIE

ROOT = Path(__file__).resolve().parent.parent
# Playwright's expect() waits 5 s by default; a loaded 2-core CI machine needs longer.
expect.set_options(timeout=30_000)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedTend:
    url: str
    mail_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_mail(self, to: str, subject: str = "", timeout: float = 30) -> DroppedMail:
        """The newest mail to ``to`` whose subject contains ``subject`` (the scheduler
        dispatches every few seconds)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for mail in dropped_mails(self.mail_dir):
                if to in mail.to and subject in mail.subject:
                    return mail
            time.sleep(0.5)
        raise AssertionError(f"no mail to {to} with {subject!r} within {timeout}s")

    def link_in(self, mail: DroppedMail) -> str:
        links = links_in(mail.text, self.url)
        assert links, f"no link to {self.url} in mail {mail.subject!r}"
        return links[0]


# How many times this process started `tend serve` (the terminal summary adds them up).
SERVER_STARTS = 0


def start_tend(env: dict[str, str], workdir: Path, *options: str) -> ServedTend:
    global SERVER_STARTS
    SERVER_STARTS += 1
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, "TEND_BASE_URL": url}
    installed = Path(sys.executable).with_name("tend")
    if installed.exists():
        # As a user runs it: the console script `pip install -e .` made, outside the
        # checkout, so a package left out of the install fails here too.
        command = [str(installed)]
    else:
        command = [sys.executable, "-m", "tend"]
        full_env["PYTHONPATH"] = str(ROOT)
    log_path = workdir / "serve.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port), *options],
        cwd=workdir,
        env=full_env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    served = ServedTend(url, Path(env["TEND_MAIL_DIR"]), process, log_path)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("tend serve exited early:\n" + served.log())
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return served
        except OSError:
            time.sleep(0.5)
    stop_tend(served)
    raise AssertionError("tend serve did not become healthy:\n" + served.log())


def stop_tend(served: ServedTend) -> None:
    if served.process.poll() is None:
        os.killpg(served.process.pid, signal.SIGTERM)
        try:
            served.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()


class ServerPool:
    """One `tend serve` per distinct TEND_* environment, shared by a module's tests.

    A server is keyed by its environment without TEND_MAIL_DIR: each server drops its
    mails in a directory of its own, emptied for every test (the tests read mails through
    ``ServedTend``). The database_url fixture empties the database before each test; after
    a test, :meth:`settle` waits until the server's scheduler has sent every due mail,
    so nothing of one test lands in the next one's mail; a server that does not settle,
    or that died, is stopped and the next test starts a fresh one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.servers: dict[tuple[tuple[str, str], ...], ServedTend] = {}

    @staticmethod
    def _key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, v) for k, v in env.items() if k != "TEND_MAIL_DIR"))

    def serve(self, env: dict[str, str]) -> ServedTend:
        """A running server for ``env`` with an empty mail drop."""
        key = self._key(env)
        server = self.servers.get(key)
        if server is not None and server.process.poll() is not None:
            del self.servers[key]
            server = None
        if server is None:
            workdir = self.workdir / f"serve-{len(os.listdir(self.workdir))}"
            workdir.mkdir()
            server = start_tend({**env, "TEND_MAIL_DIR": str(workdir / "mail")}, workdir)
            self.servers[key] = server
        shutil.rmtree(server.mail_dir, ignore_errors=True)
        server.mail_dir.mkdir(parents=True)
        return server

    def settle(self, server: ServedTend, database_url: str, timeout: float = 30) -> None:
        """Wait until no mail is due or being sent; else discard the server."""
        deadline = time.monotonic() + timeout
        while server.process.poll() is None and time.monotonic() < deadline:
            if not _mail_in_flight(database_url):
                return
            time.sleep(0.2)
        self.discard(server)

    def discard(self, server: ServedTend) -> None:
        self.servers = {k: s for k, s in self.servers.items() if s is not server}
        stop_tend(server)

    def close(self) -> None:
        for server in list(self.servers.values()):
            self.discard(server)


def _mail_in_flight(database_url: str) -> bool:
    """Whether the outbox holds a due unsent mail or one being sent."""
    from sqlalchemy import exists, or_, select

    from infra.db import engine_for, utcnow
    from notifications.models import PENDING, RETRYING, SENDING, OutboxMessage

    due = or_(
        OutboxMessage.status == SENDING,
        OutboxMessage.status.in_((PENDING, RETRYING)) & (OutboxMessage.send_after <= utcnow()),
    )
    with engine_for(database_url).connect() as connection:
        return bool(connection.scalar(select(exists().where(due))))


# --- Streamlit in the browser -------------------------------------------------------

# Every Streamlit run is asked for by a rerun_script message (BackMsg field 11) and ends
# with a script_finished message (ForwardMsg field 6). This wraps the page's WebSocket to
# count both, so a helper can wait for the run an action asked for to end, and can tell a
# press that never reached the server from a slow one, instead of waiting for some time.
# The sidebar's cooldown control reruns itself every 2 s (is_auto_rerun, ClientState field
# 6): those requests are the page's own, not an action's, so they are not counted; else a
# lost press would pass for a sent one whenever the timer fired (seen: a "Propose" press
# that sent nothing, waited out as a missing message 30 s later).
RUN_COUNTER = """
(() => {
  if (window.__tendRuns !== undefined) return;
  const runs = window.__tendRuns = {
    sent: 0, lastSent: -1, lastSentFragment: false, finished: 0, lastFinished: -1,
    lastFinishedFull: -1, received: 0, sockets: 0, closed: 0,
    document: Math.random().toString(36).slice(2),
  };
  const varint = (bytes, pos) => {
    let value = 0, scale = 1, byte;
    do { byte = bytes[pos++]; value += (byte & 0x7f) * scale; scale *= 128; } while (byte & 0x80);
    return [value, pos];
  };
  // Calls visit(field, wire, value, start) for each top-level field of a message in
  // bytes[pos, end); a length-delimited field's value is its length, at start.
  const fields = (bytes, pos, end, visit) => {
    let tag, value;
    while (pos < end) {
      [tag, pos] = varint(bytes, pos);
      const wire = tag & 7;
      if (wire === 0) { [value, pos] = varint(bytes, pos); visit(tag >> 3, wire, value, pos); }
      else if (wire === 2) {
        [value, pos] = varint(bytes, pos);
        visit(tag >> 3, wire, value, pos);
        pos += value;
      }
      else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else return;
    }
  };
  // The top-level script_finished status of a ForwardMsg, or null.
  const finishedStatus = (bytes) => {
    let status = null;
    fields(bytes, 0, bytes.length, (field, wire, value) => {
      if (field === 6 && wire === 0 && status === null) status = value;
    });
    return status;
  };
  // A rerun request's ClientState: is it the page's own timer, is it for a fragment?
  const request = (bytes) => {
    const found = { auto: false, fragment: false };
    fields(bytes, 0, bytes.length, (field, wire, length, start) => {
      if (field !== 11 || wire !== 2) return;
      fields(bytes, start, start + length, (inner, innerWire, value) => {
        if (inner === 6 && innerWire === 0) found.auto = value === 1;
        if (inner === 5 && innerWire === 2 && value > 0) found.fragment = true;
      });
    });
    return found;
  };
  const FINISHED_EARLY_FOR_RERUN = 2, FINISHED_FRAGMENT_RUN = 3;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      runs.sockets += 1;
      this.addEventListener('close', () => { runs.closed += 1; });
      this.addEventListener('message', (event) => {
        const index = runs.received++;
        if (!(event.data instanceof ArrayBuffer)) return;
        const status = finishedStatus(new Uint8Array(event.data));
        if (status !== null && status !== FINISHED_EARLY_FOR_RERUN) {
          runs.finished += 1;
          runs.lastFinished = index;
          if (status !== FINISHED_FRAGMENT_RUN) runs.lastFinishedFull = index;
        }
      });
    }
    send(data) {
      const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
        : ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
        : null;
      if (bytes && bytes[0] === 0x5a) {  // field 11, length-delimited: rerun_script
        const asked = request(bytes);
        if (!asked.auto) {
          runs.sent += 1;
          runs.lastSent = runs.received;
          runs.lastSentFragment = asked.fragment;
        }
      }
      return super.send(data);
    }
  };
})();
"""

# Settled: the run the last request asked for has finished, in this document. A whole
# page's request is settled by a whole run's end only: a fragment's timer run that ends
# meanwhile is not the run asked for.
_SETTLED = """(sent) => {
  const runs = window.__tendRuns;
  if (runs === undefined || runs.sent < sent || runs.finished === 0) return false;
  const end = runs.lastSentFragment ? runs.lastFinished : runs.lastFinishedFull;
  return end >= runs.lastSent;
}"""
_SENT = (
    "([sent, document]) => window.__tendRuns === undefined || "
    "window.__tendRuns.document !== document || window.__tendRuns.sent > sent"
)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30) -> None:
    """Poll a condition outside the page (a cookie, a row) until it holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        time.sleep(0.1)


def watch_runs(context: BrowserContext) -> BrowserContext:
    """Count Streamlit runs in every page of ``context`` (new_context does this)."""
    context.add_init_script(RUN_COUNTER)
    return context


def _wait(page: Page, condition: str, arg: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        remaining = deadline - time.monotonic()
        try:
            page.wait_for_function(condition, arg=arg, timeout=max(remaining, 1) * 1000)
            return
        except PlaywrightError as exc:
            # A navigation replaced the document while we waited: wait on the new one.
            if "context was destroyed" in str(exc) and remaining > 0:
                page.wait_for_load_state()
                continue
            raise AssertionError(f"{what} (within 30 s)") from exc


def act(page: Page, action: Callable[[], object]) -> None:
    """Do ``action`` (a click, a key press) and wait until the Streamlit run it asked for
    has finished. Fails, saying so, if the action sent nothing to the server: a press that
    was lost, not a slow one."""
    sent, document = page.evaluate("() => [window.__tendRuns.sent, window.__tendRuns.document]")
    action()
    try:
        _wait(page, _SENT, [sent, document], "the action asked the server for no run")
    except AssertionError as exc:
        # Say what the page's connection did, to tell a dropped socket from a lost click.
        runs = page.evaluate("() => window.__tendRuns")
        raise AssertionError(f"{exc}; the page's runs and sockets: {runs}") from None
    wait_idle(page)


def wait_idle(page: Page) -> None:
    """Wait until this document's runs have finished: none asked for and still going."""
    _wait(page, _SETTLED, 0, "the page did not finish its run")


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    wait_idle(page)


def field(page: Page, label: str):  # type: ignore[no-untyped-def]
    """A text input or text area by its exact label (help icons share the label)."""
    return page.get_by_label(label, exact=True).and_(page.locator("input, textarea"))


def fill(page: Page, label: str, value: str) -> None:
    """Type into a field and leave it, as a person does before pressing anything else.

    Streamlit takes a typed value when the field loses focus. Left to the next click,
    that happens between its mouse-down and mouse-up: on a loaded machine the page
    re-renders and scrolls in that gap and the mouse-up lands beside the button, so
    the press is lost (seen: the page scrolled 486 px between the two). Leaving the
    field first lets the page settle before the press; outside a form, leaving the
    field reruns the page, and we wait for that run too."""
    target = field(page, label)
    before = target.input_value()
    target.fill(value)
    in_form = target.evaluate("e => !!e.closest('[data-testid=\"stForm\"]')")
    if in_form or value == before:
        target.blur()  # nothing to send: a form sends its fields with its button
    else:
        act(page, target.blur)


def click(page: Page, name: str) -> None:
    button = page.get_by_role("button", name=name, exact=True)
    act(page, button.click)


def sign_in(page: Page, url: str, email: str, password: str, *, path: str = "/") -> None:
    """Sign in through the page, as a person does; the caller checks where it lands."""
    open_page(page, url + path)
    fill(page, "Email", email)
    fill(page, "Password", password)
    click(page, "Sign in")


def sign_in_and_land(page: Page, url: str, email: str, password: str) -> None:
    """Sign in and wait until the browser has been through /auth/session and the page it
    lands on has finished its first run. The sign-in page sends the browser on with a
    script after its run ends; a test that navigates before that happens races it (seen:
    a goto that never saw its page load)."""
    open_page(page, url + "/")
    before = page.evaluate("() => window.__tendRuns.document")
    fill(page, "Email", email)
    fill(page, "Password", password)
    click(page, "Sign in")
    _wait(
        page,
        "(before) => window.__tendRuns !== undefined && window.__tendRuns.document !== before"
        " && !location.pathname.startsWith('/auth/')",
        before,
        "the sign-in did not lead to a new page",
    )
    wait_idle(page)
    assert any(c["name"] == SESSION_COOKIE for c in page.context.cookies()), "not signed in"


def alerts(page: Page) -> str:
    return " | ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def expect_alert(page: Page, text: str) -> None:
    """Wait for a success/error box containing ``text`` (it can appear a moment after
    the run that draws it seems to have finished)."""
    expect(page.locator('[data-testid="stAlert"]').filter(has_text=text).first).to_be_visible()


# --- the check-in, one step at a time -------------------------------------------------


def step_title(page: Page) -> str:
    """The heading of the check-in step on screen."""
    heading = page.locator(STEP_HEADING).first
    expect(heading).to_be_visible()
    return heading.inner_text().strip()


STEP_HEADING = '[class*="st-key-ck_step_"] h3'


def step(page: Page, button: str) -> None:
    """Press Back or Next and wait until the new step has arrived: its heading scrolled
    to the top and focused (until then the page may still move under the pointer)."""
    click(page, button)
    expect(page.locator(STEP_HEADING).first).to_be_focused()


def go_to_step(page: Page, title: str) -> None:
    """Back to the check-in's first step, then Next until the step ``title``."""
    # Count the steps back from "Step n of m", never from whether a Back button happens to
    # be drawn yet: on a loaded machine the page shows its notices before its buttons.
    for _ in range(10):
        progress = page.locator('[data-testid="stProgress"]').first
        expect(progress).to_be_visible()
        if progress.inner_text().strip().startswith("Step 1 of"):
            break
        step(page, "Back")
    for _ in range(10):
        if step_title(page) == title:
            return
        step(page, "Next")
    raise AssertionError(f"the check-in has no step {title!r}")


def choose(page: Page, prompt: str, option: str) -> None:
    """Pick ``option`` of the radio group whose question contains ``prompt``."""
    group = page.locator('[data-testid="stRadio"]').filter(has_text=prompt)
    act(page, group.get_by_text(option, exact=True).click)


def answer_checkin(page: Page, *, happy: str, safety: str, went_well: str) -> None:
    """Answer a check-in without agreements step by step, ending on its last step (just
    for you), where Submit is."""
    from checkins import survey

    go_to_step(page, "How are we doing?")
    choose(page, survey.SATISFACTION[0].prompt, happy)
    for q in survey.SATISFACTION[1:]:
        choose(page, q.prompt, "Mostly")
    step(page, "Next")
    choose(page, survey.CERTAINTY.prompt, "Fairly certain")
    step(page, "Next")
    fill(page, survey.WENT_WELL.prompt, went_well)
    step(page, "Next")
    assert step_title(page) == "Just for you"
    choose(page, "in body and mind", safety)
