"""pages: the round review, trends and history pages at ten years of monthly rounds.

The couple is the demo couple of ``tend demo --years 10`` (:func:`tend.demo.create_demo`)
in a throwaway SQLite database, with its open round answered by the second partner too,
so that the check-in page shows the round's review. Each page runs through Streamlit's
AppTest in this process (the full app: navigation, sign-in gate, the page), against a
bare page that draws one Altair chart from a 120-row frame, in turns. Ratio: the slowest
Tend page's median time over the bare page's in the same turn. SQL statements per page
run are counted (a ``before_cursor_execute`` listener) for the demo couple at one year
(a database of its own) and at ten years: equal counts mean no query per round.

The trends page keeps what it computed until the couple's data changes
(couples/data_version.py), so its runs above reuse it; its first run after a write is
measured apart, in turns with the bare page (``trends_first_after_a_write``).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from streamlit import config
from streamlit.testing.v1 import AppTest

from benchmarks.common import Result, interleaved_samples, paired_ratio
from checkins import answers, rounds
from couples import accounts, data_version
from couples import service as couples
from infra.db import engine_for, transaction
from infra.settings import get_settings
from tend.cli import STREAMLIT_OPTIONS
from tend.demo import DEMO_PARTNERS, create_demo
from tend.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
BARE = str(Path(__file__).with_name("bare_page.py"))
PAGES = {"review": "checkin", "trends": "trends", "history": "checkin_history"}
TOKEN_KEY = "_tend_session_token"


@contextmanager
def tend_database(kind: str = "sqlite") -> Iterator[str]:
    """A migrated throwaway database, set as the app's (TEND_DATABASE_URL)."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("TEND_")}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/pages.db"
        os.environ["TEND_DATABASE_URL"] = url
        os.environ["TEND_MAIL_DIR"] = f"{tmp}/mail"
        get_settings.cache_clear()
        upgrade(url)
        try:
            yield url
        finally:
            engine_for(url).dispose()
            for k in [k for k in os.environ if k.startswith("TEND_")]:
                del os.environ[k]
            os.environ.update(saved)
            get_settings.cache_clear()


class StatementCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_: Any) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(Engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(Engine, "before_cursor_execute", self)


def signed_in_app(url: str, user_id: int, page_key: str) -> AppTest:
    with transaction(engine_for(url)) as s:
        token = accounts.start_session(s, user_id)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[TOKEN_KEY] = token
    at.run()
    # Imported after a run: st.Page objects need the script context of a running app.
    from tend.navigation import PAGES as TEND_PAGES

    # Switch to a function page the way a browser asks for it (see tests/test_pages.py).
    at._page_hash = TEND_PAGES[page_key]._script_hash
    return at


def _runner(at: AppTest) -> Any:
    def run() -> None:
        at.run()
        assert not at.exception, at.exception

    return run


def demo_couple(years: int | None) -> int:
    """``tend demo --years N`` in the app's database, then Sam answers the open round as
    Alex did, which reveals it; returns Alex's id (the check-in page shows the review)."""
    create_demo(years=years)
    with transaction() as s:
        alex, sam = (accounts.user_by_email(s, email) for email, _, _ in DEMO_PARTNERS)
        assert alex is not None and sam is not None
        round_ = rounds.current_round(s, sam.id)
        assert round_ is not None and round_.revealed_at is None
        answers.save_answers(s, sam.id, round_.id, answers.my_answers(s, alex.id, round_.id))
        assert answers.submit(s, sam.id, round_.id).phase == "review"
        return alex.id


def _statements(url: str, user_id: int, page_key: str) -> tuple[int, AppTest]:
    """SQL statements of one run of the page (after a warm run), and its app."""
    at = signed_in_app(url, user_id, page_key)
    at.run()  # warm: the first run imports and caches
    with StatementCounter() as counter:
        _runner(at)()
    return counter.count, at


@contextmanager
def served_options() -> Iterator[None]:
    """Streamlit's options as `tend serve` sets them (no usage statistics: with them on,
    AppTest's default, every element also records its call), for Tend and the bare page."""
    saved = {name: config.get_option(name) for name in STREAMLIT_OPTIONS}
    for name, value in STREAMLIT_OPTIONS.items():
        config.set_option(name, {"true": True, "false": False}.get(value, value))
    try:
        yield
    finally:
        for name, value in saved.items():
            config.set_option(name, value)


def measure(*, years: int = 10, small_years: int = 1, repeat: int = 15) -> dict[str, Any]:
    with served_options():
        return _measure(years=years, small_years=small_years, repeat=repeat)


def _measure(*, years: int, small_years: int, repeat: int) -> dict[str, Any]:
    statements: dict[str, dict[str, int]] = {name: {} for name in PAGES}
    started = time.perf_counter()
    with tend_database() as url:
        with tend_database() as small_url:
            small = demo_couple(small_years)
            for name, key in PAGES.items():
                statements[name][f"{small_years}y"], _ = _statements(small_url, small, key)
        big = demo_couple(years)  # back in the first database
        built = time.perf_counter() - started
        apps = {}
        for name, key in PAGES.items():
            statements[name][f"{years}y"], apps[name] = _statements(url, big, key)
        bare = AppTest.from_file(BARE, default_timeout=60)
        runners = {"bare": _runner(bare)} | {name: _runner(at) for name, at in apps.items()}
        samples = interleaved_samples(runners, repeat=repeat)
        first = _first_after_a_write(runners["bare"], runners["trends"], big, repeat=repeat)
        _moved_on(big)
        with StatementCounter() as counter:
            runners["trends"]()
    return {
        "times": {name: statistics.median(values) for name, values in samples.items()},
        "ratios": {name: paired_ratio(samples, name, "bare") for name in PAGES},
        "statements": statements,
        "history_build_s": round(built, 1),
        "trends_first_after_a_write": {
            "median_s": round(statistics.median(first["trends"]), 4),
            "ratio": round(paired_ratio(first, "trends", "bare"), 2),
            "statements": counter.count,
        },
    }


def _moved_on(user_id: int) -> None:
    """A write about the couple (its data version moves, as with any answer or
    agreement): what the trends page kept is not used again."""
    with transaction() as s:
        data_version.changed(s, [couples.require_membership(s, user_id).couple_id])


def _first_after_a_write(
    bare: Any, trends: Any, user_id: int, *, repeat: int
) -> dict[str, list[float]]:
    """The trends page's first run after each write (nothing kept to reuse), in turns with
    the bare page; the write itself is not timed."""
    samples: dict[str, list[float]] = {"bare": [], "trends": []}
    for _ in range(repeat):
        start = time.perf_counter()
        bare()
        samples["bare"].append(time.perf_counter() - start)
        _moved_on(user_id)
        start = time.perf_counter()
        trends()
        samples["trends"].append(time.perf_counter() - start)
    return samples


def run(repeat: int = 15) -> Result:
    m = measure(repeat=repeat)
    times = m["times"]
    ratios = m["ratios"]
    statements = m["statements"]
    equal = all(len(set(counts.values())) == 1 for counts in statements.values())
    return Result(
        "pages",
        max(ratios.values()),
        1.2,
        {
            "ratio_per_page": {k: round(v, 2) for k, v in ratios.items()},
            "median_s": {k: round(v, 4) for k, v in times.items()},
            "sql_statements_1y_vs_10y": statements,
            "statements_equal": equal,
            "history_build_s": m["history_build_s"],
            # What the trends page reuses is dropped at each write about the couple.
            "trends_first_after_a_write": m["trends_first_after_a_write"],
        },
    )
