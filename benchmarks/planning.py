"""plan_scale and plan_floor: the scheduler's planning sweep against many couples.

The sweep is every registered planner (check-ins: close, open, remind; therapy
reminders) in one session at the population's ``now``, exactly as ``plan_pass`` runs
them, then rolled back: every repetition finds the same couples due, and the cached
database stays as built. Each sweep is checked to open exactly the due couples' rounds.

plan_floor has two references: the bare indexed SELECT of the due plan rows (the
issue's floor, the headline), and the write floor: the rows the sweep writes, written
by one hand-written PostgreSQL statement with no decisions and no rendering.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from benchmarks import population
from benchmarks.common import Result, interleaved_medians, interleaved_samples, paired_ratio
from benchmarks.population import BENCH_NOW, Population
from checkins import recurrence
from checkins.models import CheckinPlan, Round
from checkins.views import CLOSING_NOTICE, DEFAULT_DUE_DAYS, NUDGE_AFTER, ROUND_PAGE
from infra.db import make_engine
from notifications import scheduler


def sweep(engine: Engine, now: dt.datetime, expect_opened: int | None = None) -> Callable[[], None]:
    scheduler.load_planners()

    def run() -> None:
        with Session(engine) as session:
            for planner in scheduler.PLANNERS.values():
                planner(session, now)
            if expect_opened is not None:
                opened = session.scalar(
                    select(func.count(Round.id)).where(Round.origin == "schedule")
                )
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


# What the sweep writes for the due couples, in one statement: their rounds (ON CONFLICT
# DO NOTHING, as the sweep), both partners' participations (with their reminder note),
# the pinned agreements in force, one "a check-in is open" outbox row per partner with
# the same columns and context keys, and the plan rows moved on. The values the sweep
# decides per couple (start, due date, next moment, the due date's text) are constants
# here: the population gives every due couple the same schedule. `= ANY (ARRAY(...))`:
# with a join to the CTE PostgreSQL misjudges its size and hash-joins a sequential scan
# of all agreements.
WRITE_FLOOR_SQL = """
WITH due AS MATERIALIZED (
    SELECT couple_id FROM checkin_plans WHERE next_check_at <= :now
    FOR UPDATE SKIP LOCKED
),
pinned AS MATERIALIZED (
    SELECT a.couple_id, a.id AS agreement_id, v.id AS version_id, a.kind, v.title
    FROM agreements a JOIN agreement_versions v ON v.agreement_id = a.id
    WHERE a.couple_id = ANY (ARRAY(SELECT couple_id FROM due))
      AND v.in_force_from <= :now AND (v.in_force_until IS NULL OR v.in_force_until > :now)
),
r AS (
    INSERT INTO checkin_rounds (couple_id, scheduled_for, origin, schedule_version_id,
        opened_by_id, opened_at, due_at)
    SELECT couple_id, :start, 'schedule', version_id, NULL, :now, :due_at
    FROM pinned WHERE kind = 'regular_checkin'
    ON CONFLICT DO NOTHING RETURNING id, couple_id
),
members AS MATERIALIZED (
    SELECT r.id AS round_id, r.couple_id, m.user_id
    FROM r JOIN memberships m ON m.couple_id = r.couple_id AND m.left_at IS NULL
),
p AS (
    INSERT INTO checkin_participations (round_id, user_id, status, remind_at)
    SELECT round_id, user_id, 'pending', :remind_at FROM members RETURNING 1
),
ra AS (
    INSERT INTO checkin_round_agreements (round_id, agreement_id, version_id, kind, title)
    SELECT r.id, pinned.agreement_id, pinned.version_id, pinned.kind, left(pinned.title, 200)
    FROM r JOIN pinned ON pinned.couple_id = r.couple_id RETURNING 1
),
o AS (
    INSERT INTO outbox (kind, dedupe_key, recipient_user_id, to_address, context, secret,
        send_after, status, attempts, message_id, created_at)
    SELECT 'round_opened', 'checkin:' || me.round_id || ':round_opened:' || me.user_id,
        me.user_id, u.email,
        json_build_object('name', u.display_name, 'partner', pu.display_name,
            'couple', c.name, 'round_id', me.round_id, 'due', CAST(:due_text AS text),
            'conversation_at', CAST(:conversation_at AS text),
            'sign_in_target', CAST(:sign_in_target AS text)),
        NULL, :now, 'pending', 0, '', now()
    FROM members me
    JOIN users u ON u.id = me.user_id
    JOIN members partner ON partner.round_id = me.round_id AND partner.user_id <> me.user_id
    JOIN users pu ON pu.id = partner.user_id
    JOIN couples c ON c.id = me.couple_id
    RETURNING 1
),
up AS (
    UPDATE checkin_plans SET next_check_at = :next
    FROM due WHERE checkin_plans.couple_id = due.couple_id RETURNING 1
)
SELECT (SELECT count(*) FROM r), (SELECT count(*) FROM p), (SELECT count(*) FROM ra),
       (SELECT count(*) FROM o), (SELECT count(*) FROM up)
