"""Shared fixtures. Database tests run twice: on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from infra import db as tend_db
from infra.settings import get_settings
from tend.migrate import upgrade
from tend.schema import metadata

POSTGRES_ADMIN_URL = os.environ.get(
    "TEND_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = bool(os.environ.get("CI"))
# Whatever a page reuses from memory is computed again and compared
# (couples/data_version.py): a write that does not move the couple's data version fails
# the test that reads after it.
VERIFY_KEPT = {"TEND_VERIFY_KEPT": "true"}
os.environ.update(VERIFY_KEPT)


def _postgres_available() -> str | None:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # report why, below
        return repr(exc)
    return None


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test run, migrated once."""
    problem = _postgres_available()
    if problem:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and unreachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {problem}")
    name = f"tend_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    yield url
    tend_db.engine_for.cache_clear()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "tend.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    url = request.getfixturevalue(f"{request.param}_database")
    engine = tend_db.engine_for(url)
    _empty_all_tables(engine)
    yield url


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in metadata().sorted_tables]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                connection.execute(text(f'DELETE FROM "{name}"'))


@pytest.fixture
def engine(database_url: str) -> Engine:
    return tend_db.engine_for(database_url)


@pytest.fixture
def tend_env(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """TEND_* variables pointing at the test database and a private mail drop."""
    env = {
        "TEND_DATABASE_URL": database_url,
        "TEND_MAIL_DIR": str(tmp_path / "mail"),
        "TEND_BASE_URL": "http://tend.test",
        "TEND_SECRET_KEY": "test-secret-key",
        "TEND_MAIL_FROM": "Tend <tend@tend.test>",
        **VERIFY_KEPT,
    }
    for name in [n for n in os.environ if n.startswith("TEND_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


NOW = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def now() -> dt.datetime:
    return NOW


@pytest.fixture
def tx(engine: Engine):  # type: ignore[no-untyped-def]
    """Open one transaction per simulated user action: ``with tx() as s: ...``."""
    return lambda: tend_db.transaction(engine)


# --- real browser ------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, watch_runs

    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} missing: apt-get install -y chromium"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Every context counts Streamlit's runs, so the helpers wait for state, not time.
        launched_context = browser.new_context
        browser.new_context = lambda *a, **k: watch_runs(launched_context(*a, **k))  # type: ignore[method-assign]
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server_pool(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The `tend serve` processes a test module's tests share (tests/browser.py)."""
    from tests.browser import ServerPool

    pool = ServerPool(tmp_path_factory.mktemp("serve"))
    yield pool
    pool.close()


@pytest.fixture
def serve(server_pool, tend_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """``serve(extra_env)``: a real `tend serve` (web app + scheduler) for the test
    database with ``extra_env`` on top, shared with the module's other tests that ask
    for the same environment, its mail drop emptied; it settles after the test."""
    used = []

    def start(extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        server = server_pool.serve({**tend_env, **(extra or {})})
        # The test reads the mails where this server drops them.
        tend_env["TEND_MAIL_DIR"] = str(server.mail_dir)
        monkeypatch.setenv("TEND_MAIL_DIR", str(server.mail_dir))
        get_settings.cache_clear()
        used.append(server)
        return server

    yield start
    for server in used:
        server_pool.settle(server, tend_env["TEND_DATABASE_URL"])


@pytest.fixture
def served(serve):  # type: ignore[no-untyped-def]
    """A real `tend serve` (web app + scheduler) on a free port and the test database."""
    return serve()


def pytest_sessionfinish(session: pytest.Session) -> None:
    # An xdist worker hands its count of server starts to the controller.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["tend_serve_starts"] = getattr(
            sys.modules.get("tests.browser"), "SERVER_STARTS", 0
        )


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # type: ignore[no-untyped-def]
    starts = getattr(node, "workeroutput", {}).get("tend_serve_starts", 0)
    node.config._tend_worker_starts = getattr(node.config, "_tend_worker_starts", 0) + starts


def pytest_terminal_summary(terminalreporter, config) -> None:  # type: ignore[no-untyped-def]
    browser = sys.modules.get("tests.browser")
    starts = getattr(browser, "SERVER_STARTS", 0) + getattr(config, "_tend_worker_starts", 0)
    if starts:
        terminalreporter.write_line(f"tend serve started {starts} times")


@pytest.fixture
def new_context(browser):  # type: ignore[no-untyped-def]
    """Make separate browser contexts (one per partner); all are closed afterwards."""
    contexts = []

    def make():  # type: ignore[no-untyped-def]
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


# --- real SMTP server -----------------------------------------------------------------


@pytest.fixture
def smtp_sink():  # type: ignore[no-untyped-def]
    """An aiosmtpd server on a free loopback port; see tests/smtp_sink.py."""
    from tests.smtp_sink import SmtpSink

    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp_settings(database_url: str, smtp_sink, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Settings that send through the sink, with short timeouts for fault tests."""
    from infra.settings import Settings

    return Settings(
        database_url=database_url,
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_starttls=False,
        smtp_ssl=False,
        smtp_timeout=1.5,
        mail_from="Tend <tend@tend.test>",
        base_url="http://tend.test",
        secret_key="test-secret-key",
        mail_dir=tmp_path / "mail",
    )


@pytest.fixture
def test_prompt():  # type: ignore[no-untyped-def]
    """A prompt kind ("test_prompt") people can switch off, with real templates."""
    from tests.notify_helpers import TEST_PROMPT, register_test_prompt, unregister_test_prompt

    register_test_prompt()
    yield TEST_PROMPT
    unregister_test_prompt()
