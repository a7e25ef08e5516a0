"""Khulasa: Arabic news digests on Telegram. The composition root and the command line.

python bot.py                        run the bot (long polling + scheduler); same as `python bot.py run`
python bot.py poll --once            poll every feed once and print a report (no token needed)
python bot.py summarize --jsonl      {"id","title","text"} lines in, {"id","summary"} lines out
python bot.py match --topic T --jsonl    {"id","title","text"} lines in, {"id","match"} lines out
python bot.py stories --jsonl        {"id","title","text","source","published"} lines in, {"id","story"} out
python bot.py latest [--topic T]     the latest digests in the database, as plain text
python bot.py feeds                  feed health report
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TextIO

from settings import LOG_FORMAT, Settings, SettingsError, load_settings

# python-telegram-bot 22 gives time spans as timedelta when this is set (our code handles both), and warns without it.
os.environ.setdefault("PTB_TIMEDELTA", "1")

log = logging.getLogger("khulasa")


# ---------------------------------------------------------------------------------------------- the Telegram bot


async def post_init(application) -> None:  # type: ignore[no-untyped-def]
    """Open services, migrate the database, recover the outbox and set the command menu."""
    from telegram import BotCommand

    from delivery import Sender
    from handlers.texts import COMMANDS
    from news.fetch import make_client
    from news.refresh import Refresher
    from storage.db import make_engine, make_sessionmaker, migrate

    data = application.bot_data
    settings: Settings = data.settings
    data.engine = make_engine(settings.async_database_url)
    await migrate(data.engine)
    data.sessionmaker = make_sessionmaker(data.engine)
    data.client = make_client(user_agent=USER_AGENT, timeout=settings.fetch_timeout_seconds)
    data.refresher = Refresher(settings, data.sessionmaker, data.client, workers=settings.ingest_workers)
    await data.refresher.sync_feeds()
    sender = Sender(settings, data.sessionmaker)
    await sender.recover()
    data.extras["sender"] = sender
    bot = application.bot
    data.username = bot.username or ""
    await bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS["ar"]])
    await bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS["en"]], language_code="en")
    log.info("Khulasa started as @%s with %d feeds", data.username, len(settings.feeds))
    gc.freeze()  # start-up objects (modules, mappings, settings) live as long as the bot: not scanned again


async def post_shutdown(application) -> None:  # type: ignore[no-untyped-def]
    """Stop the ingest workers, close the HTTP client and the database."""
    data = application.bot_data
    if data.refresher is not None:
        data.refresher.close()
    if data.client is not None:
        await data.client.aclose()
    if data.engine is not None:
        await data.engine.dispose()


USER_AGENT = "Khulasa/0.1 (Telegram news digest bot)"


def build_application(settings: Settings):  # type: ignore[no-untyped-def]
    """Build the Application: handlers, the error handler and the jobs, each in one visible block."""
    from telegram import LinkPreviewOptions
    from telegram.constants import ParseMode
    from telegram.ext import ApplicationBuilder, Defaults

    import handlers
    import jobs
    from delivery import PacedRateLimiter, Pacer
    from handlers.context import CONTEXT_TYPES
    from handlers.errors import error_handler

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or "")
        .context_types(CONTEXT_TYPES)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                allow_sending_without_reply=True,  # a reply still goes out when its command was deleted meanwhile
            )
        )
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .rate_limiter(PacedRateLimiter(Pacer.from_settings(settings)))
    )
    if settings.telegram_api_base_url:
        builder = builder.base_url(settings.telegram_api_base_url)
    if settings.telegram_api_base_file_url:
        builder = builder.base_file_url(settings.telegram_api_base_file_url)
    application = builder.build()
    application.bot_data.settings = settings

    application.add_handlers(handlers.ALL)
    application.add_error_handler(error_handler)

    queue = application.job_queue
    assert queue is not None, "install python-telegram-bot[job-queue]"
    job_kwargs = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    queue.run_repeating(
        jobs.poll_feeds, interval=min(settings.poll_interval_seconds, 60), first=1, name="poll", job_kwargs=job_kwargs
    )
    queue.run_repeating(jobs.push_outbox, interval=1, first=1, name="push", job_kwargs=job_kwargs)
    return application


def run(settings: Settings) -> int:
    """Run the bot until interrupted."""
    from telegram import Update

    application = build_application(settings)
    application.run_polling(allowed_updates=Update.ALL_TYPES, drop_pending_updates=False)
    return 0


# --------------------------------------------------------------------------------------------- offline commands


def read_jsonl(stream: TextIO) -> Iterator[dict]:
    """JSON objects from a stream, one per line; a bad line is reported on stderr and skipped."""
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            print(f"line {number}: not JSON ({exc.msg}); skipped", file=sys.stderr)
            continue
        if not isinstance(record, dict):
            print(f"line {number}: not a JSON object; skipped", file=sys.stderr)
            continue
        yield record


def write_jsonl(record: dict, stream: TextIO) -> None:
    """One JSON object per line, Arabic kept readable."""
    stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    stream.flush()


def cmd_summarize(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Summarise JSON lines."""
    from news.extract import clean_text
    from news.summarize import summarize

    max_words = args.max_words
    for record in read_jsonl(stdin):
        title, text = str(record.get("title") or ""), str(record.get("text") or "")
        write_jsonl(
            {"id": record.get("id"), "summary": summarize(title, clean_text(text), max_words=max_words, cleaned=True)},
            stdout,
        )
    return 0


