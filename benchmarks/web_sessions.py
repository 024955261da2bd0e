"""web_sessions: many people on one web process.

A real `tend serve` (web app only) on a throwaway SQLite database holding the demo couple
(`tend demo`, 18 months; its open round answered by both, so the check-in page shows
the review). N signed-in sessions, alternately Alex's and Sam's, each a websocket
speaking Streamlit's protocol as a browser tab does (benchmarks/streamlit_session.py),
each rerunning the check-in (review), trends and history pages in turn, all N at once.
The floor: the same N sessions on a bare Streamlit page with one chart
(benchmarks/bare_page.py) under the same Streamlit, rerunning it as often.

At each N (1, 20, 50): the serving process's memory (VmRSS) once the N sessions have
each drawn every page, one run at a time, before any burst (N runs at once raise the
high-water mark, which RSS keeps: that is reported apart, after all bursts); then the
p95 of the page runs while the first N sessions rerun at once, for Tend and for the
bare page in turns (Tend, bare, Tend, bare). Memory per session is the growth from 1 to
200 sessions (opened for the memory reading only: over 50, the growth was within what
RSS drifts by on its own) over the sessions added. Two results: web_sessions_memory,
memory per session, Tend over bare (goal 1.5), and web_sessions_p95, the p95 at N = 20,
Tend over bare (goal 1.3).

The client runs in this process (threads, protobuf parsing): its cost lands on both
sides alike. No browser: rendering is browser_pages's business.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import Result
from benchmarks.pages import demo_couple, tend_database
from benchmarks.servers import Served, serve_bare, serve_tend
from benchmarks.streamlit_session import StreamlitSession
from couples import accounts
from infra.db import engine_for, transaction
from tend.demo import DEMO_PARTNERS
from tend.web import SESSION_COOKIE

TEND_PAGES = ["checkin", "trends", "checkin_history"]
MEMORY_GOAL = 1.5
MEMORY_SESSIONS = 200  # memory is read up to this many sessions; p95 only at ``ns``
RSS_NOISE_MIB = 2.5
P95_GOAL = 1.3


def _tokens(url: str, count: int) -> list[str]:
    with transaction(engine_for(url)) as s:
        ids = [accounts.user_by_email(s, email).id for email, _, _ in DEMO_PARTNERS]  # type: ignore[union-attr]
        return [accounts.start_session(s, ids[i % 2]) for i in range(count)]


class Crowd:
    """Open sessions on one server, and what their page runs took."""

    def __init__(self, served: Served, pages: list[str], cookies: Callable[[int], dict[str, str]]):
        self.served = served
        self.pages = pages
        self.cookies = cookies
        self.tabs: list[StreamlitSession] = []

    def grow(self, n: int) -> None:
        """Open sessions up to ``n``; each new one draws every page once."""
        while len(self.tabs) < n:
            tab = StreamlitSession(self.served.url, self.cookies(len(self.tabs)))
            self.tabs.append(tab)
            for page in self.pages:
                run = tab.run(page)
                assert run.ok, (page, run.exceptions, run.headings)

    def burst(self, rounds: int, n: int) -> list[float]:
        """The first ``n`` open sessions rerun each page ``rounds`` times, all at once;
        the seconds of every run."""
        tabs = self.tabs[:n]
        start = threading.Barrier(len(tabs))

        def browse(tab: StreamlitSession) -> list[float]:
            start.wait(timeout=300)
            times = []
            for _ in range(rounds):
                for page in self.pages:
                    run = tab.run(page)
                    if not run.ok:
                        log = self.served.log_path.read_text(errors="replace")[-4000:]
                        raise AssertionError(f"{page}: {run.exceptions}\n{log}")
                    times.append(run.seconds)
            return times

        with ThreadPoolExecutor(len(tabs)) as pool:
            return [t for times in pool.map(browse, tabs) for t in times]

    def close(self) -> None:
        for tab in self.tabs:
            tab.close()


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def measure(
    *,
    ns: tuple[int, ...] = (1, 20, 50),
    memory_n: int = MEMORY_SESSIONS,
    rounds: int = 3,
    turns: int = 2,
    years: int | None = None,
) -> dict[str, Any]:
    grown = sorted({*ns, max(memory_n, *ns)})
    with tend_database() as url, tempfile.TemporaryDirectory() as tmp:
        demo_couple(years)
        tokens = _tokens(url, grown[-1])
        with serve_tend({}, Path(tmp)) as tend, serve_bare(Path(tmp)) as bare:
            crowds = {
                "tend": Crowd(tend, TEND_PAGES, lambda i: {SESSION_COOKIE: tokens[i]}),
                # As many runs per round as Tend's sessions make.
                "bare": Crowd(bare, [""] * len(TEND_PAGES), lambda _i: {}),
            }
            rss: dict[str, dict[int, float]] = {k: {} for k in crowds}
            p95s: dict[str, dict[int, list[float]]] = {k: {} for k in crowds}
            try:
                # Memory first, before any burst: N runs at once raise the process's
                # high-water mark (RSS does not shrink back), which would be counted
                # as the sessions' own.
                for n in grown:
                    for name, crowd in crowds.items():
                        crowd.grow(n)
                        rss[name][n] = round(crowd.served.rss_mib(), 1)
                for n in ns:
                    for _ in range(turns):
                        for name, crowd in crowds.items():
                            p95s[name].setdefault(n, []).append(p95(crowd.burst(rounds, n)))
                after = {name: round(crowd.served.rss_mib(), 1) for name, crowd in crowds.items()}
            finally:
                for crowd in crowds.values():
                    crowd.close()
    low, high = grown[0], grown[-1]
    growth = {k: v[high] - v[low] for k, v in rss.items()}
    per_session = {k: mib / (high - low) for k, mib in growth.items()}
    p95_ratio = {
        n: statistics.median(t / b for t, b in zip(p95s["tend"][n], p95s["bare"][n], strict=True))
        for n in ns
    }
    return {
        "rss_mib": rss,
        "growth_mib": growth,
        "rss_mib_after_bursts": after,
        "per_session_mib": per_session,
        "p95_s": {k: {n: statistics.median(v) for n, v in d.items()} for k, d in p95s.items()},
        "p95_ratio": p95_ratio,
    }


def run(
    ns: tuple[int, ...] = (1, 20, 50),
    rounds: int = 3,
    turns: int = 2,
    memory_n: int = MEMORY_SESSIONS,
) -> list[Result]:
    started = time.perf_counter()
    m = measure(ns=ns, memory_n=memory_n, rounds=rounds, turns=turns)
    per_session = m["per_session_mib"]
    # RSS moves by a few MiB on its own (allocator, caches): a growth within that is no
    # figure, and a ratio of two such is reported as not a number.
    resolved = min(m["growth_mib"].values()) >= RSS_NOISE_MIB
    memory_ratio = per_session["tend"] / per_session["bare"] if resolved else float("nan")
    at = 20 if 20 in ns else max(ns)
    detail = {
        "sessions": list(ns),
        "memory_sessions": max(memory_n, *ns),
        "memory_resolved": resolved,
        "per_session_mib": {k: round(v, 2) for k, v in m["per_session_mib"].items()},
        "rss_mib_per_n": m["rss_mib"],
        "rss_mib_after_bursts": m["rss_mib_after_bursts"],
        "p95_ratio_per_n": {n: round(r, 2) for n, r in m["p95_ratio"].items()},
        "p95_ms_per_n": {
            k: {n: round(v * 1000, 1) for n, v in d.items()} for k, d in m["p95_s"].items()
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return [
        Result("web_sessions_memory", memory_ratio, MEMORY_GOAL, detail),
        Result("web_sessions_p95", m["p95_ratio"][at], P95_GOAL, {"at_sessions": at, **detail}),
    ]
