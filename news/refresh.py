"""The only sequencer: fetch due feeds, parse, process, group into stories, store, enqueue pushes.

Like Miniflux's RefreshFeed: errors are written on the feed's row and the batch goes on; each feed is stored in
its own transaction; only entries that are new for a feed are processed and only new stories are pushed.

Feeds are fetched and parsed side by side (at most FETCH_CONCURRENCY at a time). What follows runs one feed at
a time in a "lane", so a feed sees everything stored before it: an item whose canonical URL or text is already
stored (another outlet's copy, or a lead feed repeating a full feed) is linked to that article without being
cleaned, summarised or topic-matched again, unless it carries much more text, in which case it replaces the
stored text. CPU work (parsing, cleaning, digests, topics, fingerprints) runs off the event loop, so fetches
and the bot's handlers go on meanwhile: in a pool of worker processes (INGEST_WORKERS), where a feed's new items
are processed as soon as it is parsed, beside the feed that holds the lane, or else in a thread.

Once parsed, a feed claims the articles it will process (by canonical URL). A feed that claims nothing, such as
a lead feed whose teasers the site's full feed carries in full, waits until the feeds under way have claimed
theirs and stored the ones it links to, so nothing is processed twice. A feed takes the lane only when its
processing is done, so the lane never idles while workers build; the pool gets calls a few at a time, and the
lane's own calls go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import heapq
import itertools
import logging
import multiprocessing
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from news import dedupe
from news.fetch import fetch
from news.fulltext import extract_article, is_teaser
from news.models import Article, FeedItem, FetchResult, ParsedFeed
from news.normalize import canonical_url, content_hash
from news.parse import parse_feed
from news.process import article_url, best_text, build_article, item_key, published_at
from news.summarize import summarize_many
from news.topics import keyword_index
from settings import LOG_FORMAT, Settings
from storage import articles as article_store
from storage import feeds as feed_store
from storage import outbox, subscribers
from storage.db import add_rows, insert_rows, utcnow

log = logging.getLogger(__name__)

STORY_WINDOW = timedelta(hours=72)
FULLER = 2.0  # an item with this many times the stored text (and more than FULLER_MIN_CHARS) replaces it
FULLER_MIN_CHARS = 400
STORY_TEXTS = 5  # articles a grown story's digest is drawn from
BUILD_CHUNK = 16  # items per call of the CPU-bound stages in a process pool
WORKER_NICENESS = 5  # added to an ingest worker's niceness (lower CPU priority than the bot's)
FEEDS_PER_FETCH_SLOT = 4  # feeds between fetch and store at a time, per FETCH_CONCURRENCY slot

T = TypeVar("T")


@dataclass(frozen=True)
class FeedReport:
    """What one feed's refresh did."""

    feed: str
    url: str
    new: int = 0
    stories: int = 0
    queued: int = 0
    not_modified: bool = False
    error: str | None = None
    processed: int = 0  # new items cleaned, summarised and tagged; the other new ones were linked to stored text


@dataclass(frozen=True)
class Built:
    """A processed item: the article and its story-grouping signature."""

    item_key: str
    article: Article
    sig: dedupe.DocSig


@dataclass(frozen=True)
class Plan:
    """What to do with a feed's new items: link them to stored articles, or process them."""

    links: tuple[tuple[FeedItem, article_store.StoredArticle], ...]  # already stored: link, process nothing
    process: tuple[FeedItem, ...]  # new articles
    upgrades: dict[str, article_store.StoredArticle]  # item key → the shorter stored copy it replaces


def build_all(
    items: Sequence[FeedItem],
    full_texts: dict[str, str | None],
    fetched_at: datetime,
    max_words: int,
    source: str,
    keywords: frozenset[str] = frozenset(),
) -> list[Built]:
    """Clean, summarise, topic-match and fingerprint items (pure and CPU-bound: run it off the event loop).

    Only the "kw:" topic keys in `keywords` (those some chat follows) are looked for.
    """
    index = keyword_index(keywords)
    built = []
    for item in items:
        key = item_key(item)
        article = build_article(
            item, fetched_at=fetched_at, max_words=max_words, full_text=full_texts.get(key), keywords=index
        )
        if article is not None:
            sig = dedupe.fingerprint(article.title, article.text, source=source, published=article.published)
            built.append(Built(key, article, sig))
    return built


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of worker processes for the CPU-bound stages (spawned: this process runs threads and an event loop).

    Workers log at this process's level, in the bot's format.
    """
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker, initargs=(level,))


def _start_worker(log_level: int) -> None:
    """Set up a worker's logging, and load its modules and data (rules, gazetteer, stop words) before real work.

    Workers run at a lower CPU priority than the bot: its event loop (chats, deliveries, the lane that stores
    what the workers build) goes first when cores are short, and the workers take the rest.
    """
    logging.basicConfig(level=log_level, format=LOG_FORMAT, stream=sys.stderr)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    item = FeedItem("w", "http://w.example/1", "إيران وروسيا", "قالت إيران وروسيا إن المحادثات مستمرة.", "", None)
    build_all([item], {}, utcnow(), 60, "w")
    gc.freeze()  # what start-up loaded lives as long as the worker: the collector need not scan it again


def _without_gc(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a worker process with the cyclic garbage collector paused (about 5 % of the CPU stages'
    time). The call's objects are freed by reference counting as it returns; a cycle it left is collected when the
    collector next runs after the call, so a worker holds at most one call's worth."""
    gc.disable()
    try:
        return func(*args)
    finally:
        gc.enable()


