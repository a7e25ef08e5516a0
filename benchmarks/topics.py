"""Topic matching: precision/recall/F1 per topic on shared/eval/topics-dev.jsonl, cost at 1k vs 1M follows.

Also: the cost of tagging one article at ingest (story_topic_keys on every item of the eval feeds, next to
feedparser's own cost per entry), and the real SQL lookup of followers (subscribers.followers_of on SQLite)
with 1 000 and 1 000 000 follow rows (skip it with --no-sql).

Run: .venv/bin/python benchmarks/topics.py [--no-sql]   (the last line printed is one JSON object)
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import feedparser

from benchmarks._eval import Score, read_jsonl
from benchmarks._evaldir import eval_dir
from news.extract import clean_text
from news.normalize import normalize_arabic
from news.parse import parse_feed
from news.process import best_text
from news.topics import (
    KeywordIndex,
    Topic,
    default_gazetteer,
    keyword_index,
    keyword_topic,
    parse_topic,
    story_topic_keys,
    topic_matches,
)
from storage import subscribers
from storage.db import make_engine, make_sessionmaker, migrate

# Kinds of alias the plain baseline treats as "a name of the entity".
BASELINE_KINDS = frozenset({"name", "demonym", "seat"})
SINGLE_COUNTRIES = ("Iran", "Russia", "Syria", "Saudi Arabia", "Turkey", "Yemen", "Lebanon", "Iraq")


@dataclass(frozen=True)
class Case:
    """One labelled story."""

    id: str
    title: str
    text: str
    when: date | None
    topics: frozenset[str]
    borderline: frozenset[str]
    trap: bool


def load_cases(folder: Path) -> list[Case]:
    """The labelled stories of topics-dev.jsonl joined with their texts."""
    texts: dict[str, dict[str, Any]] = {}
    for name in ("articles.jsonl", "summaries.jsonl"):
        for record in read_jsonl(folder / name):
            texts[record["id"]] = record
    cases = []
    for row in read_jsonl(folder / "topics-dev.jsonl"):
        record = texts[row["id"]]
        when = datetime.fromisoformat(record["date"]).date() if record.get("date") else None
        cases.append(
            Case(
                row["id"],
                record.get("title") or "",
                record["text"],
                when,
                frozenset(row["topics"]),
                frozenset(row["borderline"]),
                bool(row["keyword_trap"]),
            )
        )
    return cases


def baseline_names() -> dict[str, list[str]]:
    """Every name, demonym and capital of each entity, normalised (for the plain substring baseline)."""
    names: dict[str, list[str]] = {}

    def walk(node: Mapping[str, Any], path: tuple[str, ...]) -> None:
        for token, child in node.items():
            if token == "":
                for alias in child:
                    if alias.kind in BASELINE_KINDS:
                        names.setdefault(alias.entity, []).append(" ".join(path))
            else:
                walk(child, (*path, token))

    walk(default_gazetteer().trie, ())
    return names


def baseline_matches(topic: Topic, case: Case, names: Mapping[str, list[str]]) -> bool:
    """Plain keyword baseline: every entity of the topic has one of its names as a substring of the story."""
    haystack = normalize_arabic(f"{case.title} {case.text}")
    return all(any(n in haystack for n in names.get(e, [])) for e in topic.entities)


def score(labels: Iterable[str], cases: list[Case], predict: Callable[[Topic, Case], bool]) -> dict[str, Score]:
    """Per-label counts (borderline decisions excluded)."""
    out = {}
    for label in labels:
        topic = parse_topic(label)
        assert topic is not None, f"eval label {label!r} does not parse"
        tp = fp = fn = 0
        for case in cases:
            if label in case.borderline:
                continue
            gold, guess = label in case.topics, predict(topic, case)
            tp += gold and guess
            fp += guess and not gold
            fn += gold and not guess
        out[label] = Score(tp, fp, fn, empty=1.0)
    return out


def macro(scores: Mapping[str, Score]) -> float:
    """Mean F1 over topics."""
    return sum(s.f1 for s in scores.values()) / len(scores)


def follow_index(n_follows: int, seed: int = 7) -> dict[str, list[int]]:
    """An in-memory index {topic_key: [chat_id, …]} of n follows over entity, pair and keyword topics."""
    rng = random.Random(seed)
    ids = sorted(default_gazetteer().entities)
    keys = ids + [f"{a}+{b}" for i, a in enumerate(ids) for b in ids[i + 1 :]]
    keyword_pool = [f"kw:word{i}" for i in range(max(100, n_follows // 10))]
    index: dict[str, list[int]] = {}
    for chat_id in range(n_follows):
        key = rng.choice(keys) if rng.random() < 0.8 else rng.choice(keyword_pool)
        index.setdefault(key, []).append(chat_id)
    return index


def match_followers(
    index: Mapping[str, list[int]], keywords: KeywordIndex, title: str, text: str, when: date | None
) -> list[list[int]]:
    """The follower lists of every topic a story matches (one probe per story key)."""
    return [index[k] for k in story_topic_keys(title, text, when, keywords=keywords) if k in index]


def time_match(index: Mapping[str, list[int]], case: Case, repeat: int = 30) -> tuple[float, int]:
    """Best-of-repeat microseconds to match one story against an index, and how many followers it finds.

    The followed keywords are indexed once beforehand, as a refresh does once per poll.
    """
    keywords = keyword_index(index)
    best = float("inf")
    found: list[list[int]] = []
    for _ in range(repeat):
        start = time.perf_counter()
        found = match_followers(index, keywords, case.title, case.text, case.when)
        best = min(best, time.perf_counter() - start)
    return best * 1e6, sum(len(f) for f in found)


def feed_items(folder: Path) -> tuple[list[tuple[str, str]], float]:
    """(title, cleaned text) of every item of the eval feeds, as ingest tags them; feedparser's best ms/entry."""
    bodies = [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()]
    best, entries = float("inf"), 0
    for _ in range(3):
        start = time.perf_counter()
        entries = sum(len(feedparser.parse(io.BytesIO(body)).entries) for body in bodies)
        best = min(best, time.perf_counter() - start)
    feedparser_ms = 1000 * best / max(entries, 1)
    items = []
    for body in bodies:
        for item in parse_feed(body, {"content-type": "application/rss+xml"}, "bench").items:
            items.append((" ".join(item.title.split()), clean_text(best_text(item))))
    return items, feedparser_ms


