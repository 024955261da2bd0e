"""Helpers for real-browser tests: a real `tend serve`, Debian's chromium, the mail drop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

from notifications.mailbox import DroppedMail, dropped_mails, links_in

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


def start_tend(env: dict[str, str], workdir: Path) -> ServedTend:
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
        [*command, "serve", "--port", str(port)],
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


# --- Streamlit in the browser -------------------------------------------------------


def open_page(page: Page, url: str) -> None:
    page.goto(url)
    page.locator('[data-testid="stApp"]').wait_for()
    wait_idle(page)


def wait_idle(page: Page) -> None:
    """Wait until Streamlit has finished the current run."""
    page.wait_for_timeout(300)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)


def field(page: Page, label: str):  # type: ignore[no-untyped-def]
    """A text input or text area by its exact label (help icons share the label)."""
    return page.get_by_label(label, exact=True).and_(page.locator("input, textarea"))


def fill(page: Page, label: str, value: str) -> None:
    field(page, label).fill(value)


def click(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    wait_idle(page)


def alerts(page: Page) -> str:
    return " | ".join(page.locator('[data-testid="stAlert"]').all_inner_texts())


def expect_alert(page: Page, text: str) -> None:
    """Wait for a success/error box containing ``text`` (it can appear a moment after
    the run that draws it seems to have finished)."""
    expect(page.locator('[data-testid="stAlert"]').filter(has_text=text).first).to_be_visible()