def recent_signatures(rows: Iterable[tuple[int, int, str, str, datetime]]) -> list[tuple[str, int, dedupe.DocSig]]:
    """(document id, story id, signature) of stored articles, for rebuilding the story index (pure, CPU-bound)."""
    return [
        (content_hash(text or title), story_id, dedupe.fingerprint(title, text, published=published))
        for _id, story_id, title, text, published in rows
    ]


def unique_items(items: Iterable[FeedItem]) -> list[FeedItem]:
    """Items with distinct keys (the first of each wins): a feed may list the same item twice."""
    seen: set[str] = set()
    kept = []
    for item in items:
        key = item_key(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def identifying_urls(items: Sequence[FeedItem]) -> dict[str, str]:
    """Item key → canonical URL, for the URLs that identify one article.

    A URL shared by several items of one feed, or a site's home page, says nothing about which article an
    item is, so it is not used to link items to stored articles.
    """
    urls = {item_key(item): canonical_url(item.url) for item in items if item.url}
    counts: dict[str, int] = {}
    for url in urls.values():
        counts[url] = counts.get(url, 0) + 1
    return {key: url for key, url in urls.items() if counts[url] == 1 and url.split("/", 3)[3:] not in ([], [""])}


def is_fuller(item: FeedItem, stored: article_store.StoredArticle, full_text: str | None = None) -> bool:
    """Whether an item carries much more text than the stored copy of its article (a full feed after a lead)."""
    return _fuller(len(best_text(item, full_text).strip()), stored.chars)


def _fuller(chars: int, than: int) -> bool:
    """Whether a text of `chars` characters replaces a stored copy of `than` characters."""
    return chars >= FULLER_MIN_CHARS and chars >= FULLER * than


def richness(items: Sequence[FeedItem], full_texts: dict[str, str | None]) -> float:
    """Mean characters of text per item to process: how full a feed's new items are."""
    if not items:
        return 0.0
    return sum(len(best_text(item, full_texts.get(item_key(item)))) for item in items) / len(items)


@dataclass
class Lane:
    """A lock (or, with `size`, a semaphore) that gives the next turn to the waiter with the highest priority."""

    size: int = 1  # turns held at a time
    _held: int = 0
    _waiting: list[tuple[float, int, asyncio.Future[None]]] = field(default_factory=list)
    _arrivals: itertools.count[int] = field(default_factory=itertools.count)

    @contextlib.asynccontextmanager
    async def turn(self, priority: float) -> AsyncIterator[None]:
        """Hold a turn; among waiters the highest priority goes first, then the earliest."""
        if self._held >= self.size:
            ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (-priority, next(self._arrivals), ticket)
            heapq.heappush(self._waiting, entry)
            try:
                await ticket  # the turn is handed over with the ticket: `_held` already counts it
            except asyncio.CancelledError:
                if ticket.done() and not ticket.cancelled():
                    self._release()  # the turn was handed over just now: pass it on
                else:
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
                raise
        else:
            self._held += 1
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        """Hand a turn to the best waiter (it stays held), or free it."""
        while self._waiting:
            *_, ticket = heapq.heappop(self._waiting)
            if not ticket.done():
                ticket.set_result(None)
                return
        self._held -= 1


class _Progress:
    """Wakes the feeds waiting for other feeds of the round to get somewhere."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Something changed: every waiter checks its condition again."""
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, done: Callable[[], bool]) -> None:
        """Return once `done()` holds (checked after each notify)."""
        while not done():
            await self._event.wait()


