"""Every mail once? Real `tend scheduler` processes against a real, slow SMTP server.

    python scripts/outbox_stress.py                      # two schedulers, 300 mails
    python scripts/outbox_stress.py --runs 4 --first-delay 8
    python scripts/outbox_stress.py --kills 20           # SIGKILL at random moments
    python scripts/outbox_stress.py --sqlite             # a SQLite file instead

Race mode (the default) queues --mails mails, starts --schedulers long-running
`tend scheduler` processes with TEND_OUTBOX_LEASE_SECONDS=--lease against an aiosmtpd
server (tests/smtp_sink.py) that takes --delay seconds per mail (and --first-delay for
the first one: a send that outlasts the lease), waits until every row is sent, stops
them with SIGTERM and prints what the server received, counted by Message-ID:

    run 1: sent 300 / duplicates 0 / lost 0 (21.4 s)

Kill mode (--kills N) does N rounds of: queue --mails mails, start one scheduler, SIGKILL
it at a random moment while it sends, start another to finish, and count the mails the
server received twice. A kill can resend only the mail the server accepted before the
killed process recorded it; the script also prints how long that takes (server's
acceptance to the row's sent_at) for every mail it sent.

PostgreSQL: a throwaway database on TEND_TEST_POSTGRES_URL's server (default
postgres@127.0.0.1:5432), dropped afterwards. Exit status 1 if any mail was sent twice
or lost.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, delete, func, select, text  # noqa: E402

from infra.db import engine_for, transaction, utcnow  # noqa: E402
from notifications.models import SENT, OutboxMessage  # noqa: E402
from notifications.outbox import enqueue  # noqa: E402
from tend.migrate import upgrade  # noqa: E402
from tests.smtp_sink import SmtpSink  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "TEND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def database(use_sqlite: bool, workdir: Path) -> Iterator[str]:
    if use_sqlite:
        url = f"sqlite:///{workdir / 'stress.sqlite3'}"
        upgrade(url)
        yield url
        return
    name = f"tend_stress_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        yield url
    finally:
        engine_for(url).dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def environment(url: str, sink: SmtpSink, workdir: Path, lease: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEND_")}
    env.update(
        TEND_DATABASE_URL=url,
        TEND_SMTP_HOST=sink.host,
        TEND_SMTP_PORT=str(sink.port),
        TEND_SMTP_STARTTLS="false",
        TEND_SMTP_TIMEOUT="30",
        TEND_OUTBOX_LEASE_SECONDS=str(lease),
        TEND_MAIL_FROM="Tend <tend@stress.test>",
        TEND_BASE_URL="https://tend.stress.test",
        TEND_SECRET_KEY="stress-secret-key",
        TEND_MAIL_DIR=str(workdir / "mail"),
        PYTHONPATH=str(ROOT),
    )
    return env


def start(env: dict[str, str], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    log = (workdir / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tend", "scheduler"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=90)


def queue(url: str, count: int, tag: str) -> None:
    engine = engine_for(url)
    with transaction(engine) as session:
        session.execute(delete(OutboxMessage))
        now = utcnow()
        for i in range(count):
            enqueue(
                session,
                kind="test",
                to_address=f"r{i}@stress.test",
                dedupe_key=f"stress:{tag}:{i}",
                send_after=now,
            )


def sent_count(url: str) -> int:
    with transaction(engine_for(url), immediate=False) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == SENT)
            )
            or 0
        )


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def accept_to_record_ms(url: str, sink: SmtpSink) -> list[float]:
    """Per mail sent once: from the server's acceptance (just before its 250) to the
    sent_at the scheduler put in the statement that records it."""
    accepted: dict[str, float] = {}
    for mail in sink.messages():
        accepted.setdefault(mail.message_id, mail.at)
    for message_id, copies in sink.count_by_message_id().items():
        if copies > 1:  # recorded by the pass that sent it again, not the first
            del accepted[message_id]
    with transaction(engine_for(url), immediate=False) as session:
        rows = session.execute(select(OutboxMessage.message_id, OutboxMessage.sent_at)).all()
    return [
        (sent_at.timestamp() - accepted[message_id]) * 1000
        for message_id, sent_at in rows
        if sent_at is not None and message_id in accepted
    ]


def count(sink: SmtpSink, mails: int) -> tuple[int, int, int]:
    by_id = sink.count_by_message_id()
    duplicates = sum(c - 1 for c in by_id.values())
    return len(by_id), duplicates, mails - len(by_id)


def race(args: argparse.Namespace, url: str, workdir: Path) -> bool:
    clean = True
    for run in range(1, args.runs + 1):
        sink = SmtpSink().start()
        try:
            sink.delay_seconds = args.delay
            if args.first_delay:
                sink.delays = [args.first_delay]
            queue(url, args.mails, f"race{run}")
            env = environment(url, sink, workdir, args.lease)
            began = time.monotonic()
            processes = [start(env, workdir, f"race{run}-{i}") for i in range(args.schedulers)]
            try:
                finished = wait_until(lambda: sent_count(url) == args.mails, args.timeout)
            finally:
                for process in processes:
                    stop(process)
            took = time.monotonic() - began
            sent, duplicates, lost = count(sink, args.mails)
            print(
                f"run {run}: sent {sent} / duplicates {duplicates} / lost {lost} "
                f"({took:.1f} s{'' if finished else ', TIMED OUT'})",
                flush=True,
            )
            clean = clean and finished and duplicates == 0 and lost == 0
        finally:
            sink.stop()
    return clean


def kills(args: argparse.Namespace, url: str, workdir: Path) -> bool:
    rng = random.Random(args.seed)
    resent, lost_total, after_kill, windows = 0, 0, 0, []
    for kill in range(1, args.kills + 1):
        sink = SmtpSink().start()
        try:
            sink.delay_seconds = args.delay
            queue(url, args.mails, f"kill{kill}")
            env = environment(url, sink, workdir, args.lease)
            victim = start(env, workdir, f"kill{kill}-victim")
            # A random moment while it sends: after a random number of mails, plus a
            # random part of one mail's time.
            target = rng.randint(3, max(4, args.mails // 2))
            if not wait_until(
                lambda sink=sink, target=target: len(sink.messages()) >= target, args.timeout
            ):
                victim.kill()
                raise SystemExit(f"kill {kill}: the scheduler never sent {target} mails")
            time.sleep(rng.uniform(0, args.delay + 0.01))
            killed_at = time.time()
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            heir = start(env, workdir, f"kill{kill}-heir")
            try:
                finished = wait_until(lambda: sent_count(url) == args.mails, args.timeout)
            finally:
                stop(heir)
            sent, duplicates, lost = count(sink, args.mails)
            windows.extend(accept_to_record_ms(url, sink))
            detail = ""
            if duplicates:
                firsts: dict[str, float] = {}
                for mail in sink.messages():
                    firsts.setdefault(mail.message_id, mail.at)
                twice = [m for m, c in sink.count_by_message_id().items() if c > 1]
                for message_id in twice:
                    gap = (firsts[message_id] - killed_at) * 1000
                    if gap >= 0:
                        # The client was gone before the server said 250: no client
                        # could have recorded it (the server's own processing time).
                        after_kill += 1
                        detail += f" (first copy accepted {gap:.0f} ms after the SIGKILL)"
                    else:
                        detail += f" (first copy accepted {-gap:.0f} ms before the SIGKILL)"
            print(
                f"kill {kill}: sent {sent} / duplicates {duplicates} / lost {lost}"
                f"{'' if finished else ', TIMED OUT'}{detail}",
                flush=True,
            )
            resent += duplicates
            lost_total += lost + (0 if finished else 1)
        finally:
            sink.stop()
    print(
        f"{args.kills} kills: {resent} mails sent twice ({after_kill} of them accepted by "
        f"the server only after the kill), {lost_total} lost"
    )
    if windows:
        windows.sort()
        p99 = windows[min(len(windows) - 1, int(len(windows) * 0.99))]
        print(
            f"server's acceptance to the sent record, {len(windows)} mails: median "
            f"{statistics.median(windows):.1f} ms, p99 {p99:.1f} ms, max {windows[-1]:.1f} ms"
        )
    return lost_total == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--schedulers", type=int, default=2)
    parser.add_argument("--lease", type=int, default=5, help="TEND_OUTBOX_LEASE_SECONDS")
    parser.add_argument("--delay", type=float, default=0.12, help="seconds per mail")
    parser.add_argument("--first-delay", type=float, default=0.0, help="for the first mail")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--kills", type=int, default=0, help="SIGKILL rounds instead")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tend-stress-") as tmp:
        workdir = Path(tmp)
        with database(args.sqlite, workdir) as url:
            print(
                f"{'SQLite' if args.sqlite else 'PostgreSQL'}, lease {args.lease} s, "
                f"server {args.delay * 1000:.0f} ms per mail, {args.mails} mails",
                flush=True,
            )
            ok = kills(args, url, workdir) if args.kills else race(args, url, workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
