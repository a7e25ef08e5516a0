"""Ingest throughput: the full pipeline on the real feeds over loopback HTTP, against feedparser alone.

Serves every file of ../shared/eval/feeds/ from a loopback HTTP server, runs the bot's refresh (fetch, parse,
clean, dedupe, digest, topic match, store in a fresh SQLite database) and compares entries per second with
`feedparser.parse` on the same bytes. It also times each pure stage alone (CPU time) and multiplies it by the
number of entries that stage really ran on in the ingest, to show where the time goes.

    python benchmarks/ingest.py                 # INGEST_WORKERS=2 (the default) and 0 (a thread)
    python benchmarks/ingest.py --processes 4   # ... and a pool of 4 worker processes as well

Worker pools are started and warmed before timing (the bot starts its pool once, at start-up). This shared
machine's speed drifts by tens of percent within a minute, so the headline ratio is paired: each of PAIRED_ROUNDS
ingests with the default INGEST_WORKERS=2 runs right after feedparser parses the same bytes (best of two passes), and the pair
with the median ratio is reported (its two rates are the JSON's). Other configurations show their best of ROUNDS.
Last line: one JSON object of headline figures, for the default configuration (INGEST_WORKERS=2).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from benchmarks._evaldir import eval_dir
from news.dedupe import fingerprint
from news.extract import clean_text
from news.fetch import make_client
from news.parse import parse_feed
from news.process import build_article
from news.refresh import Refresher, build_all, worker_pool
from news.summarize import summarize
from news.topics import keyword_index, story_topic_keys
from settings import Settings
from storage.db import make_engine, make_sessionmaker, migrate
from tests.support.feedserver import FeedServer

ROUNDS = 3
PAIRED_ROUNDS = 5  # ingests with the default configuration, each paired with a feedparser pass
T = TypeVar("T")


def cpu_ms(func: Callable[[], T]) -> tuple[T, float]:
    """A call's result and the process CPU time it took, in milliseconds."""
    start = time.process_time()
    result = func()
    return result, 1000 * (time.process_time() - start)


def feedparser_rate(bodies: dict[str, bytes], rounds: int = ROUNDS) -> tuple[float, int]:
    """Entries per second of feedparser.parse alone (best of `rounds`), and the entries."""
    best = float("inf")
    entries = 0
    for _ in range(rounds):
        start = time.perf_counter()
        entries = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies.values())
        best = min(best, time.perf_counter() - start)
    return entries / best, entries


def stage_costs(bodies: dict[str, bytes]) -> dict[str, float]:
    """CPU milliseconds of each pure stage alone: per entry for parsing, per processed article for the rest.

    Articles are the items of the full feeds (not the *.lead.* ones), processed as the ingest does: topic
    keywords limited to followed ones (none in a fresh database).
    """
    headers = {"content-type": "application/rss+xml"}
    parsed, parse_ms = cpu_ms(lambda: {name: parse_feed(body, headers, name) for name, body in bodies.items()})
    entries = sum(len(feed.items) for feed in parsed.values())
    items = [item for name, feed in parsed.items() if ".lead." not in name for item in feed.items]
    now = datetime.now(UTC)
    followed = keyword_index([])
    texts, clean_ms = cpu_ms(lambda: [clean_text(item.content or item.summary) for item in items])
    pairs = list(zip(items, texts, strict=True))
    _, summarize_ms = cpu_ms(lambda: [summarize(item.title, text, cleaned=True) for item, text in pairs])
    _, topics_ms = cpu_ms(lambda: [story_topic_keys(item.title, text, keywords=followed) for item, text in pairs])
    _, fingerprint_ms = cpu_ms(lambda: [fingerprint(item.title, text) for item, text in pairs])
    _, article_ms = cpu_ms(lambda: [build_article(item, fetched_at=now, keywords=followed) for item in items])
    _, build_ms = cpu_ms(lambda: build_all(items, {}, now, 60, "bench"))
    n = len(items)
    return {
        "parse (news.parse, per entry)": parse_ms / entries,
        "clean (news.extract)": clean_ms / n,
        "summarize (news.summarize)": summarize_ms / n,
        "topics (followed keywords only)": topics_ms / n,
        "build_article = the three above": article_ms / n,
        "fingerprint (news.dedupe)": fingerprint_ms / n,
        "build_all = build_article + fingerprint": build_ms / n,
    }


@dataclass(frozen=True)
class Run:
    """One full ingest: its wall time and what it did, and feedparser's time just before it (paired runs)."""

    seconds: float
    cpu_seconds: float  # this process only (worker processes are not counted)
    entries: int
    processed: int
    stories: int
    feedparser_rate: float = 0.0  # entries/s of feedparser alone over the same bytes, timed just before

    @property
    def rate(self) -> float:
        return self.entries / self.seconds

    @property
    def ratio(self) -> float:
        """Cost per entry against feedparser's in the same moment (paired runs only)."""
        return self.feedparser_rate / self.rate


async def pipeline(
    folder: Path, executor: Executor | None, workers: int, rounds: int, paired: dict[str, bytes] | None
) -> list[Run]:
    """The whole refresh over loopback HTTP into a fresh SQLite file, `rounds` times.

    With `paired` feed bodies, feedparser parses them all once right before each ingest.
    """
    runs = []
    async with FeedServer() as server:
        paths = server.serve_dir(folder)
        for _ in range(rounds):
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
                    refresher = Refresher(
                        settings, make_sessionmaker(engine), client, executor=executor, workers=workers
                    )
                    await refresher.sync_feeds()
                    fp_rate = feedparser_rate(paired, rounds=2)[0] if paired else 0.0  # best of two passes
                    start, cpu_start = time.perf_counter(), time.process_time()
                    reports = await refresher.refresh_due(force=True)
                    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
                await engine.dispose()
            errors = [r.error for r in reports if r.error]
            assert not errors, errors
            run = Run(
                elapsed,
                cpu,
                sum(r.new for r in reports),
                sum(r.processed for r in reports),
                sum(r.stories for r in reports),
                fp_rate,
            )
            runs.append(run)
    return runs