@dataclass(frozen=True)
class _Round:
    """What the feeds of one refresh round share: the lane, the fetch slots and the followed keywords.

    `unclaimed` holds the feeds under way that have not yet said which articles they process (see
    Refresher._claim); `progress` is notified when that set or the claims change.
    """

    lane: Lane
    fetch_slots: asyncio.Semaphore
    keywords: frozenset[str]
    unclaimed: set[int] = field(default_factory=set)
    progress: _Progress = field(default_factory=_Progress)


@dataclass
class StoryGrouper:
    """The in-memory story index and the map from its story keys to stored story ids."""

    index: dedupe.StoryIndex = field(default_factory=dedupe.StoryIndex)
    story_ids: dict[str, int] = field(default_factory=dict)

    def assign(self, doc_id: str, sig: dedupe.DocSig) -> tuple[str, int | None]:
        """The story key for an article, and the stored story id when it joins an existing story.

        When the article bridges two stories the index merges them (average link); a stored story merged away
        keeps its rows and messages, and later articles go to the surviving story. Pushed stories are settled
        (see `settle`), so they keep their ids and are never merged into each other.
        """
        placement = self.index.place(doc_id, sig)
        survivor = self.story_ids.get(placement.story)
        for gone in placement.absorbed:
            if survivor is None and gone in self.story_ids:
                survivor = self.story_ids[gone]
                self.story_ids[placement.story] = survivor
        return placement.story, survivor

    def settle(self, story_id: int) -> None:
        """A stored story was pushed: keep its key stable in the index."""
        for key in self.index.stories():
            if self.story_ids.get(key) == story_id:
                self.index.settle(key)

    def forget(self) -> None:
        """Drop the ids of stories and articles that left the index's window (so memory stays bounded)."""
        live = self.index.stories()
        self.story_ids = {key: sid for key, sid in self.story_ids.items() if key in live or key in self.index}

    def load(self, signatures: Iterable[tuple[str, int, dedupe.DocSig]], pushed: Iterable[int] = ()) -> None:
        """Rebuild the index from recently stored articles (oldest first); `pushed` stories are settled."""
        for doc_id, story_id, sig in signatures:
            key, _ = self.assign(doc_id, sig)
            self.story_ids.setdefault(key, story_id)
            self.story_ids.setdefault(doc_id, story_id)
        for story_id in pushed:
            self.settle(story_id)


