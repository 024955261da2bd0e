"""Tend's pages are made in a script run, whoever imports the menu's module first: an
st.Page made outside a run is half made, and every link drawn from it failed (a test
run alone, or a tool importing tend.navigation, broke the pages for the process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent(
    """
    import tend.navigation as navigation  # first, outside any script run
    from streamlit.testing.v1 import AppTest

    try:
        navigation.PAGES["register"]
    except RuntimeError as exc:
        print("outside a run:", exc)
    at = AppTest.from_file("app.py", default_timeout=60).run()
    assert not at.exception, at.exception
    links = [link.proto.page for link in at.get("page_link")]
    print("links:", links)
    print("register:", navigation.PAGES["register"].url_path)
    """
)


def test_importing_the_menu_before_any_run_leaves_the_pages_whole(tend_env) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "outside a run: Tend's pages are made in a script run" in done.stdout
    # The sign-in page links to registration and the password reset, drawn from PAGES.
    assert "register" in done.stdout.split("links:")[1].split("\n")[0]
    assert "register: register" in done.stdout
