"""Several people on one `tend serve` at once, each in their own Streamlit session,
driven over Streamlit's websocket protocol (benchmarks/streamlit_session.py) as their
browser tabs would: every page run of every session must draw its own page.

Until the navigation was built per run, the st.Page objects were shared by all sessions;
st.navigation marks the page it returns as runnable on that shared object and the run
clears it, so two sessions running at the same moment made one fail with "This page
cannot be called directly" (tend/navigation.py, build_pages)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from benchmarks.streamlit_session import PageRun, StreamlitSession
from couples import accounts
from infra.db import engine_for, transaction
from tend.web import SESSION_COOKIE
from tests.factories import make_couple

SESSIONS = 8
ROUNDS = 3
# A page and a heading it shows once it has drawn for a signed-in partner.
PAGES = {
    "": "Hi ",
    "checkin": "Check-in",
    "trends": "Trends",
    "checkin_history": "Check-in history",
    "agreements": "Agreements",
}


def _tokens(url: str) -> list[str]:
    tokens = []
    with transaction(engine_for(url)) as s:
        for n in range(SESSIONS // 2):
            _, a, b = make_couple(s, f"a{n}@example.org", f"b{n}@example.org")
            tokens += [accounts.start_session(s, a.id), accounts.start_session(s, b.id)]
    return tokens


def test_concurrent_sessions_each_draw_their_own_pages(served, tend_env) -> None:
    tokens = _tokens(tend_env["TEND_DATABASE_URL"])
    start = threading.Barrier(SESSIONS)

    def browse(token: str) -> list[tuple[str, PageRun]]:
        with StreamlitSession(served.url, {SESSION_COOKIE: token}) as tab:
            tab.run("")
            start.wait(timeout=120)
            return [(path, tab.run(path)) for _ in range(ROUNDS) for path in PAGES]

    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(browse, tokens))
    failed = [
        (path, run.status, run.exceptions, run.headings)
        for runs in results
        for path, run in runs
        if not run.ok or not any(h.startswith(PAGES[path]) for h in run.headings)
    ]
    assert failed == [], failed