@dataclass
class Refresher:
    """Everything a refresh needs; one per process (the bot keeps it on BotData).

    `executor` runs the CPU-bound stages; None means a worker thread (asyncio.to_thread). A process pool
    lets them use another core; every function sent to it is a pure module-level function.
    """

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    grouper: StoryGrouper = field(default_factory=StoryGrouper)
    executor: Executor | None = None
    workers: int = 0  # the pool's size; with no executor given, a pool of this many processes is started (0: a thread)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaded: bool = False
    _owned: bool = False
    _in_flight: dict[str, int] = field(default_factory=dict)  # canonical URL → characters, of items processed early
    _pool_turns: Lane = field(default_factory=Lane)  # calls in the pool at a time (its size, and one queued)

    def __post_init__(self) -> None:
        if self.executor is None and self.workers > 0:
            self.executor, self._owned = worker_pool(self.workers), True
        self._pool_turns = Lane(size=max(self.workers, 1) + 1)

    def close(self) -> None:
        """Stop the worker processes this refresher started (an executor passed in is its owner's to close)."""
        if self._owned and self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None

    async def sync_feeds(self) -> None:
        """Make the feeds table match FEEDS."""
        async with self.sessionmaker.begin() as session:
            await feed_store.sync_feeds(session, [(spec.url, spec.name) for spec in self.settings.feeds])

    async def refresh_due(self, *, force: bool = False) -> list[FeedReport]:
        """Poll every due feed (all listed feeds when forced) with bounded concurrency; never raises for a feed."""
        async with self._lock:
            if not self._loaded:
                await self._load_grouper()
            async with self.sessionmaker() as session:
                due = await (feed_store.listed(session) if force else feed_store.due(session))
                keywords = frozenset(await subscribers.followed_keywords(session))
            fetches = self.settings.fetch_concurrency
            this_round = _Round(Lane(), asyncio.Semaphore(fetches), keywords)
            in_flight = asyncio.Semaphore(FEEDS_PER_FETCH_SLOT * fetches)  # bounds the parsed feeds held in memory

            async def one(feed: feed_store.Feed) -> FeedReport:
                async with in_flight:
                    this_round.unclaimed.add(feed.id)
                    try:
                        return await self._refresh_feed(feed, this_round)
                    finally:
                        this_round.unclaimed.discard(feed.id)
                        this_round.progress.notify()

            reports = list(await asyncio.gather(*(one(feed) for feed in due)))
            self.grouper.forget()
            return reports

    async def _load_grouper(self) -> None:
        """Fill the (empty) story index with the articles stored in the last STORY_WINDOW."""
        since = utcnow() - STORY_WINDOW
        async with self.sessionmaker() as session:
            rows = await article_store.recent_articles(session, since)
            pushed = await session.scalars(
                select(outbox.Delivery.story_id).where(outbox.Delivery.created_at >= since).distinct()
            )
            pushed_ids = list(pushed.all())
        self.grouper.load(await self._offload(recent_signatures, rows), pushed_ids)
        self._loaded = True

    async def _offload(self, func: Callable[..., T], *args: Any, urgent: bool = False) -> T:
        """Run a CPU-bound pure function off the event loop.

        In a pool, calls are handed over a few at a time (one per worker, and one queued), the `urgent` ones (those of
        the feed holding the lane, which every other feed waits for) first: the pool's own queue would put them
        behind every chunk of processing sent before.
        """
        if self.executor is None:
            return await asyncio.to_thread(func, *args)
        async with self._pool_turns.turn(1.0 if urgent else 0.0):
            return await self._in_pool(func, *args)

    async def _in_pool(self, func: Callable[..., T], *args: Any) -> T:
        assert self.executor is not None
        executor = self.executor
        if isinstance(executor, ProcessPoolExecutor):  # (in threads it would pause the collector of this process)
            func, args = _without_gc, (func, *args)
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, func, *args)
        except BrokenProcessPool:
            if not self._owned:
                raise
            # A worker died (killed, out of memory): start a fresh pool and try once more there, never in this
            # process (what killed a worker must not kill the bot).
            log.error("an ingest worker process died; starting a new pool")
            if self.executor is executor:
                executor.shutdown(wait=False, cancel_futures=True)
                self.executor = worker_pool(self.workers)
            assert self.executor is not None
            return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    async def _refresh_feed(self, feed: feed_store.Feed, this_round: _Round) -> FeedReport:
        """Fetch, parse and store one feed; failures become the feed row's error state."""
        try:
            return await self._refresh_feed_unsafe(feed, this_round)
        except Exception as exc:  # a bug must not stop the other feeds
            log.exception("refreshing %s failed", feed.url)
            if isinstance(exc, BrokenProcessPool):
                reason = "processing crashed twice (a worker process died; out of memory?)"
            else:
                reason = f"internal error: {type(exc).__name__}"
            await self._record_error(feed.id, reason)
            return FeedReport(feed.display_name, feed.url, error=reason)

    async def _refresh_feed_unsafe(self, feed: feed_store.Feed, this_round: _Round) -> FeedReport:
        lane, keywords = this_round.lane, this_round.keywords
        async with this_round.fetch_slots:  # FETCH_CONCURRENCY feeds fetched at a time; processing is not held up
            result = await fetch(
                self.client,
                feed.url,
                etag=feed.etag,
                last_modified=feed.last_modified,
                max_bytes=self.settings.fetch_max_bytes,
                allow_private=True,  # the admin listed this feed; article links are guarded instead
            )
        if result.error:
            await self._record_error(feed.id, result.error, result.retry_after)
            return FeedReport(feed.display_name, feed.url, error=result.error)
        if result.not_modified:
            await self._record_success(feed.id, result.etag, result.last_modified, None)
            return FeedReport(feed.display_name, feed.url, not_modified=True)
        parsed = await self._offload(parse_feed, result.body, result.headers, feed.url)
        result = replace(result, body=b"")  # parsed: the feed's bytes are not held while it waits for the lane
        if parsed.error and not parsed.items:
            await self._record_error(feed.id, parsed.error)
            return FeedReport(feed.display_name, feed.url, error=parsed.error)
        if parsed.warning:
            log.info("feed %s: %s", feed.url, parsed.warning)  # kept on the feed's row too

        items = unique_items(parsed.items)
        urls = identifying_urls(items)
        async with self.sessionmaker() as session:
            known = await article_store.known_keys(session, feed.id, [item_key(item) for item in items])
            fresh = [item for item in items if item_key(item) not in known]  # new for this feed
            plan = await self._plan(session, fresh, urls)
        full_texts = await self._full_texts(plan)  # network: outside the lane, so a slow page delays only its feed
        source = feed.name or parsed.title or feed.display_name  # the outlet, for story grouping
        # With worker processes, processing starts now, beside whatever feed holds the lane (in a thread it would
        # only take turns with the lane's work, so it waits for the lane). Items another feed is already processing
        # an as-full copy of, and teasers, are left for the lane, where they will most likely be linked to that copy.
        early: asyncio.Future[list[Built]] | None = None
        started, claims = self._claim(plan.process, urls, full_texts)
        this_round.unclaimed.discard(feed.id)
        this_round.progress.notify()
        if started and self.executor is not None:
            early = asyncio.ensure_future(self._build(started, full_texts, source, keywords))
        else:
            started = []
        try:
            if not claims:
                await self._fuller_copies_stored(this_round, feed.id, plan.process, urls, started)
            if early is not None:
                await asyncio.wait([early])  # not in the lane: meanwhile feeds already processed store (errors: below)
            # One feed at a time from here, so each sees what the ones before it stored; the fullest texts first,
            # so that of a lead feed and the full feed of the same site, the full one is processed and the lead linked.
            async with lane.turn(richness(plan.process, full_texts)):
                # Only this feed's refresh stores its entries (one refresh at a time), so `fresh` still holds;
                # other feeds may have stored some of its articles meanwhile.
                async with self.sessionmaker() as session:
                    plan = await self._plan(session, fresh, urls, full_texts)
                built = await self._take_built(early, started, plan, full_texts, source, keywords)
                return await self._store_or_reset(feed.id, plan, built, result, parsed)
        finally:
            if early is not None and not early.done():
                early.cancel()
            elif early is not None and not early.cancelled():
                early.exception()  # seen: when the lane failed first, its error is the one reported
            for url, chars in claims:
                if self._in_flight.get(url) == chars:
                    del self._in_flight[url]
            if claims:
                this_round.progress.notify()

    async def _fuller_copies_stored(
        self, this_round: _Round, feed_id: int, items: Sequence[FeedItem], urls: dict[str, str], started: list[FeedItem]
    ) -> None:
        """Wait until the feeds under way have claimed their articles and stored those this feed's items link to.

        For a feed that claims nothing (a lead feed whose teasers the site's full feed carries in full, a second feed
        of one site): its items are then linked to the stored copies instead of being processed twice (and a lead
        would be processed first, then replaced). It waits only for feeds already under way, and feeds that hold
        claims never wait, so no two feeds wait for each other.
        """
        taken = {item_key(item) for item in started}
        wanted = {urls[key] for key in map(item_key, items) if key in urls and key not in taken}
        if not wanted:
            return
        before = this_round.unclaimed - {feed_id}
        await this_round.progress.until(
            lambda: before.isdisjoint(this_round.unclaimed) and wanted.isdisjoint(self._in_flight)
        )

    def _claim(
        self, items: Sequence[FeedItem], urls: dict[str, str], full_texts: dict[str, str | None]
    ) -> tuple[list[FeedItem], list[tuple[str, int]]]:
        """The items worth processing before the lane, and their claims (URL, characters) for other feeds to see.

        Without worker processes, the claimed items are processed in the lane, but the claims still tell other
        feeds to wait for this one's copies (`_fuller_copies_stored`).

        Teasers wait for the lane (cheap, and most often linked to a full copy another feed carries), and so do
        items another feed is already processing an as-full copy of.
        """
        chosen, claims = [], []
        for item in items:
            key = item_key(item)
            if full_texts.get(key) is None and is_teaser(item):
                continue
            url = urls.get(key)
            chars = len(best_text(item, full_texts.get(key)).strip())
            other = self._in_flight.get(url, 0) if url else 0
            if other and not _fuller(chars, other):
                continue
            chosen.append(item)
            if url:
                self._in_flight[url] = max(other, chars)
                claims.append((url, chars))
        return chosen, claims

    async def _take_built(
        self,
        early: asyncio.Future[list[Built]] | None,
        started: Sequence[FeedItem],
        plan: Plan,
        full_texts: dict[str, str | None],
        source: str,
        keywords: frozenset[str],
    ) -> list[Built]:
        """The processed items `plan` needs: those processed early, and the others now."""
        wanted = {item_key(item) for item in plan.process}
        built = [b for b in await early if b.item_key in wanted] if early is not None else []
        done = {item_key(item) for item in started}
        missing = [item for item in plan.process if item_key(item) not in done]
        if missing:
            built += await self._build(missing, full_texts, source, keywords, urgent=True)  # the lane waits for it
        return built

    async def _store_or_reset(
        self, feed_id: int, plan: Plan, built: list[Built], result: FetchResult, parsed: ParsedFeed
    ) -> FeedReport:
        """`_store` in its own transaction; on failure the story index is rebuilt from what is stored."""
        try:
            async with self.sessionmaker.begin() as session:
                return await self._store(session, feed_id, plan, built, result, parsed)
        except Exception:
            # Rolled back: the index may hold stories that were never stored. Rebuild it from what is stored
            # before the next feed takes the lane (an empty index would push known stories again as new ones).
            self.grouper, self._loaded = StoryGrouper(), False
            try:
                await self._load_grouper()
            except Exception:  # the database is failing too: the next round loads it again
                self.grouper = StoryGrouper()
            raise
        except BaseException:  # cancelled: the next round rebuilds the index
            self.grouper, self._loaded = StoryGrouper(), False
            raise

    async def _build(
        self,
        items: Sequence[FeedItem],
        full_texts: dict[str, str | None],
        source: str,
        keywords: frozenset[str],
        urgent: bool = False,
    ) -> list[Built]:
        """`build_all` off the event loop; with a process pool, in chunks spread over its workers (`urgent`: _offload).

        A worker thread gets the whole feed at once: threads would only take turns holding the GIL.
        """
        fetched_at = utcnow()
        max_words = self.settings.digest_max_words
        chunk_size = BUILD_CHUNK if self.executor is not None else max(len(items), 1)
        calls = []
        for start in range(0, len(items), chunk_size):
            chunk = items[start : start + chunk_size]
            pages = {key: full_texts[key] for key in map(item_key, chunk) if key in full_texts}
            calls.append(self._offload(build_all, chunk, pages, fetched_at, max_words, source, keywords, urgent=urgent))
        return [b for result in await asyncio.gather(*calls) for b in result]

    async def _plan(
        self,
        session: AsyncSession,
        fresh: Sequence[FeedItem],
        urls: dict[str, str],
        full_texts: dict[str, str | None] | None = None,
    ) -> Plan:
        """Split a feed's new items into those stored elsewhere (linked) and new articles (processed)."""
        stored = await article_store.articles_by_url(session, [urls[k] for k in map(item_key, fresh) if k in urls])
        links: list[tuple[FeedItem, article_store.StoredArticle]] = []
        process: list[FeedItem] = []
        upgrades: dict[str, article_store.StoredArticle] = {}
        for item in fresh:
            key = item_key(item)
            copy = stored.get(urls.get(key, ""))
            if copy is None:
                process.append(item)
            elif is_fuller(item, copy, (full_texts or {}).get(key)):
                process.append(item)
                upgrades[key] = copy
            else:
                links.append((item, copy))
        return Plan(tuple(links), tuple(process), upgrades)

    async def _full_texts(self, plan: Plan) -> dict[str, str | None]:
        """Fetch and extract the article page of new items that carry only a teaser, by item key."""
        if not self.settings.fetch_full_text:
            return {}
        wanted = [(item_key(item), item.url) for item in plan.process if item.url and is_teaser(item)]
        if not wanted:
            return {}
        semaphore = asyncio.Semaphore(self.settings.fetch_concurrency)

        async def one(url: str) -> str | None:
            async with semaphore:
                page = await fetch(
                    self.client,
                    url,
                    max_bytes=self.settings.fetch_max_bytes,
                    allow_private=self.settings.allow_private_urls,
                )
            if page.error or not page.body:
                if page.error:
                    log.info("article page %s: %s", url, page.error)
                return None
            extract = functools.partial(extract_article, content_type=page.headers.get("content-type"))
            return await self._offload(extract, page.body, url)

        texts = await asyncio.gather(*(one(url) for _, url in wanted))
        return {key: text for (key, _), text in zip(wanted, texts, strict=True)}

    async def _store(
        self,
        session: AsyncSession,
        feed_id: int,
        plan: Plan,
        built: Sequence[Built],
        fetched: FetchResult,
        parsed: ParsedFeed,
    ) -> FeedReport:
        """One transaction for the feed: entries, articles, stories, topics, outbox rows and the feed's state.

        Rows are written in a few batched statements (stories, articles, entries), not one per row.
        """
        row = await session.get(feed_store.Feed, feed_id)
        assert row is not None
        stored_by_hash = await article_store.articles_by_hash(session, [b.article.content_hash for b in built])
        batch = _Batch()
        fetched_at = utcnow()
        for item, copy in plan.links:
            batch.link(item_key(item), _entry_url(item), published_at(item, fetched_at), copy.id, copy.story_id)
        for b in sorted(built, key=lambda b: (b.article.published, b.item_key)):
            article = b.article
            copy = stored_by_hash.get(article.content_hash)
            target = (copy.id, copy.story_id) if copy else batch.by_hash.get(article.content_hash)
            if target is not None:  # the same text from another outlet, another URL or twice in this feed
                batch.link(b.item_key, article.url, article.published, *target)
                continue
            keys = set(article.topic_keys)
            replaced = plan.upgrades.get(b.item_key)
            if replaced is not None:  # a fuller copy of a stored lead: it takes the lead's place
                fuller = article_store.FullerText(replaced.id, article.text, article.digest, article.content_hash)
                batch.replaced.append(fuller)
                self.grouper.story_ids[article.content_hash] = replaced.story_id
                batch.link(b.item_key, article.url, article.published, replaced.id, replaced.story_id)
                batch.by_hash[article.content_hash] = (replaced.id, replaced.story_id)
                batch.grown[replaced.story_id] = article.digest
                batch.topics.setdefault(replaced.story_id, set()).update(keys)
                continue
            story_key, story_id = self.grouper.assign(article.content_hash, b.sig)
            story: int | _NewStory
            if story_id is not None:
                story = story_id
                batch.grown[story_id] = None
                batch.touched.add(story_id)
            elif story_key in batch.new_stories:
                story = batch.new_stories[story_key]
            else:
                story = batch.new_stories[story_key] = _NewStory(article.title, article.digest, article.published)
            batch.add(b.item_key, article, story)
            batch.topics.setdefault(story, set()).update(keys)

        await article_store.replace_texts(session, batch.replaced)
        await batch.insert(session)
        for story_key, new_story in batch.new_stories.items():
            self.grouper.story_ids[story_key] = new_story.id
        for new_article in batch.new_articles:
            self.grouper.story_ids[new_article.content_hash] = new_article.story_id
        outlets = await article_store.story_sources(session, sorted(batch.touched))  # before this feed's entries
        new_outlet = {
            story for story in batch.touched if row.display_name not in {s.name for s in outlets.get(story, ())}
        }
        await add_rows(session, article_store.Entry, batch.entry_rows(feed_id))
        backfill = row.last_success_at is None  # a feed's first fetch fills history, it pushes nothing
        queued = await self._topics_and_pushes(session, batch.topics, backfill)
        await self._stories_changed(session, batch.grown, new_outlet)
        feed_store.record_success(
            row,
            interval=timedelta(seconds=self.settings.poll_interval_seconds),
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            title=parsed.title,
            warning=parsed.warning,
        )
        return FeedReport(
            row.display_name,
            row.url,
            new=len(batch.entries),
            stories=len(batch.new_stories),
            queued=queued,
            processed=len(built),
        )

    async def _topics_and_pushes(
        self, session: AsyncSession, topics: dict[int | _NewStory, set[str]], backfill: bool
    ) -> int:
        """Attach topic keys to stories and queue each story for the chats following a topic it newly has.

        A new story is pushed to its followers; a stored story only to followers of topics it did not have.
        Nothing is pushed on a feed's first fetch, nor for stories older than PUSH_MAX_AGE_HOURS.
        """
        ids = {story if isinstance(story, int) else story.id: story for story in topics}
        stored_ids = [story_id for story_id, story in ids.items() if isinstance(story, int)]
        existing = await article_store.topics_of(session, stored_ids)
        cutoff = utcnow() - timedelta(hours=self.settings.push_max_age_hours)
        queued = 0
        rows = []
        for story_id, story in sorted(ids.items()):
            added = topics[story] - existing.get(story_id, set())
            rows.extend({"story_id": story_id, "topic_key": key} for key in sorted(added))
            if backfill or not added:
                continue
            if isinstance(story, _NewStory):
                published = story.published_at
            else:
                stored = await session.get(article_store.Story, story)
                if stored is None:
                    continue
                published = stored.published_at
            if published < cutoff:
                continue
            chats = await subscribers.followers_of(session, added)
            if chats:
                queued += await outbox.enqueue(session, story_id, chats)
                self.grouper.settle(story_id)
        await add_rows(session, article_store.StoryTopic, rows)
        return queued

    async def _stories_changed(self, session: AsyncSession, grown: dict[int, str | None], new_outlet: set[int]) -> None:
        """Stored stories that gained an article or an outlet: a new digest when they gained an article (drawn
        from all their articles), and their sent messages flagged for an edit.

        `grown` maps a story to the new digest of its article when that article's text was replaced.
        """
        changed = set(grown) | new_outlet
        if not changed:
            return
        texts = await article_store.texts_of_stories(session, grown, limit=STORY_TEXTS)
        several = {story_id: value for story_id, value in texts.items() if len(value[1]) > 1}
        digests = (
            await self._offload(story_digests, several, self.settings.digest_max_words, urgent=True) if several else {}
        )
        now = utcnow()
        new_digests = {story_id: digests.get(story_id) or grown.get(story_id) for story_id in changed}
        await article_store.stories_updated(session, new_digests, now)
        await outbox.stories_changed(session, sorted(changed), now=now)

    async def _record_error(self, feed_id: int, reason: str, retry_after: float | None = None) -> None:
        async with self.sessionmaker.begin() as session:
            row = await session.get(feed_store.Feed, feed_id)
            if row is None:
                return
            backoff = feed_store.Backoff(
                interval=timedelta(seconds=self.settings.poll_interval_seconds),
                max_failures=self.settings.feed_max_failures,
            )
            feed_store.record_error(row, reason, backoff=backoff, retry_after=retry_after)

    async def _record_success(
        self, feed_id: int, etag: str | None, last_modified: str | None, title: str | None
    ) -> None:
        async with self.sessionmaker.begin() as session:
            row = await session.get(feed_store.Feed, feed_id)
            if row is not None:
                feed_store.record_success(
                    row,
                    interval=timedelta(seconds=self.settings.poll_interval_seconds),
                    etag=etag,
                    last_modified=last_modified,
                    title=title,
                )


