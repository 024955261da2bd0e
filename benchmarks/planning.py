"""plan_scale and plan_floor: the scheduler's planning sweep against many couples.

The sweep is every registered planner (check-ins: close, open, remind; therapy
reminders) in one session at the population's ``now``, exactly as ``plan_pass`` runs
them, then rolled back: every repetition finds the same couples due, and the cached
database stays as built. Each sweep is checked to open exactly the due couples' rounds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from benchmarks import population
from benchmarks.common import Result, interleaved_medians
from benchmarks.population import BENCH_NOW, Population
from checkins.models import CheckinPlan, Round
from couples.db import make_engine
from notifications import scheduler


def sweep(engine: Engine, now: dt.datetime, expect_opened: int | None = None) -> Callable[[], None]:
    scheduler.load_planners()

    def run() -> None:
        with Session(engine) as session:
            for planner in scheduler.PLANNERS.values():
                planner(session, now)
            if expect_opened is not None:
                opened = session.scalar(select(func.count(Round.id)))
                assert opened == expect_opened, f"opened {opened} rounds, expected {expect_opened}"
            session.rollback()

    return run


def bare_select(engine: Engine, now: dt.datetime, expect: int) -> Callable[[], None]:
    """The floor: the indexed SELECT of the due couples' rows and nothing else."""

    def run() -> None:
        with Session(engine) as session:
            rows = session.execute(
                select(CheckinPlan.couple_id, CheckinPlan.next_check_at).where(
                    CheckinPlan.next_check_at <= now
                )
            ).all()
            assert len(rows) == expect
            session.rollback()

    return run


def plan_scale(
    *,
    big: int = 1_000_000,
    small: int = 10_000,
    due: int = 1_000,
    repeat: int = 5,
    dialects: tuple[str, ...] = ("postgresql", "sqlite"),
    sqlite_big: int | None = None,
    log=print,  # type: ignore[no-untyped-def]
) -> Result:
    detail: dict[str, object] = {"due": due}
    ratios = []
    for dialect in dialects:
        large = big if dialect == "postgresql" or sqlite_big is None else sqlite_big
        fns = {}
        for label, couples in (("small", small), ("large", large)):
            url = population.ensure(
                f"tend_bench_plan_{couples}",
                Population(couples, due, BENCH_NOW),
                dialect=dialect,
                log=log,
            )
            engine = make_engine(url)
            fns[f"{label}"] = sweep(engine, BENCH_NOW, expect_opened=due)
        times = interleaved_medians(fns, repeat=repeat)
        ratio = times["large"] / times["small"]
        ratios.append(ratio)
        detail[dialect] = {
            "couples": f"{large:,} vs {small:,}",
            "sweep_s": {k: round(v, 3) for k, v in times.items()},
            "ratio": round(ratio, 3),
        }
    # The goal is stated for PostgreSQL (the production database); SQLite's ratio is
    # reported beside it in the detail.
    headline = detail["postgresql"]["ratio"] if "postgresql" in detail else max(ratios)
    return Result("plan_scale", float(headline), 1.3, detail)  # type: ignore[index]


def plan_floor(
    *,
    couples: int = 100_000,
    due: int = 1_000,
    repeat: int = 5,
    log=print,  # type: ignore[no-untyped-def]
) -> Result:
    url = population.ensure(
        f"tend_bench_plan_{couples}", Population(couples, due, BENCH_NOW), log=log
    )
    engine = make_engine(url)
    times = interleaved_medians(
        {
            "sweep": sweep(engine, BENCH_NOW, expect_opened=due),
            "bare_select": bare_select(engine, BENCH_NOW, due),
        },
        repeat=repeat,
    )
    ratio = times["sweep"] / times["bare_select"]
    return Result(
        "plan_floor",
        ratio,
        10.0,
        {
            "couples": couples,
            "due": due,
            "sweep_s": round(times["sweep"], 4),
            "bare_select_s": round(times["bare_select"], 5),
            "per_due_couple_ms": round(times["sweep"] / due * 1000, 2),
        },
    )
