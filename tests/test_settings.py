"""Configuration: defaults that work with no setup, and bad values named clearly."""

from __future__ import annotations

import pytest

from infra.settings import ConfigError, load_settings


@pytest.fixture
def clean_env(monkeypatch, tmp_path):  # type: ignore[no-untyped-def]
    import os

    for name in [n for n in os.environ if n.startswith("TEND_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file


def test_defaults_need_no_configuration(clean_env) -> None:
    settings = load_settings()
    assert settings.database_url.startswith("sqlite:///var/")
    assert settings.uses_file_drop
    assert str(settings.mail_dir) == "var/mail"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TEND_SMTP_PORT", "seventy", "TEND_SMTP_PORT"),
        ("TEND_SMTP_PORT", "70000", "TEND_SMTP_PORT"),
        ("TEND_SMTP_STARTTLS", "maybe", "TEND_SMTP_STARTTLS"),
        ("TEND_DATABASE_URL", "mysql://x", "TEND_DATABASE_URL"),
        ("TEND_BASE_URL", "tend.example.org", "TEND_BASE_URL"),
        ("TEND_MAIL_FROM", "nobody", "TEND_MAIL_FROM"),
    ],
)
def test_a_bad_value_names_the_variable(clean_env, monkeypatch, name, value, expected) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert expected in str(excinfo.value)


def test_secrets_are_not_echoed_in_errors(clean_env, monkeypatch) -> None:
    monkeypatch.setenv("TEND_SMTP_PORT", "x")
    monkeypatch.setenv("TEND_SMTP_PASSWORD", "hunter2-secret")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert "hunter2-secret" not in str(excinfo.value)


def test_plain_postgresql_urls_use_psycopg3(clean_env, monkeypatch) -> None:
    monkeypatch.setenv("TEND_DATABASE_URL", "postgresql://u@db/tend")
    assert load_settings().database_url == "postgresql+psycopg://u@db/tend"


def test_env_file_is_read(clean_env, tmp_path) -> None:
    (tmp_path / ".env").write_text("TEND_SMTP_HOST=smtp.example.org\nTEND_SMTP_PORT=465\n")
    settings = load_settings()
    assert (settings.smtp_host, settings.smtp_port, settings.uses_file_drop) == (
        "smtp.example.org",
        465,
        False,
    )