def _entry_url(item: FeedItem) -> str | None:
    return article_url(item.url)


def story_digests(stories: dict[int, tuple[str, list[str]]], max_words: int) -> dict[int, str]:
    """A digest drawn from all the (stored, so already cleaned) texts of each story (pure, CPU-bound)."""
    return {
        story_id: summarize_many(title, texts, max_words=max_words, cleaned=True)
        for story_id, (title, texts) in stories.items()
    }


@dataclass(eq=False)
class _NewStory:
    """A story this feed starts; `id` is set once it is inserted."""

    title: str
    digest: str
    published_at: datetime
    id: int = 0


@dataclass(eq=False)
class _NewArticle:
    """An article this feed adds; `id` is set once it is inserted."""

    article: Article
    story: int | _NewStory
    id: int = 0

    @property
    def content_hash(self) -> str:
        return self.article.content_hash

    @property
    def story_id(self) -> int:
        return self.story if isinstance(self.story, int) else self.story.id


@dataclass
class _Batch:
    """What one feed's store adds: entries, new articles and stories, topic keys, changed stories."""

    entries: list[tuple[str, str | None, datetime, int | _NewArticle]] = field(default_factory=list)
    new_articles: list[_NewArticle] = field(default_factory=list)
    new_stories: dict[str, _NewStory] = field(default_factory=dict)  # story key → story
    by_hash: dict[str, tuple[int | _NewArticle, int | _NewStory]] = field(default_factory=dict)
    topics: dict[int | _NewStory, set[str]] = field(default_factory=dict)
    grown: dict[int, str | None] = field(default_factory=dict)  # stored story → its replaced article's digest
    touched: set[int] = field(default_factory=set)  # stored stories that gained an entry
    replaced: list[article_store.FullerText] = field(default_factory=list)  # stored articles given a fuller text

    def link(
        self,
        key: str,
        url: str | None,
        published: datetime,
        article: int | _NewArticle,
        story: int | _NewStory,
    ) -> None:
        """An entry for an article that is stored already (or added earlier in this batch)."""
        self.entries.append((key, url, published, article))
        if isinstance(story, int):
            self.touched.add(story)

    def add(self, key: str, article: Article, story: int | _NewStory) -> None:
        """A new article in a story, and its entry."""
        new = _NewArticle(article, story)
        self.new_articles.append(new)
        self.by_hash[article.content_hash] = (new, story)
        self.entries.append((key, article.url, article.published, new))

    async def insert(self, session: AsyncSession) -> None:
        """Insert the new stories, then the new articles, and give both their ids."""
        stories = list(self.new_stories.values())
        story_rows = [{"title": s.title, "digest": s.digest, "published_at": s.published_at} for s in stories]
        for story, story_id in zip(stories, await insert_rows(session, article_store.Story, story_rows), strict=True):
            story.id = story_id
        article_rows = [
            {
                "story_id": new.story_id,
                "content_hash": new.article.content_hash,
                "url": new.article.url,
                "title": new.article.title,
                "text": new.article.text,
                "digest": new.article.digest,
                "published_at": new.article.published,
            }
            for new in self.new_articles
        ]
        ids = await insert_rows(session, article_store.Article, article_rows)
        for new, article_id in zip(self.new_articles, ids, strict=True):
            new.id = article_id

    def entry_rows(self, feed_id: int) -> list[dict[str, object]]:
        """The entries as rows to insert (after `insert`, so new articles have ids)."""
        return [
            {
                "feed_id": feed_id,
                "key": key,
                "article_id": target if isinstance(target, int) else target.id,
                "url": url,
                "published_at": published,
            }
            for key, url, published, target in self.entries
        ]
