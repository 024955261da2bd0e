"""The `tend` command line: a thin wrapper over the services."""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import sys
import time
from email.utils import parseaddr
from pathlib import Path

import click

from infra.settings import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Tend: agreements, private check-ins and reminders for couples who got back together."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import tend.schema  # noqa: F401  (every model registered before any query)

    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# What `tend serve` tells Streamlit besides the address (the benchmarks run their
# reference pages with the same): no usage statistics, no file watcher, a minimal toolbar,
# and no full garbage collection after every page run. That collection walks the whole
# heap (SQLAlchemy, Altair, pyarrow: 200-270 ms here) holding the interpreter lock, so
# every other session waited behind each run; Python's own collector still frees
# cycles (docs/performance.md, "Seventh session").
STREAMLIT_OPTIONS = {
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "client.toolbarMode": "minimal",
    "runner.postScriptGC": "false",
}


@main.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    from tend.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("Database is up to date.")


@main.command()
@click.option("--port", default=8501, show_default=True, help="Port for the web app.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--no-scheduler", is_flag=True, help="Run the web app only (scheduler elsewhere).")
@click.option(
    "--show-error-details",
    is_flag=True,
    help="Development only: show tracebacks in the browser (by default they go to the log).",
)
def serve(port: int, host: str, no_scheduler: bool, show_error_details: bool) -> None:
    """Migrate, then run the web app and the scheduler together. Ctrl-C stops both."""
    from tend.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    processes: list[subprocess.Popen[bytes]] = []
    if not no_scheduler:
        processes.append(subprocess.Popen([sys.executable, "-m", "tend", "scheduler"]))
    processes.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(ROOT / "tend" / "server.py"),
                "--server.port",
                str(port),
                "--server.address",
                host,
                *(arg for name, value in STREAMLIT_OPTIONS.items() for arg in (f"--{name}", value)),
                # A traceback names server paths and code: the browser gets a plain
                # message, the log the details.
                "--client.showErrorDetails",
                "full" if show_error_details else "none",
            ],
            # uvicorn would otherwise believe X-Forwarded-For from any loopback peer:
            # only the proxies the operator named are trusted (as couples.clients reads it).
            env={**os.environ, "FORWARDED_ALLOW_IPS": settings.trusted_proxies},
        )
    )
    mode = "file drop in " + str(settings.mail_dir) if settings.uses_file_drop else "SMTP"
    click.echo(f"Tend is starting on http://{host}:{port} (mail: {mode}). Ctrl-C stops it.")
    warning = exposure_warning(host, settings)
    if warning:
        click.secho(warning, fg="yellow", err=True)

    def terminate(*_: object) -> None:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, terminate)
    try:
        # If either process dies, stop the other too: half a Tend is worse than none.
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    stopped = (0, -signal.SIGTERM, -signal.SIGINT)
    failed = [p for p in processes if p.returncode not in stopped]
    for process in failed:  # say which one, so a failed stop can be looked into
        name = "scheduler" if "scheduler" in process.args else "web app"
        click.echo(f"The {name} ended with exit code {process.returncode}.", err=True)
    sys.exit(1 if failed else 0)


def _is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def exposure_warning(host: str, settings: Settings) -> str | None:
    """What serving the file drop on an address other machines reach gives away."""
    if not settings.uses_file_drop or _is_loopback(host):
        return None
    return (
        f"WARNING: Tend listens on {host}, where other machines can reach it, but no mail "
        "server is configured (TEND_SMTP_HOST is unset): its mails stay in "
        f"{settings.mail_dir} and are never delivered. Anyone who can reach this address "
        "can register any unused email address and confirm it on the local Mailbox page "
        "without owning that inbox, and nobody receives invitations, reminders or "
        "password-reset links (only `tend mailbox` on this machine shows them). Set "
        "TEND_SMTP_HOST (docs/operations.md) before anyone else uses this Tend, or serve "
        "on 127.0.0.1."
    )


@main.command()
@click.option("--once", is_flag=True, help="Run one planning and one dispatch pass, then exit.")
def scheduler(once: bool) -> None:
    """Run the scheduler: open due check-ins, plan reminders, send the outbox."""
    import tend.schema  # noqa: F401  (every model: the outbox's foreign key to users resolves)
    from notifications import scheduler as sched

    _settings()
    if once:
        report = sched.run_once()
        d = report.dispatched
        click.echo(
            f"planned {report.planned}; sent {len(d.sent)}, retrying {len(d.retrying)}, "
            f"dead {len(d.dead)}, skipped {len(d.skipped)}"
        )
        if d.unreachable:
            click.echo(f"SMTP server unreachable, mails stay queued: {d.unreachable}", err=True)
        if d.stalled:
            click.echo(
                f"SMTP server stalled, mails stay queued (no attempt charged): {d.stalled}",
                err=True,
            )
        for name, error in report.failed_planners.items():
            click.echo(f"planner {name} failed: {error}", err=True)
        if d.unreachable or d.stalled or report.failed_planners:
            sys.exit(1)
        return
    sched.run_forever()


@main.command()
def jobs() -> None:
    """The scheduler's jobs: last run, last success and the last error in full (/healthz
    shows only whether a job is failing: anyone can read it)."""
    from notifications.scheduler import last_passes

    _settings()
    passes = last_passes()
    if not passes:
        click.echo("The scheduler has not run yet.")
        return
    for job, row in sorted(passes.items()):
        success = f"{row.last_success_at:%Y-%m-%d %H:%M:%S}" if row.last_success_at else "never"
        click.echo(
            f"{job}: last run {row.last_run_at:%Y-%m-%d %H:%M:%S} UTC, last success {success}"
        )
        if row.last_error:
            click.echo(f"  last error: {row.last_error}")


