"""Settings: read once from the environment (and `.env`), typed and validated.

A bad value stops start-up with one line naming the variable (see `load_settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MAX_FEED_URL, MAX_FEED_NAME = 2048, 200  # what the feeds table holds


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the bot's and its ingest workers' log lines


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class FeedSpec:
    """One feed from `FEEDS`: its URL and an optional display name."""

    url: str
    name: str | None = None


def parse_feeds(raw: str) -> tuple[FeedSpec, ...]:
    """Parse `FEEDS`: comma- and/or newline-separated URLs, each optionally `Name|URL`; duplicates dropped."""
    specs: dict[str, FeedSpec] = {}
    for chunk in raw.replace("\n", ",").split(","):
        chunk = chunk.strip()
        if not chunk or chunk.startswith("#"):
            continue
        name, _, url = chunk.rpartition("|")
        url = url.strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL")
        if len(url) > MAX_FEED_URL:
            raise ValueError(f"{url[:60]!r}... is longer than {MAX_FEED_URL} characters")
        if len(name.strip()) > MAX_FEED_NAME:
            raise ValueError(f"the name {name.strip()[:40]!r}... is longer than {MAX_FEED_NAME} characters")
        specs.setdefault(url, FeedSpec(url=url, name=name.strip() or None))
    return tuple(specs.values())


def async_database_url(url: str) -> str:
    """Turn a URL as a user writes it (`sqlite:///x.db`, `postgresql://u@h/db`) into an async-driver URL."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"{url!r} is not a database URL (expected e.g. sqlite:///data/khulasa.db)")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgresql", "postgres"):
        return f"postgresql+asyncpg://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use sqlite:/// or postgresql://")


class Settings(BaseSettings):
    """Every setting of the bot; names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    telegram_bot_token: str | None = None
    telegram_api_base_url: str | None = None
    telegram_api_base_file_url: str | None = None
    feeds: Annotated[tuple[FeedSpec, ...], NoDecode] = ()
    database_url: str = "sqlite:///data/khulasa.db"
    poll_interval_seconds: int = Field(300, ge=1, le=86_400)
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    log_level: str = "INFO"

    digest_max_words: int = Field(60, ge=15, le=200)
    default_timezone: str = "Asia/Riyadh"
    max_topics_per_chat: int = Field(20, ge=1, le=200)
    push_max_age_hours: int = Field(48, ge=1, le=24 * 30)

    fetch_timeout_seconds: float = Field(20.0, gt=0, le=300)
    fetch_max_bytes: int = Field(10_000_000, ge=10_000)
    fetch_concurrency: int = Field(4, ge=1, le=64)
    feed_max_failures: int = Field(10, ge=1, le=1000)
    allow_private_urls: bool = False
    fetch_full_text: bool = True
    ingest_workers: int = Field(2, ge=0, le=64)

    send_global_per_second: float = Field(30.0, gt=0, le=30)
    send_per_chat_per_second: float = Field(1.0, gt=0, le=30)
    send_group_per_minute: int = Field(20, ge=1, le=60)
    send_max_attempts: int = Field(5, ge=1, le=100)

    @field_validator("feeds", mode="before")
    @classmethod
    def _feeds(cls, value: object) -> object:
        return parse_feeds(value) if isinstance(value, str) else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        ids = set()
        for part in value.replace("\n", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.lstrip("-").isdigit():
                raise ValueError(f"{part!r} is not a numeric Telegram user id")
            ids.add(int(part))
        return frozenset(ids)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        async_database_url(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone such as Asia/Riyadh") from None
        return value

    @field_validator("telegram_api_base_url", "telegram_api_base_file_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must look like http://host:port/bot")
        return value.strip()

    @property
    def async_database_url(self) -> str:
        """The database URL with the async driver the bot uses."""
        return async_database_url(self.database_url)

    def sqlite_path(self) -> Path | None:
        """The SQLite file path, when the database is an SQLite file."""
        url = self.async_database_url
        if not url.startswith("sqlite"):
            return None
        path = url.partition(":///")[2].split("?", 1)[0]
        return Path(path) if path and path != ":memory:" else None


def load_settings(*, require_token: bool = False, env_file: str | None = ".env") -> Settings:
    """Read and validate settings; raise SettingsError with a one-line message naming the variable."""
    try:
        settings = Settings(_env_file=env_file)  # type: ignore[call-arg]
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"{name}: {message}") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{env_file}: not UTF-8 text; save it as UTF-8") from None
    except OSError as exc:
        raise SettingsError(f"{env_file}: cannot be read ({exc.strerror or exc})") from None
    if require_token and not (settings.telegram_bot_token or "").strip():
        raise SettingsError("TELEGRAM_BOT_TOKEN: missing; put TELEGRAM_BOT_TOKEN=<token from @BotFather> in .env")
    if require_token and ":" not in (settings.telegram_bot_token or ""):
        raise SettingsError("TELEGRAM_BOT_TOKEN: does not look like a bot token (expected 123456:ABC...)")
    return settings
