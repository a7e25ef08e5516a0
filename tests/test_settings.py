"""The configuration contract: env vars and .env, defaults, one-line errors naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import FeedSpec, SettingsError, async_database_url, load_settings, parse_feeds

ENV_KEYS = ("TELEGRAM_BOT_TOKEN", "FEEDS", "DATABASE_URL", "POLL_INTERVAL_SECONDS", "ADMIN_IDS", "LOG_LEVEL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults_need_nothing_but_the_token_to_run(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.poll_interval_seconds == 300
    assert settings.database_url == "sqlite:///data/khulasa.db"
    assert settings.async_database_url == "sqlite+aiosqlite:///data/khulasa.db"
    assert settings.feeds == () and settings.admin_ids == frozenset()
    with pytest.raises(SettingsError, match="^TELEGRAM_BOT_TOKEN: missing"):
        load_settings(require_token=True)


def test_env_file_is_read_and_env_vars_win(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(
        'TELEGRAM_BOT_TOKEN=1:abc\nPOLL_INTERVAL_SECONDS=120\nFEEDS="Okaz|http://okaz.example/rss\nhttp://b.example/feed"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "600")
    settings = load_settings(require_token=True)
    assert settings.poll_interval_seconds == 600
    assert settings.feeds == (FeedSpec("http://okaz.example/rss", "Okaz"), FeedSpec("http://b.example/feed", None))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("POLL_INTERVAL_SECONDS", "soon", "POLL_INTERVAL_SECONDS: Input should be a valid integer"),
        ("POLL_INTERVAL_SECONDS", "0", "POLL_INTERVAL_SECONDS: Input should be greater than or equal to 1"),
        ("FEEDS", "ftp://x.example/feed", "FEEDS: 'ftp://x.example/feed' is not an http(s) URL"),
        ("ADMIN_IDS", "12, bob", "ADMIN_IDS: 'bob' is not a numeric Telegram user id"),
        ("DATABASE_URL", "mysql://x/y", "DATABASE_URL: unsupported database 'mysql'"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL: must be one of"),
        ("DEFAULT_TIMEZONE", "Mars/Base", "DEFAULT_TIMEZONE: 'Mars/Base' is not an IANA time zone"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, key: str, value: str, message: str) -> None:
    monkeypatch.setenv(key, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_feeds_accept_commas_newlines_names_and_drop_duplicates() -> None:
    feeds = parse_feeds(" http://a.example/rss ,\nالرياض|https://b.example/x?y=1\n\nhttp://a.example/rss")
    assert feeds == (FeedSpec("http://a.example/rss"), FeedSpec("https://b.example/x?y=1", "الرياض"))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///data/k.db", "sqlite+aiosqlite:///data/k.db"),
        ("sqlite:////abs/k.db", "sqlite+aiosqlite:////abs/k.db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u:p@h:5433/db", "postgresql+asyncpg://u:p@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_get_the_async_driver(url: str, expected: str) -> None:
    assert async_database_url(url) == expected


def test_an_env_file_that_is_not_utf8_gives_one_line(tmp_path: Path) -> None:
    """A .env saved as Windows-1256 (Arabic feed names) stops start-up with one line, not a traceback."""
    (tmp_path / ".env").write_bytes('FEEDS="الرياض|https://www.alriyadh.com/rss"\n'.encode("cp1256"))
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value).startswith(".env: ") and "UTF-8" in str(error.value)
    assert "\n" not in str(error.value)


def test_feed_names_and_urls_longer_than_stored_are_refused() -> None:
    """The feeds table holds names of 200 and URLs of 2048 characters: longer ones are a setting error, not a crash."""
    with pytest.raises(ValueError, match="longer than 200"):
        parse_feeds("ن" * 201 + "|http://a.example/rss")
    with pytest.raises(ValueError, match="longer than 2048"):
        parse_feeds("http://a.example/rss?" + "x" * 2048)
    assert parse_feeds("ن" * 200 + "|http://a.example/rss")[0].name == "ن" * 200