@main.group(invoke_without_command=True)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(["pending", "sending", "failed-retrying", "dead", "skipped", "sent"]),
    help="Only rows with this status (repeatable). Default: everything not sent.",
)
@click.pass_context
def outbox(ctx: click.Context, statuses: tuple[str, ...]) -> None:
    """List outbox rows that are not sent yet: pending, sending, retrying, dead, skipped."""
    if ctx.invoked_subcommand is not None:
        return
    from notifications.dispatch import NOT_DONE, outbox_rows

    _settings()
    rows = outbox_rows(statuses=statuses or NOT_DONE)
    if not rows:
        click.echo("The outbox is empty: everything was sent.")
        return
    click.echo(f"{'ID':>6}  {'STATUS':<15} {'KIND':<24} {'TRIES':>5}  {'SEND AFTER (UTC)':<16}  TO")
    for row in rows:
        click.echo(
            f"{row.id:>6}  {row.status:<15} {row.kind:<24} {row.attempts:>5}  "
            f"{row.send_after:%Y-%m-%d %H:%M}  {row.to_address}"
        )
        if row.last_error:
            click.echo(f"{'':>8}last error: {row.last_error}")


@outbox.command("retry")
@click.argument("row_id", type=int, metavar="ID")
def outbox_retry(row_id: int) -> None:
    """Requeue outbox row ID (dead, retrying or skipped) to go out on the next pass."""
    from notifications.dispatch import CannotRetry, retry

    _settings()
    try:
        row = retry(None, row_id)
    except CannotRetry as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Row {row.id} ({row.kind} to {row.to_address}) will go out on the next pass.")


@main.command("send-test-email")
@click.argument("address")
def send_test_email(address: str) -> None:
    """Send a test email to ADDRESS through the configured transport, right now."""
    from couples.accounts import email_problem, normalize_email
    from infra.db import get_engine, transaction, utcnow
    from notifications.dispatch import send_now
    from notifications.outbox import enqueue

    settings = _settings()
    address = normalize_email(address)
    if problem := email_problem(address):
        raise click.BadParameter(problem, param_hint="ADDRESS")
    now = utcnow()
    with transaction() as session:
        message = enqueue(
            session,
            kind="test",
            to_address=address,
            dedupe_key=f"test:{address}:{now.isoformat()}",
            send_after=now,
        )
        assert message is not None
    row = send_now(get_engine(), message.id, settings=settings)
    where = (
        f"the file drop ({settings.mail_dir})"
        if settings.uses_file_drop
        else f"{settings.smtp_host}:{settings.smtp_port}"
    )
    if row.status != "sent":
        raise click.ClickException(
            f"Sending through {where} failed ({row.status}): {row.last_error}"
        )
    click.echo(f"Sent a test email to {address} through {where}.")


@main.command()
@click.option("--to", "address", default=None, help="Only mails to this address.")
@click.option("--limit", default=10, show_default=True, help="How many mails, newest first.")
def mailbox(address: str | None, limit: int) -> None:
    """Print the newest mails of the file drop (no mail server configured), with their
    links: for the operator at this machine, e.g. a password-reset link."""
    from tend.mailbox import dropped_mails, links_in

    settings = _settings()
    if not settings.uses_file_drop:
        raise click.ClickException("A mail server is configured (TEND_SMTP_HOST): no file drop.")
    wanted = address.strip().lower() if address else None
    mails = [
        m
        for m in dropped_mails(settings.mail_dir)
        if not wanted or parseaddr(m.to)[1].lower() == wanted
    ]
    if not mails:
        click.echo(f"No mail in {settings.mail_dir}" + (f" to {address}." if address else "."))
        return
    for mail in mails[:limit]:
        click.echo(f"{mail.date}  to {mail.to}\n  {mail.subject}")
        for url in links_in(mail.text, settings.base_url):
            click.echo(f"  {url}")


@main.command()
@click.option("--email", "address", required=True, help="The account's email address.")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Where to write the zip (refuses to overwrite an existing file).",
)
def export(address: str, out: Path) -> None:
    """Write one person's data export (the zip they can download) to a file."""
    from couples.accounts import user_by_email
    from infra.db import transaction
    from privacy.export import export_zip

    _settings()
    if out.exists():
        raise click.BadParameter(f"{out} already exists; choose a new file.", param_hint="--out")
    with transaction() as session:
        user = user_by_email(session, address)
        if user is None:
            raise click.ClickException(f"No account with the address {address.strip().lower()}.")
        data = export_zip(session, user.id)
    # The file holds private answers: readable by the operator's account only.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    click.echo(f"Wrote {len(data)} bytes to {out}.")


@main.command()
@click.option(
    "--years",
    type=click.IntRange(1, 50),
    default=None,
    help="Length of the history in years (default: 24 months).",
)
def demo(years: int | None) -> None:
    """Create (once) a demo couple with a history of check-ins and print both partners'
    sign-in details."""
    from tend.demo import create_demo
    from tend.migrate import upgrade

    # A clean install needs no separate `tend migrate` first.
    upgrade(_settings().database_url)
    for line in create_demo(years=years):
        click.echo(line)


if __name__ == "__main__":
    main()
