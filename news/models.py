"""Frozen dataclasses passed between pipeline stages (no SQL, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FetchResult:
    """What one HTTP fetch of a feed (or page) produced."""

    url: str
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False
    error: str | None = None  # human reason when the fetch failed
    retry_after: float | None = None
    final_url: str | None = None  # where redirects ended; `url` stays the requested URL


@dataclass(frozen=True)
class FeedItem:
    """One entry of a parsed feed, before cleaning."""

    guid: str | None
    url: str | None
    title: str
    summary: str  # plain text lead/teaser (HTML removed)
    content: str  # plain text full content when the feed carries it, else ""
    published: datetime | None  # UTC, None when missing
    author: str | None = None


@dataclass(frozen=True)
class ParsedFeed:
    """A feed document turned into items; `error` is set (like feedparser's bozo) when nothing usable came out."""

    title: str | None
    items: tuple[FeedItem, ...]
    error: str | None = None
    warning: str | None = None  # a problem that still let items out (truncated, malformed, bad bytes)


@dataclass(frozen=True)
class Article:
    """A cleaned article, ready to store."""

    key: str  # stable per feed: guid, else canonical URL, else content hash
    url: str | None  # canonical URL
    title: str
    text: str  # cleaned plain text, paragraphs separated by blank lines
    published: datetime  # UTC
    content_hash: str
    digest: str  # short Arabic digest, verbatim sentences
    topic_keys: frozenset[str] = frozenset()  # canonical topic keys (news.topics) the article is about


@dataclass(frozen=True)
class Source:
    """An outlet that carried a story, with its link."""

    name: str
    url: str | None


@dataclass(frozen=True)
class StoryView:
    """What readers see of a story."""

    id: int
    title: str
    digest: str
    published_at: datetime
    sources: tuple[Source, ...]
