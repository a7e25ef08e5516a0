"""Turn a parsed feed item into a clean, summarised, topic-tagged article (pure)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from news.extract import clean_text
from news.models import Article, FeedItem
from news.normalize import canonical_url, content_hash, normalize_arabic, words_hash
from news.summarize import summarize
from news.topics import KeywordIndex, story_topic_keys, text_words


def item_key(item: FeedItem) -> str:
    """A stable key for an item within its feed: guid, else canonical URL, else a hash of its text."""
    if item.guid and item.guid.strip():
        return item.guid.strip()[:512]
    if item.url:
        return canonical_url(item.url)[:512]
    return "sha256:" + content_hash(f"{item.title}\n{item.summary}\n{item.content}")


MAX_URL = 2048  # the longest URL stored (storage's URL columns); a longer link is dropped, not the article


def article_url(url: str | None) -> str | None:
    """The canonical URL to store for an item's link; None when there is none or it is longer than MAX_URL."""
    canonical = canonical_url(url) if url else None
    return canonical if canonical and len(canonical) <= MAX_URL else None


def published_at(item: FeedItem, fetched_at: datetime) -> datetime:
    """The item's UTC publication time; the fetch time when it is missing or in the future."""
    if item.published is None or item.published > fetched_at:
        return fetched_at
    return item.published


def best_text(item: FeedItem, full_text: str | None = None) -> str:
    """The fullest text we have for an item: an extracted page, else the feed's content, else its summary."""
    for text in (full_text, item.content, item.summary):
        if text and text.strip():
            return text
    return ""


def without_headline(text: str, title: str) -> str:
    """The text without a first paragraph that only repeats the headline (extracted pages often start so)."""
    first, _, rest = text.partition("\n\n")
    if rest and title and normalize_arabic(first).rstrip(" .:") == normalize_arabic(title).rstrip(" .:"):
        return rest
    return text


def build_article(
    item: FeedItem,
    *,
    fetched_at: datetime,
    max_words: int = 60,
    full_text: str | None = None,
    keywords: Collection[str] | KeywordIndex | None = None,
) -> Article | None:
    """A stored-ready article from a feed item, or None when it has neither title nor text.

    `keywords` limits the "kw:" topic keys to these (the ones some chat follows; see news.topics); None
    returns every prominent keyword.
    """
    title = " ".join(item.title.split())
    text = without_headline(clean_text(best_text(item, full_text)), title)
    if not title and not text:
        return None
    if not title:
        title = " ".join(text.split()[:12])
    # Summarised first, while the words' forms that cleaning just worked out are still in the CPU's caches.
    digest = summarize(title, text, max_words=max_words, cleaned=True) or title
    topic_keys = frozenset(story_topic_keys(title, text, keywords=keywords))
    return Article(
        key=item_key(item),
        url=article_url(item.url),
        title=title,
        text=text,
        published=published_at(item, fetched_at),
        content_hash=words_hash(text_words(text)) if text else content_hash(title),  # words tagging just split
        digest=digest,
        topic_keys=topic_keys,
    )
