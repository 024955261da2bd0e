"""Configuration from TEND_* environment variables (and an optional .env file)."""

from __future__ import annotations

import ipaddress
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TEND_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'tend.sqlite3'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server; unset = file drop")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port")
    smtp_user: str | None = Field(default=None, description="SMTP user name")
    smtp_password: str | None = Field(default=None, description="SMTP password")
    smtp_starttls: bool = Field(default=True, description="upgrade with STARTTLS")
    smtp_ssl: bool = Field(default=False, description="connect with implicit TLS (port 465)")
    smtp_timeout: float = Field(default=20.0, gt=0, description="seconds per SMTP operation")
    outbox_lease_seconds: int = Field(
        default=300,
        ge=5,
        description="how long a dispatch pass holds a claimed outbox row before another "
        "process may take it (a crashed pass's rows wait this long)",
    )
    mail_from: str = Field(default="Tend <tend@localhost>", description="From: address")
    mail_dir: Path = Field(default=VAR_DIR / "mail", description="file-drop folder")
    base_url: str = Field(default="http://localhost:8501", description="public URL for links")
    trusted_proxies: str = Field(
        default="",
        description="comma-separated addresses or networks (127.0.0.1, 10.0.0.0/8) of "
        "reverse proxies whose X-Forwarded-For header names the client; unset: none",
    )
    secret_key: str = Field(
        default="",
        description="signs unsubscribe links; generated into var/secret_key when unset",
    )

    # Safety: where the quick-exit control leads, and the help shown with the support
    # panel. Deployments outside the US set their own numbers.
    quick_exit_url: str = Field(
        default="https://www.wikipedia.org",
        description="neutral page the quick-exit control opens in place of Tend",
    )
    support_hotline_name: str = Field(
        default="National Domestic Violence Hotline (US)", description="support line's name"
    )
    support_hotline_phone: str = Field(default="1-800-799-7233", description="support line")
    support_hotline_text: str = Field(
        default="Text START to 88788", description="how to reach the support line by text"
    )
    support_hotline_url: str = Field(
        default="https://www.thehotline.org", description="support line's website (chat)"
    )
    emergency_number: str = Field(default="911", description="emergency number")
    verify_kept: bool = Field(
        default=False,
        description="compute again whatever a page reuses from memory and fail if it "
        "differs (couples/data_version.py; the test suite turns it on, it undoes the saving)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL, e.g. https://tend.example.org")
        return value.rstrip("/")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        entries = [part.strip() for part in value.split(",") if part.strip()]
        try:
            networks = [ipaddress.ip_network(entry, strict=False) for entry in entries]
        except ValueError:
            raise ValueError(
                "expected IP addresses or networks separated by commas, e.g. 127.0.0.1,::1"
            ) from None
        return ",".join(str(network) for network in networks)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n) for n in self.trusted_proxies.split(",") if n)

    @field_validator("quick_exit_url", "support_hotline_url")
    @classmethod
    def _leaving_url(cls, value: str) -> str:
        # Drawn into a link and a script: only a plain web address, nothing that runs.
        if not value.startswith(("http://", "https://")) or any(
            ch.isspace() or ch in "\"'<>`" for ch in value
        ):
            raise ValueError("expected an http:// or https:// URL, e.g. https://www.wikipedia.org")
        return value

    @field_validator("mail_from")
    @classmethod
    def _single_line(cls, value: str) -> str:
        if "\r" in value or "\n" in value or "@" not in value:
            raise ValueError("expected one address such as 'Tend <tend@example.org>'")
        return value

    @property
    def uses_file_drop(self) -> bool:
        return not self.smtp_host

    def resolved_secret_key(self) -> str:
        """The configured key, or one generated once and kept under var/ for local installs."""
        if self.secret_key:
            return self.secret_key
        path = VAR_DIR / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(32))
            path.chmod(0o600)
        return path.read_text().strip()


class ConfigError(Exception):
    """A TEND_ variable has a value Tend cannot use; the message names it."""


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "TEND_" + "_".join(str(part) for part in err["loc"]).upper()
            shown = (
                "" if ("PASSWORD" in name or "SECRET" in name) else f" (got {err.get('input')!r})"
            )
            lines.append(f"{name}: {err['msg']}{shown}")
        raise ConfigError("Invalid configuration:\n  " + "\n  ".join(lines)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
