"""The scheduler process: APScheduler drives the planning and dispatch jobs.

Jobs are module-level functions that open their own sessions. Correctness does not
depend on there being one scheduler: planning writes rows with unique dedupe keys and
dispatch claims a row before sending it, so any number of processes may run.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
from dataclasses import dataclass

from apscheduler.schedulers.blocking import BlockingScheduler

from couples.db import get_engine, utcnow
from notifications.dispatch import DispatchReport, dispatch_pending

log = logging.getLogger(__name__)

PLAN_EVERY = dt.timedelta(seconds=60)
DISPATCH_EVERY = dt.timedelta(seconds=5)
JOB_DEFAULTS = {
    # Several missed runs become one; what is due is derived from the database, so a
    # scheduler that was down catches up once, not once per missed tick.
    "coalesce": True,
    "max_instances": 1,
    "misfire_grace_time": None,
}


def plan_job(now: dt.datetime | None = None) -> int:
    """Open what is due and write due reminders to the outbox. Returns rows written."""
    # Later capabilities (check-in rounds, reminders) register their planners here.
    return 0


def dispatch_job() -> DispatchReport:
    return dispatch_pending(get_engine())


@dataclass
class PassReport:
    planned: int
    dispatched: DispatchReport


def run_once(now: dt.datetime | None = None) -> PassReport:
    """One planning pass and one dispatch pass (`tend scheduler --once`)."""
    planned = plan_job(now or utcnow())
    return PassReport(planned=planned, dispatched=dispatch_job())


def run_forever() -> None:
    scheduler = BlockingScheduler(job_defaults=JOB_DEFAULTS, timezone=dt.UTC)
    scheduler.add_job(
        plan_job, "interval", seconds=PLAN_EVERY.total_seconds(), id="plan", next_run_time=utcnow()
    )
    scheduler.add_job(
        dispatch_job,
        "interval",
        seconds=DISPATCH_EVERY.total_seconds(),
        id="dispatch",
        next_run_time=utcnow(),
    )

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %s: finishing the job in flight, then stopping", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler started: plan every %s, dispatch every %s", PLAN_EVERY, DISPATCH_EVERY)
    scheduler.start()
