"""Take the README's screenshots from the demo couple: `python scripts/screenshots.py`.

Builds the demo (`tend demo`) in a temporary SQLite database, starts a real `tend serve`
on a free port, signs in as Sam with Debian's chromium (Playwright, never `playwright
install`) and saves one PNG per main page into docs/screenshots/ (or --out DIR). Fails,
naming the page, if any page shows a Streamlit exception or an error box, so the
pictures in the docs never show a broken page.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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
# file name -> (path, what must be on the page once it has drawn)
PAGES = {
    "home": ("/", "Hi Sam"),
    "charter": ("/charter", "What ended it last time"),
    "agreements": ("/agreements", "In force"),
    "checkin": ("/checkin", "Check-in"),
    "review": ("/checkin_history", "Look at a past review"),
    "talk": ("/talk", "Item 2 of"),
    "trends": ("/trends", "Satisfaction (0-20)"),
    "topics": ("/topics", "Contact with Jordan"),
    "cooldown": ("/cooldown", "Log"),
}
# The check-in at a phone's width (375 px): file name -> the headings of the steps that
# Next leads through from the one before, ending at the step photographed.
PHONE = {
    "checkin_phone": ("How are we doing?",),
    "checkin_phone_agreements": ("Our future", "Our agreements"),
}

# Pages whose picture starts at their marker rather than at the top.
SCROLLED = ("review", "charter")
BROKEN = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tend(*args: str, env: dict[str, str], cwd: Path, **kw) -> subprocess.Popen[bytes]:  # type: ignore[no-untyped-def]
    return subprocess.Popen([sys.executable, "-m", "tend", *args], env=env, cwd=cwd, **kw)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("tend serve exited early:\n" + log.read_text(errors="replace"))
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("tend serve did not become healthy:\n" + log.read_text(errors="replace"))


def _idle(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.wait_for_timeout(400)
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)


def _signed_in(browser, url: str, **options):  # type: ignore[no-untyped-def]
    """A page of a new browser context, signed in as Sam."""
    from playwright.sync_api import expect

    context = browser.new_context(timezone_id="America/New_York", **options)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url + "/")
    page.locator('[data-testid="stApp"]').wait_for()
    _idle(page)
    page.get_by_label("Email", exact=True).fill("sam@demo.tend.example")
    page.get_by_label("Password", exact=True).fill("tend-demo-password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Hi Sam")).to_be_visible()
    return page


def _phone(browser, url: str, out: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    """The check-in step by step at a phone's width."""
    from playwright.sync_api import expect

    page = _signed_in(
        browser, url, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True
    )
    written = []
    page.goto(url + "/checkin")
    page.locator('[data-testid="stApp"]').wait_for()
    _idle(page)
    landed = False  # on the first step, where the page opens
    for name, headings in PHONE.items():
        for heading in headings:
            if landed:
                # One press per step, each after the step before has arrived: a press on a
                # step's Next that is already gone does nothing (it never skips a step).
                page.get_by_role("button", name="Next", exact=True).click()
            expect(page.get_by_role("heading", name=heading)).to_be_visible(timeout=30_000)
            if landed:
                # Arrived: the step brought to the top, its heading focused.
                expect(page.get_by_role("heading", name=heading)).to_be_focused(timeout=30_000)
            landed = True
            _idle(page)
            expect(page.get_by_role("radio").first).to_be_visible(timeout=30_000)
        # The step from its top (its progress and heading), as Next leaves it.
        page.locator('[class*="st-key-ck_step_"]').first.evaluate(
            "e => { e.style.scrollMarginTop = '4.5rem'; e.scrollIntoView({block: 'start'}); }"
        )
        page.wait_for_timeout(500)
        broken = page.locator(BROKEN)
        if broken.count():
            raise SystemExit(f"{name} shows an error: {' | '.join(broken.all_inner_texts())}")
        target = out / f"{name}.png"
        page.screenshot(path=str(target))
        written.append(target)
    page.context.close()
    return written


def take(out: Path) -> list[Path]:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="tend-shots-") as tmp:
        work = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TEND_")},
            "TEND_DATABASE_URL": f"sqlite:///{work / 'tend.sqlite3'}",
            "TEND_MAIL_DIR": str(work / "mail"),
            "TEND_SECRET_KEY": "screenshots-only",
            "PYTHONPATH": str(ROOT),
        }
        demo = _tend("demo", env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output, _ = demo.communicate(timeout=300)
        if demo.returncode:
            raise SystemExit("tend demo failed:\n" + output.decode(errors="replace"))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = work / "serve.log"
        with log.open("wb") as log_file:
            # No scheduler: nothing in the demo is due, and the pictures stay still.
            server = _tend(
                "serve",
                "--port",
                str(port),
                "--no-scheduler",
                env={**env, "TEND_BASE_URL": url},
                cwd=work,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            _wait_healthy(url, server, log)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = _signed_in(browser, url, viewport={"width": 1280, "height": 900})
                for name, (path, marker) in PAGES.items():
                    page.goto(url + path)
                    page.locator('[data-testid="stApp"]').wait_for()
                    _idle(page)
                    expect(page.get_by_text(marker).first).to_be_visible()
                    # Charts draw after the script run has finished, behind a placeholder
                    # until the chart library has loaded (slow on a first visit).
                    page.wait_for_timeout(300)
                    expect(page.locator('[data-testid="stSkeleton"]')).to_have_count(0)
                    charts = page.locator('[data-testid="stVegaLiteChart"]')
                    for i in range(min(charts.count(), 3)):
                        expect(charts.nth(i).locator("canvas, svg").first).to_be_attached()
                    page.wait_for_timeout(500)
                    broken = page.locator(BROKEN)
                    if broken.count():
                        raise SystemExit(
                            f"{path} shows an error: {' | '.join(broken.all_inner_texts())}"
                        )
                    if name in SCROLLED:
                        page.get_by_text(marker).first.evaluate(
                            "e => e.scrollIntoView({block: 'start'})"
                        )
                        page.wait_for_timeout(300)
                        target = out / f"{name}.png"
                        page.screenshot(path=str(target))
                    else:
                        target = out / f"{name}.png"
                        # Streamlit scrolls inside its own container: the viewport is the page.
                        page.screenshot(path=str(target))
                    written.append(target)
                written += _phone(browser, url, out)
                browser.close()
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "screenshots", help="folder for the PNGs"
    )
    args = parser.parse_args()
    for path in take(args.out):
        print(path)


if __name__ == "__main__":
    main()
