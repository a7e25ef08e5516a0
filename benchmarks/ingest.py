"""Ingest throughput: the full pipeline on the real feeds over loopback HTTP, against feedparser alone.

Serves every file of ../shared/eval/feeds/ from a loopback HTTP server, runs the bot's refresh (fetch, parse,
clean, dedupe, digest, topic match, store in a fresh SQLite database) and compares entries per second with
`feedparser.parse` on the same bytes. Last line: one JSON object of headline figures.
"""

from __future__ import annotations

import asyncio
import io
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from benchmarks._evaldir import eval_dir
from news.dedupe import fingerprint
from news.fetch import make_client
from news.parse import parse_feed
from news.process import build_article
from news.refresh import Refresher
from settings import Settings
from storage.db import make_engine, make_sessionmaker, migrate
from tests.support.feedserver import FeedServer

ROUNDS = 3


def feedparser_rate(bodies: dict[str, bytes]) -> tuple[float, int]:
    """Entries per second of feedparser.parse alone (best of ROUNDS)."""
    best = float("inf")
    entries = 0
    for _ in range(ROUNDS):
        start = time.perf_counter()
        entries = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies.values())
        best = min(best, time.perf_counter() - start)
    return entries / best, entries


def stage_costs(bodies: dict[str, bytes]) -> dict[str, float]:
    """Milliseconds per entry of each pure stage, measured alone on the same data."""
    start = time.perf_counter()
    parsed = [parse_feed(body, {"content-type": "application/rss+xml"}, name) for name, body in bodies.items()]
    parse_s = time.perf_counter() - start
    items = [item for feed in parsed for item in feed.items]
    now = datetime.now(UTC)
    start = time.perf_counter()
    articles = [build_article(item, fetched_at=now) for item in items]
    build_s = time.perf_counter() - start
    start = time.perf_counter()
    for article in articles:
        if article is not None:
            fingerprint(article.title, article.text, published=article.published)
    sig_s = time.perf_counter() - start
    n = len(items)
    return {"parse": 1000 * parse_s / n, "clean+digest+topics": 1000 * build_s / n, "fingerprint": 1000 * sig_s / n}


async def pipeline_rate(folder: Path) -> tuple[float, int, int, float]:
    """Entries per second of the whole refresh over loopback HTTP into a fresh SQLite file (best of ROUNDS)."""
    best = float("inf")
    entries = stories = 0
    async with FeedServer() as server:
        paths = server.serve_dir(folder)
        for _ in range(ROUNDS):
            with tempfile.TemporaryDirectory() as tmp:
                settings = Settings(
                    _env_file=None,  # type: ignore[call-arg]
                    feeds=",".join(server.url(path) for path in paths),
                    database_url=f"sqlite:///{tmp}/bench.db",
                    fetch_full_text=False,  # the items' links point at the real sites, unreachable here
                )
                engine = make_engine(settings.async_database_url)
                await migrate(engine)
                async with make_client(user_agent="Khulasa-bench", timeout=30) as client:
                    refresher = Refresher(settings, make_sessionmaker(engine), client)
                    await refresher.sync_feeds()
                    start = time.perf_counter()
                    reports = await refresher.refresh_due(force=True)
                    elapsed = time.perf_counter() - start
                await engine.dispose()
            errors = [r.error for r in reports if r.error]
            assert not errors, errors
            entries = sum(r.new for r in reports)
            stories = sum(r.stories for r in reports)
            best = min(best, elapsed)
    return entries / best, entries, stories, best


def main() -> int:
    """Print the table and the JSON line."""
    root = eval_dir()
    folder = root / "feeds" if root else None
    if folder is None or not folder.is_dir():
        print("No evaluation feeds (../shared/eval/feeds or $KHULASA_EVAL_DIR/feeds); nothing to measure.")
        return 0
    bodies = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
    fp_rate, fp_entries = feedparser_rate(bodies)
    costs = stage_costs(bodies)
    rate, entries, stories, seconds = asyncio.run(pipeline_rate(folder))
    ratio = fp_rate / rate
    print(f"{len(bodies)} feeds, {sum(map(len, bodies.values())) / 1e6:.1f} MB, {fp_entries} entries (best of {ROUNDS})")
    print(f"{'stage':<34}{'entries/s':>12}{'ms/entry':>10}")
    print(f"{'feedparser.parse alone':<34}{fp_rate:>12.0f}{1000 / fp_rate:>10.2f}")
    for stage, ms in costs.items():
        print(f"{'  ' + stage + ' (alone)':<34}{1000 / ms:>12.0f}{ms:>10.2f}")
    print(f"{'full ingest (HTTP→SQLite)':<34}{rate:>12.0f}{1000 / rate:>10.2f}")
    print(f"stored {entries} entries as {stories} stories in {seconds:.2f} s; cost ratio vs feedparser {ratio:.2f}×")
    print(f"median stage cost {statistics.median(costs.values()):.2f} ms/entry")
    print(
        json.dumps(
            {"entries_per_s": round(rate, 1), "feedparser_entries_per_s": round(fp_rate, 1), "ratio_vs_feedparser": round(ratio, 2)}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