def with_workers(folder: Path, workers: int, rounds: int = ROUNDS, paired: dict[str, bytes] | None = None) -> list[Run]:
    """`pipeline` with a warmed pool of `workers` processes (0: a thread)."""
    gc.freeze()  # as the bot does once it has started
    if not workers:
        return asyncio.run(pipeline(folder, None, 0, rounds, paired))
    pool = worker_pool(workers)
    try:
        for future in [pool.submit(sum, [n]) for n in range(4 * workers)]:
            future.result()
        return asyncio.run(pipeline(folder, pool, workers, rounds, paired))
    finally:
        pool.shutdown()


def main() -> int:
    """Print the tables and the JSON line."""
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--processes", type=int, default=0, help="also run with a pool of N worker processes")
    options = args.parse_args()
    root = eval_dir()
    folder = root / "feeds" if root else None
    if folder is None or not folder.is_dir():
        print("No evaluation feeds (../shared/eval/feeds or $KHULASA_EVAL_DIR/feeds); nothing to measure.")
        return 0
    bodies = {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}
    _, fp_entries = feedparser_rate(bodies, rounds=1)  # (also warms feedparser up)
    _, fp_cpu = cpu_ms(lambda: [feedparser.parse(io.BytesIO(body)) for body in bodies.values()])
    costs = stage_costs(bodies)
    paired = sorted(with_workers(folder, 2, PAIRED_ROUNDS, bodies), key=lambda run: run.ratio)
    main_run = paired[len(paired) // 2]
    fp_rate, ratio = main_run.feedparser_rate, main_run.ratio
    runs = {"INGEST_WORKERS=2 (default)": main_run}
    others = {"INGEST_WORKERS=0 (a thread)": 0}
    if options.processes:
        others[f"INGEST_WORKERS={options.processes}"] = options.processes
    for name, workers in others.items():
        runs[name] = min(with_workers(folder, workers), key=lambda run: run.seconds)
    thread_run = runs["INGEST_WORKERS=0 (a thread)"]

    size = sum(map(len, bodies.values())) / 1e6
    print(f"{len(bodies)} feeds, {size:.1f} MB, {fp_entries} entries")
    print(
        f"default configuration: {PAIRED_ROUNDS} ingests, each right after a feedparser pass; ratios "
        + ", ".join(f"{run.ratio:.2f}" for run in paired)
        + f"; the median pair is shown. Other rows: best of {ROUNDS}, against that pair's feedparser rate"
    )
    print()
    print(f"{'':<46}{'entries/s':>10}{'ms/entry':>10}{'× feedparser':>14}")
    print(f"{'feedparser.parse alone (wall)':<46}{fp_rate:>10.0f}{1000 / fp_rate:>10.2f}{1:>14.2f}")
    for name, run in runs.items():
        label = f"full ingest HTTP→SQLite, {name}"
        print(f"{label:<46}{run.rate:>10.0f}{1000 / run.rate:>10.2f}{fp_rate / run.rate:>14.2f}")
    print()
    print(
        f"the ingest stored {thread_run.entries} entries as {thread_run.stories} stories; it processed "
        f"{thread_run.processed} items and linked the other {thread_run.entries - thread_run.processed} to stored text"
    )
    print()
    print(f"{'where the time goes (CPU, stages timed alone)':<46}{'ms/call':>10}{'calls':>8}{'ms/entry':>10}")
    per_entry_fp = fp_cpu / fp_entries
    print(f"{'feedparser.parse alone':<46}{per_entry_fp:>10.2f}{fp_entries:>8}{per_entry_fp:>10.2f}")
    calls = {"parse (news.parse, per entry)": thread_run.entries}
    for stage, ms in costs.items():
        n = calls.get(stage, thread_run.processed)
        print(f"{'  ' + stage:<46}{ms:>10.2f}{n:>8}{ms * n / thread_run.entries:>10.2f}")
    staged = costs["parse (news.parse, per entry)"] + costs["build_all = build_article + fingerprint"] * (
        thread_run.processed / thread_run.entries
    )
    cpu_entry = 1000 * thread_run.cpu_seconds / thread_run.entries
    print(f"{'  pure stages in this ingest, total':<46}{'':>18}{staged:>10.2f}")
    print(f"{'  ingest CPU (thread run, all threads)':<46}{'':>18}{cpu_entry:>10.2f}")
    print(f"{'  HTTP, storage, grouping, event loop (rest)':<46}{'':>18}{cpu_entry - staged:>10.2f}")
    print(
        f"cost ratio vs feedparser (target ≤ 2×): wall {ratio:.2f}× with the default 2 workers, "
        f"{fp_rate / thread_run.rate:.2f}× in a thread; CPU of the thread run {cpu_entry / per_entry_fp:.2f}×"
    )
    print(
        json.dumps(
            {
                "entries_per_s": round(main_run.rate, 1),
                "feedparser_entries_per_s": round(fp_rate, 1),
                "ratio_vs_feedparser": round(ratio, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
