"""Every benchmark's setup and measuring code, run at a tiny scale so the scripts cannot
rot. No timing is asserted here: figures come from `python -m benchmarks`
(docs/performance.md). What is asserted: the generated populations check out, each
sweep opens exactly the due couples' rounds, plan_floor's write floor writes what the
sweep writes, the scheduler process sends one mail per due partner, the pages
render with the same number of statements at 1 and 2 years, and the web and browser
benchmarks drive their servers and report every figure."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks import (
    browser_pages,
    dispatch,
    memory,
    pages,
    planning,
    population,
    recurrence,
    web_sessions,
)
from notifications import scheduler
from tend.migrate import upgrade
from tests.conftest import _postgres_available

needs_postgres = pytest.mark.skipif(
    _postgres_available() is not None, reason="PostgreSQL not reachable"
)


@needs_postgres
def test_plan_benchmarks_at_tiny_scale() -> None:
    try:
        scale = planning.plan_scale(big=80, small=40, due=5, repeat=1, log=lambda *_: None)
        assert set(scale.detail) == {"due", "postgresql", "sqlite"}
        floor = planning.plan_floor(couples=40, due=5, repeat=1, log=lambda *_: None)
        assert floor.ratio > 0 and floor.detail["due"] == 5
        # The write floor ran (it asserts its own row counts) and is reported.
        assert floor.detail["write_floor_s"] > 0
        assert floor.detail["sweep_vs_write_floor"] > 0
        assert floor.detail["write_floor_vs_select"] > 0
        assert floor.detail["sweep_vs_select"] > 0 and floor.goal == 2.5
    finally:
        for n in (40, 80):
            population.drop(f"tend_bench_plan_{n}")
            for suffix in ("", "-wal", "-shm"):
                Path(f"/tmp/tend_bench_plan_{n}.db{suffix}").unlink(missing_ok=True)


@needs_postgres
def test_the_write_floor_writes_the_rows_the_sweep_writes() -> None:
    """Same rounds, participations, pinned agreements, outbox rows (every column but ids,
    the round id in the context and created_at) and plan notes as the sweep."""
    pop = population.Population(30, 3, population.BENCH_NOW)
    queries = [
        "SELECT couple_id, scheduled_for, origin, schedule_version_id, opened_by_id, "
        "opened_at, due_at, revealed_at, closed_at FROM checkin_rounds ORDER BY couple_id",
        "SELECT r.couple_id, p.user_id, p.status, p.updated_at, p.submitted_at, p.remind_at "
        "FROM checkin_participations p JOIN checkin_rounds r ON r.id = p.round_id ORDER BY 1, 2",
        "SELECT r.couple_id, a.agreement_id, a.version_id, a.kind, a.title "
        "FROM checkin_round_agreements a JOIN checkin_rounds r ON r.id = a.round_id ORDER BY 1",
        "SELECT o.kind, o.recipient_user_id, o.to_address, o.context::jsonb - 'round_id', "
        "(o.context->>'round_id')::int = r.id AND o.dedupe_key = "
        "'checkin:' || r.id || ':round_opened:' || o.recipient_user_id, o.secret, o.send_after, "
        "o.status, o.attempts, o.message_id, o.claimed_until, o.claimed_by, o.last_error, "
        "o.sent_at FROM outbox o JOIN checkin_participations p ON p.user_id = "
        "o.recipient_user_id JOIN checkin_rounds r ON r.id = p.round_id ORDER BY 2",
        "SELECT couple_id, next_check_at FROM checkin_plans ORDER BY couple_id",
    ]
    try:
        url = population.ensure("tend_bench_test_floor", pop, reuse=False, log=lambda *_: None)
        engine = population.make_engine(url)
        scheduler.load_planners()
        with Session(engine) as session:
            for planner in scheduler.PLANNERS.values():
                planner(session, pop.now)
            swept = [session.execute(text(q)).all() for q in queries]
            session.rollback()
        with engine.connect() as connection:
            counts = connection.execute(
                text(planning.WRITE_FLOOR_SQL), planning.write_floor_params(pop)
            ).one()
            written = [connection.execute(text(q)).all() for q in queries]
            connection.rollback()
        engine.dispose()
        assert tuple(counts) == (3, 6, 3, 6, 3)
        assert len(swept[3]) == 6
        assert written == swept
    finally:
        population.drop("tend_bench_test_floor")


@needs_postgres
def test_a_built_population_is_reused_and_reset() -> None:
    pop = population.Population(30, 3, population.BENCH_NOW)
    messages: list[str] = []
    try:
        url = population.ensure("tend_bench_test_pop", pop, reuse=False, log=messages.append)
        assert population.ensure("tend_bench_test_pop", pop, log=messages.append) == url
        assert any("reusing" in m for m in messages)
        planning.sweep(population.make_engine(url), pop.now, expect_opened=3)()
        population.reset(url, pop)  # asserts the population checks out again
        # A database from before the newest migration is built again, not reused.
        engine = population.make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'perf_0003'"))
        engine.dispose()
        messages.clear()
        population.ensure("tend_bench_test_pop", pop, log=messages.append)
        assert any("building" in m for m in messages) and not any("reusing" in m for m in messages)
    finally:
        population.drop("tend_bench_test_pop")


@needs_postgres
def test_scheduler_memory_at_tiny_scale() -> None:
    try:
        result = memory.run(small=10, large=200, repeat=1, log=lambda *_: None)
        assert result.detail["peak_rss_mib"]["small"] > 10
    finally:
        population.drop("tend_bench_memory_small")
        population.drop("tend_bench_memory_large")


def test_the_scheduler_s_peak_memory_is_its_own_not_the_benchmark_s(tmp_path: Path) -> None:
    """Linux carries ru_maxrss over fork and exec: a child of a large process would
    report at least the parent's size. The figure must be the scheduler's alone."""
    url = f"sqlite:///{tmp_path}/tend.sqlite3"
    upgrade(url)
    ballast = bytearray(b"x") * (600 * 1024 * 1024)  # written, so resident
    peak_kib, _seconds = memory.run_once(url, str(tmp_path / "mail"))
    assert len(ballast) and 20 * 1024 < peak_kib < 400 * 1024


def test_pages_at_tiny_scale() -> None:
    m = pages.measure(years=2, small_years=1, repeat=1)
    assert set(m["times"]) == {"bare", *pages.PAGES}
    assert set(m["ratios"]) == set(pages.PAGES) and all(r > 0 for r in m["ratios"].values())
    for page, counts in m["statements"].items():
        assert len(set(counts.values())) == 1, (page, counts)


def test_dispatch_at_tiny_scale() -> None:
    result = dispatch.run(count=20, repeat=1)
    assert result.ratio > 0


def test_schedule_age_at_tiny_scale() -> None:
    result = recurrence.run(repeat=1)
    assert set(result.detail) == {"weekly", "biweekly", "monthly"} and result.ratio > 0


def test_a_paired_ratio_divides_within_each_turn() -> None:
    """A slow turn slows both sides of its ratio: the paired median ignores it, a ratio
    of the two medians does not."""
    from benchmarks.common import paired_ratio

    samples = {"page": [2.0, 2.2, 20.0, 2.1, 9.0], "bare": [1.0, 1.1, 10.0, 1.05, 1.0]}
    assert paired_ratio(samples, "page", "bare") == 2.0


def test_web_sessions_at_tiny_scale() -> None:
    memory_result, p95_result = web_sessions.run(ns=(1, 2), rounds=1, turns=1, memory_n=3)
    assert memory_result.name == "web_sessions_memory" and memory_result.goal == 1.5
    assert p95_result.name == "web_sessions_p95" and p95_result.goal == 1.3
    assert p95_result.ratio > 0 and p95_result.detail["at_sessions"] == 2
    detail = p95_result.detail
    assert set(detail["rss_mib_per_n"]["tend"]) == set(detail["rss_mib_per_n"]["bare"]) == {1, 2, 3}
    assert set(detail["p95_ms_per_n"]["tend"]) == {1, 2}
    assert set(detail["rss_mib_after_bursts"]) == {"tend", "bare"}
    assert all(v > 0 for d in detail["p95_ms_per_n"].values() for v in d.values())


@pytest.mark.browser
@pytest.mark.skipif(not Path(browser_pages.CHROMIUM).exists(), reason="no chromium")
def test_browser_pages_at_tiny_scale() -> None:
    # In a thread of its own: the benchmark starts its own Playwright, and Playwright's sync
    # API refuses a thread where another one runs (this worker's `browser` fixture, when a
    # browser test file ran on it first; seen with `-m browser`).
    with ThreadPoolExecutor(max_workers=1) as pool:
        result = pool.submit(
            browser_pages.run, repeat=2, years=2, small_years=1, warm_rounds=1
        ).result()
    assert set(result.detail["ratio_per_page"]) == set(browser_pages.PAGES)
    # Each ratio sits between its turns' quartiles.
    for name, (low, high) in result.detail["turns_quartiles"].items():
        assert low <= round(result.detail["ratio_per_page"][name], 2) <= high
    assert result.ratio > 0
    # The trends page drew its chart (one at a time, the one chosen), the bare page its one.
    assert result.detail["charts_per_page"]["trends"] == 1
    assert result.detail["charts_per_page"]["bare"] == 1
    assert all(set(b) == {"1y", "2y"} for b in result.detail["websocket_bytes_per_page"].values())
    # Where the time went, marked in the page: every page's run finished; the pages with a
    # chart mounted and drew it after that, the others have no chart marks.
    phases = result.detail["in_page_ms"]
    for name in ("bare", "trends"):
        assert 0 < phases[name]["run_finished"] <= phases[name]["chart_drawn"]
        assert phases[name]["chart_mounted"] <= phases[name]["chart_drawn"]
        assert phases[name]["chart_drawn"] <= phases[name]["settled"]
    for name in ("review", "history"):
        assert set(phases[name]) == {"run_finished", "settled"}
        assert phases[name]["run_finished"] <= phases[name]["settled"]
    # Settled (the main thread idle again) is reported for every page too.
    assert set(result.detail["settled_ratio_per_page"]) == set(browser_pages.PAGES)
    assert all(r > 0 for r in result.detail["settled_ratio_per_page"].values())


def test_each_run_is_added_to_the_history_and_the_trend_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from benchmarks import common
    from benchmarks.__main__ import main

    monkeypatch.setattr(common, "HISTORY", tmp_path / "history.jsonl")
    for day, ratio in ((1, 1.4), (2, 1.1)):
        common.append_history(
            [common.Result("pages", ratio, 1.2)], now=dt.datetime(2026, 12, day, tzinfo=dt.UTC)
        )
    assert [e["results"]["pages"]["ratio"] for e in common.read_history()] == [1.4, 1.1]
    assert main(["--trend"]) == 0
    assert "pages" in (out := capsys.readouterr().out)
    assert "2026-12-01: 1.40, 2026-12-02: 1.10" in out