def tagging_cost(items: list[tuple[str, str]], keywords: Collection[str] | KeywordIndex | None) -> float:
    """Best-of-3 milliseconds per article of story_topic_keys over the items (caches warm)."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for title, text in items:
            story_topic_keys(title, text, keywords=keywords)
        best = min(best, time.perf_counter() - start)
    return 1000 * best / len(items)


def print_ingest_costs(folder: Path) -> None:
    """The cost of tagging one article at ingest, with and without followed keywords."""
    items, feedparser_ms = feed_items(folder)
    rng = random.Random(3)
    pool = sorted({k for title, text in items[:200] for k in story_topic_keys(title, text) if k.startswith("kw:")})
    followed = keyword_index(rng.sample(pool, 100) + [f"kw:word{i}" for i in range(10_000)])
    rows = [
        ("no keyword followed (keywords=())", tagging_cost(items, ())),
        ("10 100 followed keywords (indexed once)", tagging_cost(items, followed)),
        ("every n-gram as a kw: key (keywords=None)", tagging_cost(items, None)),
    ]
    print(f"\nTagging one article at ingest ({len(items)} items of {folder}):")
    print(f"  {'feedparser.parse, per entry':<62}{feedparser_ms:>8.3f} ms")
    for name, ms in rows:
        print(f"  {'story_topic_keys, ' + name:<62}{ms:>8.3f} ms  ({ms / feedparser_ms:.2f}× feedparser)")


async def sql_followers_cost(n_follows: int, story_keys: list[str], matching: int) -> tuple[float, int]:
    """Best-of-20 µs of subscribers.followers_of(story_keys) on SQLite holding n_follows follow rows.

    `matching` of the rows follow one of the story's keys (the same in every size); the rest follow other
    topics, so the timing shows what the table size alone costs an indexed lookup.
    """
    rng = random.Random(n_follows)
    ids = sorted(default_gazetteer().entities)
    others = [k for k in ids + [f"{a}+{b}" for i, a in enumerate(ids) for b in ids[i + 1 :]] if k not in story_keys]
    chats = max(n_follows // 10, matching)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "follows.db"
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate(engine)
        await engine.dispose()
        now = datetime.now().isoformat(sep=" ")
        with sqlite3.connect(path) as raw:
            raw.executemany(
                "INSERT INTO subscribers (chat_id, chat_type, language, active, mode, created_at, updated_at)"
                " VALUES (?, 'private', 'ar', 1, 'instant', ?, ?)",
                ((chat, now, now) for chat in range(1, chats + 1)),
            )
            rows = [(chat, story_keys[chat % len(story_keys)]) for chat in range(1, matching + 1)]
            seen = set(rows)
            while len(rows) < n_follows:
                row = (rng.randint(1, chats), rng.choice(others))
                if row not in seen:
                    seen.add(row)
                    rows.append(row)
            raw.executemany(
                "INSERT INTO follows (chat_id, topic_key, created_at) VALUES (?, ?, ?)",
                ((chat, key, now) for chat, key in rows),
            )
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        best, found = float("inf"), 0
        try:
            async with make_sessionmaker(engine)() as session:
                for _ in range(20):
                    start = time.perf_counter()
                    found = len(await subscribers.followers_of(session, story_keys))
                    best = min(best, time.perf_counter() - start)
        finally:
            await engine.dispose()
    return best * 1e6, found


def print_sql_costs(story_keys: list[str]) -> None:
    """The real follower lookup (indexed IN query) with 1 000 and 1 000 000 follow rows."""
    matching = 500
    small, found_small = asyncio.run(sql_followers_cost(1_000, story_keys, matching))
    large, found_large = asyncio.run(sql_followers_cost(1_000_000, story_keys, matching))
    print(
        f"\nSQL lookup subscribers.followers_of({len(story_keys)} story keys) on SQLite, {matching} matching follows:"
    )
    print(f"  1 000 follow rows:     {small:>9.0f} µs  ({found_small} chats)")
    print(f"  1 000 000 follow rows: {large:>9.0f} µs  ({found_large} chats)")
    print(f"  ratio 1M / 1k:         {large / small:>9.2f}")


def main() -> None:
    """Print the per-topic table, the scale timings and one JSON line."""
    folder = eval_dir()
    if folder is None or not (folder / "topics-dev.jsonl").is_file():
        print(f"No topic evaluation data at {folder} (set KHULASA_EVAL_DIR to shared/eval); nothing to do.")
        return
    cases = load_cases(folder)
    labels = sorted({t for c in cases for t in c.topics | c.borderline}, key=lambda t: (len(t.split("–")), t))
    ours = score(labels, cases, lambda t, c: topic_matches(t, c.title, c.text, c.when))
    names = baseline_names()
    base = score(labels, cases, lambda t, c: baseline_matches(t, c, names))

    print(f"Topic matching on {folder / 'topics-dev.jsonl'} ({len(cases)} stories, borderline excluded)\n")
    print(f"{'topic':<16}{'gold':>5}{'P':>7}{'R':>7}{'F1':>7}   {'base P':>7}{'base R':>7}{'base F1':>8}")
    for label in labels:
        s, b = ours[label], base[label]
        print(
            f"{label:<16}{s.tp + s.fn:>5}{s.precision:>7.2f}{s.recall:>7.2f}{s.f1:>7.2f}   "
            f"{b.precision:>7.2f}{b.recall:>7.2f}{b.f1:>8.2f}"
        )
    singles = {k: v for k, v in ours.items() if k in SINGLE_COUNTRIES}
    print(f"{'macro':<16}{'':>5}{'':>7}{'':>7}{macro(ours):>7.3f}   {'':>7}{'':>7}{macro(base):>8.3f}")
    traps = [c for c in cases if c.trap]
    trap_fp = sum(
        topic_matches(t, c.title, c.text, c.when) and label not in c.topics
        for c in traps
        for label in labels
        if (t := parse_topic(label)) is not None
    )
    base_fp = sum(
        baseline_matches(t, c, names) and label not in c.topics
        for c in traps
        for label in labels
        if (t := parse_topic(label)) is not None
    )
    print(f"single countries macro F1 {macro(singles):.3f}")
    print(f"keyword-trap stories: {len(traps)}; false topics on them: ours {trap_fp}, baseline {base_fp}")

    example = max(cases, key=lambda c: len(c.text))
    keyword = keyword_topic("الطاقة الشمسية")
    assert keyword is not None
    small, large = follow_index(1_000), follow_index(1_000_000)
    us_1k, found_1k = time_match(small, example)
    us_1m, found_1m = time_match(large, example)
    naive_start = time.perf_counter()
    naive_topics = [parse_topic("Iran–Russia"), parse_topic("Syria"), keyword] * 100
    for topic in naive_topics:
        if topic is not None:
            topic_matches(topic, example.title, example.text, example.when)
    naive_us = (time.perf_counter() - naive_start) * 1e6 / len(naive_topics) * 1_000
    words = len(example.text.split())
    print(f"\nMatching one story ({words} words) against an index of follows by topic key:")
    print(f"  1 000 follows:     {us_1k:>9.0f} µs  ({found_1k} followers found)")
    print(f"  1 000 000 follows: {us_1m:>9.0f} µs  ({found_1m} followers found)")
    print(f"  ratio 1M / 1k:     {us_1m / us_1k:>9.2f}")
    print(f"  (checking each follow one by one instead: ~{naive_us:,.0f} µs per 1 000 follows)")
    if (folder / "feeds").is_dir():
        print_ingest_costs(folder / "feeds")
    if "--no-sql" not in sys.argv:
        print_sql_costs(sorted(k for k in story_topic_keys(example.title, example.text, example.when, keywords=())))
    print(
        json.dumps(
            {
                "macro_f1": round(macro(ours), 4),
                "iran_russia_f1": round(ours["Iran–Russia"].f1, 4),
                "baseline_macro_f1": round(macro(base), 4),
                "match_us_1k": round(us_1k, 1),
                "match_us_1m": round(us_1m, 1),
                "cost_ratio_1m_vs_1k": round(us_1m / us_1k, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