def cmd_match(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Say which JSON lines are about a topic."""
    from news.extract import clean_text
    from news.topics import parse_topic, topic_matches

    topic = parse_topic(args.topic)
    if topic is None:
        print(f"--topic: unknown topic {args.topic!r} (try e.g. 'Iran–Russia' or 'إيران')", file=sys.stderr)
        return 2
    for record in read_jsonl(stdin):
        title, text = str(record.get("title") or ""), str(record.get("text") or "")
        write_jsonl({"id": record.get("id"), "match": topic_matches(topic, title, clean_text(text))}, stdout)
    return 0


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_stories(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Group JSON lines into stories."""
    from news.dedupe import fingerprint, group_stories
    from news.extract import clean_text

    records = list(read_jsonl(stdin))
    docs = []
    for position, record in enumerate(records):
        doc_id = str(record.get("id", position))
        title, text = str(record.get("title") or ""), clean_text(str(record.get("text") or ""))
        sig = fingerprint(
            title, text, source=str(record.get("source") or ""), published=_parse_time(record.get("published"))
        )
        docs.append((doc_id, sig))
    groups = group_stories(docs)
    for record, (doc_id, _) in zip(records, docs, strict=True):
        write_jsonl({"id": record.get("id", doc_id), "story": groups[doc_id]}, stdout)
    return 0


async def _with_database(settings: Settings, work):  # type: ignore[no-untyped-def]
    from storage.db import make_engine, make_sessionmaker, migrate

    engine = make_engine(settings.async_database_url)
    try:
        await migrate(engine)
        return await work(make_sessionmaker(engine))
    finally:
        await engine.dispose()


def cmd_poll(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    """Poll every listed feed once and print a report."""
    from news.fetch import make_client
    from news.refresh import Refresher

    if not settings.feeds:
        print("FEEDS is empty: list feed URLs in .env (see config.example.env)", file=sys.stderr)
        return 2

    async def work(sessionmaker):  # type: ignore[no-untyped-def]
        async with make_client(user_agent=USER_AGENT, timeout=settings.fetch_timeout_seconds) as client:
            refresher = Refresher(settings, sessionmaker, client, workers=settings.ingest_workers)
            try:
                await refresher.sync_feeds()
                return await refresher.refresh_due(force=True)
            finally:
                refresher.close()

    reports = asyncio.run(_with_database(settings, work))
    width = max(len(report.feed) for report in reports) if reports else 4
    print(f"{'feed':<{width}}  {'new':>5}  {'stories':>7}  {'queued':>6}  status", file=stdout)
    for report in reports:
        status = report.error or ("not modified" if report.not_modified else "ok")
        print(
            f"{report.feed:<{width}}  {report.new:>5}  {report.stories:>7}  {report.queued:>6}  {status}", file=stdout
        )
    errors = sum(1 for report in reports if report.error)
    total = sum(report.new for report in reports)
    print(f"{len(reports)} feeds, {total} new articles, {errors} errors", file=stdout)
    return 0


def cmd_latest(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    """Print the latest digests as plain text."""
    from news.render import local_time
    from news.topics import parse_topic
    from storage import articles

    keys = None
    if args.topic:
        topic = parse_topic(args.topic)
        if topic is None:
            print(f"--topic: unknown topic {args.topic!r}", file=sys.stderr)
            return 2
        keys = [topic.key]

    async def work(sessionmaker):  # type: ignore[no-untyped-def]
        async with sessionmaker() as session:
            return await articles.latest(session, keys, limit=args.limit)

    stories = asyncio.run(_with_database(settings, work))
    if not stories:
        print("no stories yet (run `python bot.py poll --once` first)", file=stdout)
    for story in stories:
        sources = "، ".join(f"{s.name} <{s.url}>" if s.url else s.name for s in story.sources)
        print(f"■ {story.title}\n{story.digest}\nالمصادر: {sources}", file=stdout)
        print(f"{local_time(story.published_at, settings.default_timezone)}\n", file=stdout)
    return 0


def cmd_feeds(args: argparse.Namespace, settings: Settings, stdout: TextIO) -> int:
    """Print the feed health report."""
    from storage.db import utcnow
    from storage.feeds import sync_feeds
    from storage.reports import feeds_report

    async def work(sessionmaker):  # type: ignore[no-untyped-def]
        async with sessionmaker.begin() as session:
            await sync_feeds(session, [(spec.url, spec.name) for spec in settings.feeds])
            return await feeds_report(session, since=utcnow() - timedelta(hours=24))

    for line in asyncio.run(_with_database(settings, work)):
        print(line, file=stdout)
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    main = argparse.ArgumentParser(prog="bot.py", description="Khulasa: Arabic news digests on Telegram")
    commands = main.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    poll = commands.add_parser("poll", help="poll the feeds")
    poll.add_argument("--once", action="store_true", required=True, help="poll every feed once and exit")
    summarize = commands.add_parser("summarize", help="summarise JSON lines from stdin")
    summarize.add_argument("--jsonl", action="store_true", required=True)
    summarize.add_argument("--max-words", type=int, default=None)
    match = commands.add_parser("match", help="match JSON lines from stdin against a topic")
    match.add_argument("--topic", required=True)
    match.add_argument("--jsonl", action="store_true", required=True)
    stories = commands.add_parser("stories", help="group JSON lines from stdin into stories")
    stories.add_argument("--jsonl", action="store_true", required=True)
    latest = commands.add_parser("latest", help="print the latest digests")
    latest.add_argument("--topic")
    latest.add_argument("--limit", type=int, default=10)
    commands.add_parser("feeds", help="feed health report")
    return main


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, load settings and run the command; a bad setting exits 2 with one line."""
    args = parser().parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings(require_token=command == "run")
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT, stream=sys.stderr)
    quiet = max(logging.WARNING, logging.getLevelName(settings.log_level))
    for name in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(name).setLevel(quiet)
    # A poll still running when the next tick comes is skipped on purpose; that is not worth a warning.
    logging.getLogger("apscheduler.scheduler").setLevel(max(logging.ERROR, quiet))
    if command == "summarize" and args.max_words is None:
        args.max_words = settings.digest_max_words
    if command == "summarize":
        return cmd_summarize(args, sys.stdin, sys.stdout)
    if command == "match":
        return cmd_match(args, sys.stdin, sys.stdout)
    if command == "stories":
        return cmd_stories(args, sys.stdin, sys.stdout)
    if command == "poll":
        return cmd_poll(args, settings, sys.stdout)
    if command == "latest":
        return cmd_latest(args, settings, sys.stdout)
    if command == "feeds":
        return cmd_feeds(args, settings, sys.stdout)
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
