"""Every benchmark's setup and measuring code, run at a tiny scale so the scripts cannot
rot. No timing is asserted here: figures come from `python -m benchmarks`
(docs/performance.md). What is asserted: the generated populations check out, each
sweep opens exactly the due couples' rounds, the scheduler process sends one mail per
due partner, and the pages render with the same number of statements at 1 and 2 years."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import dispatch, memory, pages, planning, population
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
    finally:
        for n in (40, 80):
            population.drop(f"tend_bench_plan_{n}")
            for suffix in ("", "-wal", "-shm"):
                Path(f"/tmp/tend_bench_plan_{n}.db{suffix}").unlink(missing_ok=True)


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


def test_pages_at_tiny_scale() -> None:
    m = pages.measure(years=2, small_years=1, repeat=1)
    assert set(m["times"]) == {"bare", *pages.PAGES}
    for page, counts in m["statements"].items():
        assert len(set(counts.values())) == 1, (page, counts)


def test_dispatch_at_tiny_scale() -> None:
    result = dispatch.run(count=20, repeat=1)
    assert result.ratio > 0
