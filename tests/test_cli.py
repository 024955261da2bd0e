"""The `tend` command line, run as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tend.cli import STREAMLIT_OPTIONS, main
from tend.mailbox import dropped_mails

ROOT = Path(__file__).resolve().parent.parent


def tend(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tend", *args],
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _commands(group=main, prefix=()):  # type: ignore[no-untyped-def]
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("command", list(_commands()), ids=" ".join)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_every_command_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in _commands():
        assert f"tend {' '.join(command)}" in readme, command


def test_the_streamlit_options_tend_serve_passes_are_streamlits_own() -> None:
    """`tend serve` passes these on the command line, where a name Streamlit no longer
    knows stops the server; and the collection after every run stays off (it held every
    session up by a quarter of a second, docs/performance.md)."""
    from streamlit import config

    for name, value in STREAMLIT_OPTIONS.items():
        assert name in config._config_options_template, name
        kind = config._config_options_template[name].type
        assert (kind is bool and value in ("true", "false")) or kind is str, (name, value)
    assert STREAMLIT_OPTIONS["runner.postScriptGC"] == "false"


def test_send_test_email_goes_through_the_file_drop(tend_env, tmp_path) -> None:
    result = tend("send-test-email", "Me@Example.org", env=tend_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Sent a test email to me@example.org" in result.stdout
    [mail] = dropped_mails(Path(tend_env["TEND_MAIL_DIR"]))
    assert mail.to == "me@example.org" and mail.subject == "Tend test email"


def test_send_test_email_reports_an_unreachable_server(tend_env, tmp_path) -> None:
    from tests.browser import free_port

    env = {
        **tend_env,
        "TEND_SMTP_HOST": "127.0.0.1",
        "TEND_SMTP_PORT": str(free_port()),
        "TEND_SMTP_STARTTLS": "false",
    }
    result = tend("send-test-email", "me@example.org", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "failed" in result.stderr and "cannot reach SMTP server" in result.stderr


def test_bad_configuration_stops_with_the_variable_named(tend_env, tmp_path) -> None:
    result = tend("migrate", env={**tend_env, "TEND_SMTP_PORT": "lots"}, cwd=tmp_path)
    assert result.returncode == 1
    assert "TEND_SMTP_PORT" in result.stderr and "Traceback" not in result.stderr


def test_demo_is_idempotent(tend_env, tmp_path) -> None:
    from sqlalchemy import func, select

    from couples.models import Couple, User
    from infra.db import engine_for, transaction

    for _ in range(2):
        result = tend("demo", env=tend_env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "password:" in result.stdout
    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        assert s.scalar(select(func.count()).select_from(User)) == 2
        assert s.scalar(select(func.count()).select_from(Couple)) == 1


def test_scheduler_once_sends_what_is_due(tend_env, tmp_path) -> None:
    from infra.db import engine_for, transaction
    from notifications.outbox import enqueue

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        enqueue(s, kind="test", to_address="due@example.org", dedupe_key="t1")
    result = tend("scheduler", "--once", env=tend_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "sent 1" in result.stdout
    assert [m.to for m in dropped_mails(Path(tend_env["TEND_MAIL_DIR"]))] == ["due@example.org"]


def test_export_writes_the_persons_zip_privately_and_never_overwrites(tend_env, tmp_path) -> None:
    import json
    import stat
    import zipfile

    from infra.db import engine_for, transaction
    from tests.factories import make_couple

    with transaction(engine_for(tend_env["TEND_DATABASE_URL"])) as s:
        make_couple(s, name="Sam & Alex")
    out = tmp_path / "b.zip"
    result = tend(
        "export", "--email", "B@Example.org", "--out", str(out), env=tend_env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with zipfile.ZipFile(out) as archive:
        document = json.loads(archive.read("tend-export.json"))
        assert "account/profile.csv" in archive.namelist()
    assert document["tables"]["account"]["profile"][0]["email"] == "b@example.org"
    assert document["tables"]["account"]["couple"][0]["name"] == "Sam & Alex"

    again = tend(
        "export", "--email", "b@example.org", "--out", str(out), env=tend_env, cwd=tmp_path
    )
    assert again.returncode != 0 and "already exists" in again.stderr
    unknown = tend(
        "export",
        "--email",
        "nobody@example.org",
        "--out",
        str(tmp_path / "n.zip"),
        env=tend_env,
        cwd=tmp_path,
    )
    assert unknown.returncode == 1 and "No account" in unknown.stderr
    assert not (tmp_path / "n.zip").exists()


def test_jobs_shows_the_last_error_that_healthz_keeps_to_itself(tend_env, tmp_path) -> None:
    from infra.db import engine_for, utcnow
    from notifications.scheduler import record_pass

    engine = engine_for(tend_env["TEND_DATABASE_URL"])
    assert "has not run yet" in tend("jobs", env=tend_env, cwd=tmp_path).stdout
    record_pass(engine, "plan", at=utcnow(), error="planner reminders failed: KeyError('x')")
    record_pass(engine, "dispatch", at=utcnow())
    result = tend("jobs", env=tend_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "last error: planner reminders failed: KeyError('x')" in result.stdout
    assert "dispatch: last run" in result.stdout and result.stdout.count("last error") == 1


def test_mailbox_prints_the_mails_to_one_address_with_their_links(tend_env, tmp_path) -> None:
    for address in ("me@example.org", "someone.else@example.org"):
        assert tend("send-test-email", address, env=tend_env, cwd=tmp_path).returncode == 0
    result = tend("mailbox", "--to", "ME@example.org", env=tend_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "to me@example.org" in result.stdout and "Tend test email" in result.stdout
    assert "someone.else" not in result.stdout
    assert "http://tend.test/unsubscribe?token=" in result.stdout
    smtp = tend("mailbox", env={**tend_env, "TEND_SMTP_HOST": "mail.invalid"}, cwd=tmp_path)
    assert smtp.returncode != 0 and "no file drop" in smtp.stderr


@pytest.mark.parametrize(
    ("host", "warns"),
    [
        ("127.0.0.1", False),
        ("127.0.1.1", False),
        ("::1", False),
        ("[::1]", False),
        ("localhost", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.20", True),
        ("tend.example.org", True),
    ],
)
def test_serve_warns_when_the_file_drop_is_reachable_from_other_machines(
    host: str, warns: bool
) -> None:
    from infra.settings import Settings
    from tend.cli import exposure_warning

    file_drop = Settings(_env_file=None, secret_key="k")
    assert (exposure_warning(host, file_drop) is not None) is warns
    with_smtp = Settings(_env_file=None, secret_key="k", smtp_host="mail.example.org")
    assert exposure_warning(host, with_smtp) is None


def test_serve_on_every_address_with_the_file_drop_says_what_that_exposes(tmp_path) -> None:
    import signal
    import time
    import urllib.request

    from tests.browser import free_port

    port = free_port()
    serve = [sys.executable, "-m", "tend", "serve"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TEND_")},
        "TEND_DATABASE_URL": f"sqlite:///{tmp_path / 'tend.sqlite3'}",
        "TEND_MAIL_DIR": str(tmp_path / "mail"),
        "TEND_SECRET_KEY": "k",
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [*serve, "--host", "0.0.0.0", "--port", str(port), "--no-scheduler"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert "WARNING: Tend listens on 0.0.0.0" in stderr
    assert "register any unused email address" in stderr and "TEND_SMTP_HOST" in stderr