"""


def write_floor_params(population: Population) -> dict[str, object]:
    """The values the sweep decides for every due couple of ``population``."""
    start, next_start = recurrence.latest_and_next(population.due_schedule(), population.now)
    assert start is not None
    due_at = max(start + dt.timedelta(days=DEFAULT_DUE_DAYS), population.now + CLOSING_NOTICE)
    return {
        "now": population.now,
        "start": start,
        "due_at": due_at,
        "next": next_start,
        "remind_at": population.now + NUDGE_AFTER,
        "due_text": f"{due_at:%A %d %B, %H:%M}",  # the due users' zone is UTC
        "conversation_at": due_at.isoformat(),
        "sign_in_target": ROUND_PAGE,
    }


def write_floor(engine: Engine, population: Population) -> Callable[[], None]:
    """The second floor: the rows the sweep writes (PostgreSQL), decided by nobody."""
    params = write_floor_params(population)
    n = population.due
    # (rounds, participations, pinned agreements, outbox rows, plan rows)
    expected = (n, 2 * n, n, 2 * n, n)

    def run() -> None:
        with engine.connect() as connection:
            counts = tuple(connection.execute(text(WRITE_FLOOR_SQL), params).one())
            assert counts == expected, f"wrote {counts}, expected {expected}"
            connection.rollback()

    return run


def vacuum_written_tables(engine: Engine) -> None:
    """Every rolled-back sweep leaves its rows behind as dead tuples; without autovacuum
    (off on some servers) they pile up run after run and slow the inserts. Start clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(
            "VACUUM checkin_rounds, checkin_participations, checkin_round_agreements, "
            "outbox, checkin_plans"
        )


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
    pop = Population(couples, due, BENCH_NOW)
    url = population.ensure(f"tend_bench_plan_{couples}", pop, log=log)
    engine = make_engine(url)
    vacuum_written_tables(engine)
    samples = interleaved_samples(
        {
            "sweep": sweep(engine, BENCH_NOW, expect_opened=due),
            "bare_select": bare_select(engine, BENCH_NOW, due),
            "write_floor": write_floor(engine, pop),
        },
        repeat=repeat,
    )
    times = {name: statistics.median(values) for name, values in samples.items()}
    # The headline (issue 20): the sweep over the write floor, the rows any sweep must
    # write, taken turn by turn. The bare SELECT, the first goal's floor, stays in the
    # detail: the writes alone cost 22-37 times it, so that goal could not be met.
    ratio = paired_ratio(samples, "sweep", "write_floor")
    return Result(
        "plan_floor",
        ratio,
        2.5,
        {
            "couples": couples,
            "due": due,
            "sweep_s": round(times["sweep"], 4),
            "bare_select_s": round(times["bare_select"], 5),
            "write_floor_s": round(times["write_floor"], 4),
            "sweep_vs_write_floor": round(ratio, 2),
            "sweep_vs_select": round(paired_ratio(samples, "sweep", "bare_select"), 1),
            "write_floor_vs_select": round(times["write_floor"] / times["bare_select"], 1),
            "per_due_couple_ms": round(times["sweep"] / due * 1000, 2),
        },
    )
