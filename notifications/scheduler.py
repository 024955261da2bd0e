"""The scheduler process: APScheduler drives the planning and dispatch jobs.

Jobs are module-level functions that open their own sessions. Correctness does not
depend on there being one scheduler: planning writes rows with unique dedupe keys and
dispatch claims a row before sending it, so any number of processes may run.

Capabilities plug in with :func:`register_planner`: a planner is ``fn(session, now) ->
int`` that writes the outbox rows now due (through ``preferences.plan_reminder`` or
``outbox.enqueue``, always with a dedupe key) and returns how many it wrote. It derives
what is due from the database, never from missed ticks, so it must be safe to run any
number of times, in any number of processes.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from infra.composition import load_registrations
from infra.db import get_engine, transaction, utcnow
from notifications import dispatch
from notifications.dispatch import DispatchReport, dispatch_pending
from notifications.models import SchedulerPass

log = logging.getLogger(__name__)

PLAN_EVERY = dt.timedelta(seconds=60)
DISPATCH_EVERY = dt.timedelta(seconds=5)
JOB_DEFAULTS = {
    # Several missed runs become one run: what is due is derived from the database, so
    # one run catches up on everything a stopped or stalled scheduler missed.
    "coalesce": True,
    "max_instances": 1,
    # None = a late run is never discarded as "misfired" (APScheduler's default grace is
    # 1 s, after which a run that was late, e.g. behind a long dispatch pass, is skipped).
    # Together with coalesce: late runs happen exactly once.
    "misfire_grace_time": None,
}
JOB_IDS = ("plan", "dispatch")
# How often the main thread of `tend scheduler` looks for a stop signal it was sent.
STOP_POLL_SECONDS = 0.2

Planner = Callable[[Session, dt.datetime], int]
PLANNERS: dict[str, Planner] = {}


def register_planner(name: str, fn: Planner) -> None:
    """Add (or replace, by name) a planner that plan_job runs on every pass."""
    PLANNERS[name] = fn


def unregister_planner(name: str) -> None:
    PLANNERS.pop(name, None)


def load_planners() -> None:
    """Import the modules that register planners and prompt kinds (tend/registry.py)."""
    load_registrations()


def record_pass(
    engine: Engine | None, job: str, *, at: dt.datetime, error: str | None = None
) -> None:
    with transaction(engine, immediate=True) as session:
        row = session.get(SchedulerPass, job)
        if row is None:
            try:
                # Two scheduler processes may record their first pass at the same moment.
                with session.begin_nested():
                    session.add(SchedulerPass(job=job, last_run_at=at))
            except IntegrityError:
                pass  # the other process made the row; update it below
            row = session.get(SchedulerPass, job, populate_existing=True)
            assert row is not None
        row.last_run_at = at
        row.last_error = error
        if error is None:
            row.last_success_at = at


def last_passes(engine: Engine | None = None) -> dict[str, SchedulerPass]:
    with transaction(engine) as session:
        return {row.job: row for row in session.query(SchedulerPass).all()}


@dataclass
class PlanReport:
    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def plan_pass(now: dt.datetime | None = None, engine: Engine | None = None) -> PlanReport:
    """Run every planner, each in its own transaction: one that fails is logged and
    rolled back, and the others still run."""
    now = now or utcnow()
    load_planners()
    report = PlanReport()
    for name, planner in list(PLANNERS.items()):
        try:
            with transaction(engine, immediate=True) as session:
                report.written += int(planner(session, now) or 0)
        except Exception as exc:
            log.exception("planner %s failed; the others still ran", name)
            report.failed[name] = repr(exc)
    error = "; ".join(f"{n}: {e}" for n, e in report.failed.items()) or None
    record_pass(engine, "plan", at=now, error=error)
    return report


def plan_job(now: dt.datetime | None = None) -> int:
    """The *plan* job. Returns rows written."""
    return plan_pass(now).written


# How the last dispatch pass found the SMTP server, as /healthz reports it: the dispatch
# job's last_error starts with the word, so no column is needed for it.
SMTP_OK = "ok"
SMTP_UNREACHABLE = "unreachable"
SMTP_STALLED = "stalled"


def dispatch_error(report: DispatchReport) -> str | None:
    if report.stalled:
        return f"SMTP server {SMTP_STALLED}: {report.stalled}"
    if report.unreachable:
        return f"SMTP server {SMTP_UNREACHABLE}: {report.unreachable}"
    return None


def smtp_state(dispatch_pass: SchedulerPass | None) -> str | None:
    """ok, unreachable or stalled, from the last dispatch pass (None: not run yet)."""
    if dispatch_pass is None:
        return None
    for state in (SMTP_STALLED, SMTP_UNREACHABLE):
        if (dispatch_pass.last_error or "").startswith(f"SMTP server {state}"):
            return state
    return SMTP_OK


def dispatch_job(now: dt.datetime | None = None) -> DispatchReport:
    """The *dispatch* job."""
    # Rendering and preference checks need every capability's kinds registered.
    load_planners()
    at = now or utcnow()
    report = dispatch_pending(get_engine(), now=now)
    # A pass that could not reach the SMTP server, or found it stalled, is not a
    # successful pass.
    record_pass(None, "dispatch", at=at, error=dispatch_error(report))
    return report


@dataclass
class PassReport:
    planned: int
    dispatched: DispatchReport
    failed_planners: dict[str, str] = field(default_factory=dict)


def run_once(now: dt.datetime | None = None) -> PassReport:
    """One planning pass and one dispatch pass (`tend scheduler --once`)."""
    plan = plan_pass(now)
    return PassReport(
        planned=plan.written, dispatched=dispatch_job(now), failed_planners=plan.failed
    )


def build_scheduler(
    scheduler_class: type[BaseScheduler] = BackgroundScheduler,
) -> BaseScheduler:
    """The two jobs on a scheduler (in its own threads: `tend scheduler`'s main thread
    only waits for a signal, see :func:`run_forever`)."""
    scheduler = scheduler_class(job_defaults=JOB_DEFAULTS, timezone=dt.UTC)
    # In-memory job store, jobs added fresh at start: a restarted scheduler runs both
    # jobs at once, and the planners find everything that became due while it was down.
    scheduler.add_job(
        plan_job,
        "interval",
        seconds=PLAN_EVERY.total_seconds(),
        id="plan",
        next_run_time=utcnow(),
        replace_existing=True,
    )
    scheduler.add_job(
        dispatch_job,
        "interval",
        seconds=DISPATCH_EVERY.total_seconds(),
        id="dispatch",
        next_run_time=utcnow(),
        replace_existing=True,
    )
    return scheduler


def run_forever() -> None:
    load_planners()  # an import error should stop the process at start, loudly
    scheduler = build_scheduler()
    signals: list[int] = []

    def note(signum: int, _frame: object) -> None:
        # Only noted, taking no lock: a handler runs in the main thread wherever it was,
        # and a second signal (Ctrl-C under `tend serve` comes from the terminal and from
        # serve) interrupts the first handler. Setting dispatch.STOP here took its lock
        # twice in one thread and hung the scheduler for good (seen: serve killed it).
        signals.append(signum)

    signal.signal(signal.SIGTERM, note)
    signal.signal(signal.SIGINT, note)
    scheduler.start()
    log.info("scheduler started: plan every %s, dispatch every %s", PLAN_EVERY, DISPATCH_EVERY)
    while not signals:
        time.sleep(STOP_POLL_SECONDS)
    # The dispatch pass checks STOP between messages and hands its other claims back.
    dispatch.STOP.set()
    log.info("signal %s: finishing the message in flight, then stopping", signals[0])
    scheduler.shutdown(wait=True)
    log.info("scheduler stopped")
