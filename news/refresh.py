"""The only sequencer: fetch due feeds, parse, process, group into stories, store, enqueue pushes.

Like Miniflux's RefreshFeed: errors are written on the feed's row and the batch goes on; each feed is stored in
its own transaction; only entries that are new for a feed are processed and only new stories are pushed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from news import dedupe
from news.fetch import fetch
from news.fulltext import extract_article, is_teaser
from news.models import Article, FeedItem
from news.normalize import content_hash
from news.parse import parse_feed
from news.process import build_article, item_key
from news.summarize import summarize_many
from settings import Settings
from storage import articles as article_store
from storage import feeds as feed_store
from storage import outbox, subscribers
from storage.db import utcnow

log = logging.getLogger(__name__)

STORY_WINDOW = timedelta(hours=72)


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


@dataclass
class StoryGrouper:
    """The in-memory story index and the map from its story keys to stored story ids."""

    index: dedupe.StoryIndex = field(default_factory=dedupe.StoryIndex)
    story_ids: dict[str, int] = field(default_factory=dict)

    def assign(self, article: Article, source: str) -> tuple[str, int | None]:
        """The story key for an article, and the stored story id when it joins an existing story."""
        sig = dedupe.fingerprint(article.title, article.text, source=source, published=article.published)
        key = self.index.add(article.content_hash, sig)
        return key, self.story_ids.get(key)

    async def load(self, session: AsyncSession, since: datetime) -> None:
        """Rebuild the index from recently stored articles."""
        for _id, story_id, title, text, published in await article_store.recent_articles(session, since):
            doc_id = content_hash(text or title)
            key = self.index.add(doc_id, dedupe.fingerprint(title, text, published=published))
            self.story_ids.setdefault(key, story_id)
            self.story_ids.setdefault(doc_id, story_id)


@dataclass
class Refresher:
    """Everything a refresh needs; one per process (the bot keeps it on BotData)."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    grouper: StoryGrouper = field(default_factory=StoryGrouper)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaded: bool = False

    async def sync_feeds(self) -> None:
        """Make the feeds table match FEEDS."""
        async with self.sessionmaker.begin() as session:
            await feed_store.sync_feeds(session, [(spec.url, spec.name) for spec in self.settings.feeds])

    async def refresh_due(self, *, force: bool = False) -> list[FeedReport]:
        """Poll every due feed (all listed feeds when forced) with bounded concurrency; never raises for a feed."""
        async with self._lock:
            if not self._loaded:
                async with self.sessionmaker() as session:
                    await self.grouper.load(session, utcnow() - STORY_WINDOW)
                self._loaded = True
            async with self.sessionmaker() as session:
                due = await (feed_store.listed(session) if force else feed_store.due(session))
            semaphore = asyncio.Semaphore(self.settings.fetch_concurrency)
            store_lock = asyncio.Lock()

            async def one(feed: feed_store.Feed) -> FeedReport:
                async with semaphore:
                    return await self._refresh_feed(feed, store_lock)

            return list(await asyncio.gather(*(one(feed) for feed in due)))

    async def _refresh_feed(self, feed: feed_store.Feed, store_lock: asyncio.Lock) -> FeedReport:
        """Fetch, parse and store one feed; failures become the feed row's error state."""
        try:
            return await self._refresh_feed_unsafe(feed, store_lock)
        except Exception as exc:  # a bug must not stop the other feeds
            log.exception("refreshing %s failed", feed.url)
            await self._record_error(feed.id, f"internal error: {type(exc).__name__}")
            return FeedReport(feed.display_name, feed.url, error=f"internal error: {type(exc).__name__}")

    async def _refresh_feed_unsafe(self, feed: feed_store.Feed, store_lock: asyncio.Lock) -> FeedReport:
        settings = self.settings
        result = await fetch(
            self.client,
            feed.url,
            etag=feed.etag,
            last_modified=feed.last_modified,
            max_bytes=settings.fetch_max_bytes,
            allow_private=True,  # the admin listed this feed; article links are guarded instead
        )
        if result.error:
            await self._record_error(feed.id, result.error, result.retry_after)
            return FeedReport(feed.display_name, feed.url, error=result.error)
        if result.not_modified:
            await self._record_success(feed.id, result.etag, result.last_modified, None)
            return FeedReport(feed.display_name, feed.url, not_modified=True)
        parsed = await asyncio.to_thread(parse_feed, result.body, result.headers, feed.url)
        if parsed.error and not parsed.items:
            await self._record_error(feed.id, parsed.error)
            return FeedReport(feed.display_name, feed.url, error=parsed.error)

        async with self.sessionmaker() as session:
            known = await article_store.known_keys(session, feed.id, [item_key(item) for item in parsed.items])
        fresh = [item for item in parsed.items if item_key(item) not in known]
        full_texts = await self._full_texts(fresh)
        fetched_at = utcnow()
        built = await asyncio.to_thread(self._build, fresh, full_texts, fetched_at)
        async with store_lock:
            report = await self._store(feed, built, result.etag, result.last_modified, parsed.title)
        return report

    def _build(
        self, items: Sequence[FeedItem], full_texts: dict[int, str | None], fetched_at: datetime
    ) -> list[Article]:
        articles = []
        for position, item in enumerate(items):
            article = build_article(
                item,
                fetched_at=fetched_at,
                max_words=self.settings.digest_max_words,
                full_text=full_texts.get(position),
            )
            if article is not None:
                articles.append(article)
        return articles

    async def _full_texts(self, items: Sequence[FeedItem]) -> dict[int, str | None]:
        """Fetch and extract the article page of items that carry only a teaser."""
        if not self.settings.fetch_full_text:
            return {}
        wanted = [(i, item.url) for i, item in enumerate(items) if item.url and is_teaser(item)]
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
                return None
            return await asyncio.to_thread(extract_article, page.body, url)

        texts = await asyncio.gather(*(one(url) for _, url in wanted))
        return {i: text for (i, _), text in zip(wanted, texts, strict=True)}

    async def _store(
        self,
        feed: feed_store.Feed,
        built: Sequence[Article],
        etag: str | None,
        last_modified: str | None,
        title: str | None,
    ) -> FeedReport:
        """One transaction for the feed: entries, articles, stories, topics, outbox rows and the feed's state."""
        new = stories = queued = 0
        async with self.sessionmaker.begin() as session:
            row = await session.get(feed_store.Feed, feed.id)
            assert row is not None
            backfill = row.last_success_at is None  # a feed's first fetch fills history, it pushes nothing
            cutoff = utcnow() - timedelta(hours=self.settings.push_max_age_hours)
            for article in sorted(built, key=lambda a: a.published):
                if await article_store.known_keys(session, feed.id, [article.key]):
                    continue  # the same item twice in one feed document
                stored = await article_store.find_article(session, article.content_hash, article.url)
                if stored is not None:  # the same text from another outlet: link it, store nothing twice
                    story_id = stored.story_id
                    story_is_new = False
                else:
                    key, story_id = self.grouper.assign(article, row.display_name)
                    story_is_new = story_id is None
                    if story_id is None:
                        story = article_store.Story(
                            title=article.title, digest=article.digest, published_at=article.published
                        )
                        session.add(story)
                        await session.flush()
                        story_id = story.id
                        self.grouper.story_ids[key] = story_id
                        stories += 1
                    self.grouper.story_ids[article.content_hash] = story_id
                    stored = article_store.Article(
                        story_id=story_id,
                        content_hash=article.content_hash,
                        url=article.url,
                        title=article.title,
                        text=article.text,
                        digest=article.digest,
                        published_at=article.published,
                    )
                    session.add(stored)
                    await session.flush()
                session.add(
                    article_store.Entry(
                        feed_id=feed.id,
                        key=article.key,
                        article_id=stored.id,
                        url=article.url,
                        published_at=article.published,
                    )
                )
                new += 1
                if not story_is_new:
                    await self._story_grew(session, story_id)
                keys = await self._followed_or_entity_keys(session, article.topic_keys)
                new_keys = await article_store.add_topics(session, story_id, keys)
                if backfill or article.published < cutoff or not (story_is_new or new_keys):
                    continue
                chats = await subscribers.followers_of(session, new_keys)
                queued += await outbox.enqueue(session, story_id, chats)
            feed_store.record_success(
                row,
                interval=timedelta(seconds=self.settings.poll_interval_seconds),
                etag=etag,
                last_modified=last_modified,
                title=title,
            )
        return FeedReport(feed.display_name, feed.url, new=new, stories=stories, queued=queued)

    async def _story_grew(self, session: AsyncSession, story_id: int) -> None:
        """Another article or outlet joined a story: redo its digest from all its articles and flag the change."""
        await session.flush()
        title, texts = await article_store.story_texts(session, story_id, limit=5)
        story = await session.get(article_store.Story, story_id)
        if story is None:
            return
        if len(texts) > 1:
            digest = summarize_many(title, texts, max_words=self.settings.digest_max_words)
            story.digest = digest or story.digest
        story.updated_at = utcnow()
        await outbox.story_changed(session, story_id)

    @staticmethod
    async def _followed_or_entity_keys(session: AsyncSession, keys: frozenset[str]) -> set[str]:
        """Entity keys are always kept; keyword keys (many per story) only when some chat follows them."""
        entity_keys = {key for key in keys if not key.startswith("kw:")}
        keyword_keys = keys - entity_keys
        return entity_keys | await subscribers.followed_among(session, keyword_keys)

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
