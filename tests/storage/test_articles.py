"""Articles, stories and entries on SQLite and PostgreSQL: the batched lookups ingestion uses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage import articles
from storage import feeds as feed_store
from storage.db import add_rows, insert_rows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def _story(session, title: str, texts: list[tuple[str, str | None]]) -> articles.Story:  # type: ignore[no-untyped-def]
    """A story with articles (text, url), published a minute apart."""
    story = articles.Story(title=title, digest=f"{title}.", published_at=NOW)
    session.add(story)
    await session.flush()
    for n, (text, url) in enumerate(texts):
        session.add(
            articles.Article(
                story_id=story.id,
                content_hash=f"{title}-{n}".ljust(64, "0"),
                url=url,
                title=title,
                text=text,
                digest=text[:20],
                published_at=NOW + timedelta(minutes=n),
            )
        )
    await session.flush()
    return story


async def test_lookups_by_hash_and_url_in_batches(db) -> None:
    async with db.begin() as session:
        story = await _story(
            session,
            "a",
            [("نص أول", "https://a.example/1"), ("نص ثان أطول", "https://a.example/2"), ("بلا رابط", None)],
        )
    urls = [f"https://a.example/{n}" for n in range(1, 1200)]  # more than one IN (...) list
    async with db() as session:
        by_url = await articles.articles_by_url(session, urls)
        by_hash = await articles.articles_by_hash(session, ["a-1".ljust(64, "0"), "missing"])
    assert sorted(by_url) == ["https://a.example/1", "https://a.example/2"]
    second = by_url["https://a.example/2"]
    assert (second.story_id, second.chars, second.url) == (story.id, len("نص ثان أطول"), "https://a.example/2")
    assert by_hash == {"a-1".ljust(64, "0"): second}


async def test_a_shared_url_gives_the_oldest_article(db) -> None:
    async with db.begin() as session:
        await _story(session, "b", [("الأول", "https://b.example/"), ("الثاني", "https://b.example/")])
    async with db() as session:
        found = await articles.articles_by_url(session, ["https://b.example/"])
    assert found["https://b.example/"].content_hash == "b-0".ljust(64, "0")


async def test_replace_text_keeps_the_row_and_its_story(db) -> None:
    async with db.begin() as session:
        story = await _story(session, "c", [("مقدمة قصيرة", "https://c.example/1")])
    async with db.begin() as session:
        (stored,) = (await articles.articles_by_url(session, ["https://c.example/1"])).values()
        await articles.replace_texts(session, [articles.FullerText(stored.id, "النص الكامل للخبر", "النص", "f" * 64)])
    async with db() as session:
        (after,) = (await articles.articles_by_hash(session, ["f" * 64])).values()
        title, texts = (await articles.texts_of_stories(session, [story.id]))[story.id]
    assert (after.id, after.story_id, after.chars) == (stored.id, story.id, len("النص الكامل للخبر"))
    assert (title, texts) == ("c", ["النص الكامل للخبر"])


async def test_stories_updated_sets_new_digests_and_touches_the_rest(db) -> None:  # type: ignore[no-untyped-def]
    async with db.begin() as session:
        grown, touched, other = [await _story(session, title, [("نص", None)]) for title in ("g", "t", "o")]
    later = NOW + timedelta(hours=1)
    async with db.begin() as session:
        await articles.stories_updated(session, {grown.id: "ملخص جديد.", touched.id: None}, later)
    async with db() as session:
        rows = {s.id: s for s in (await session.scalars(select(articles.Story))).all()}
    assert (rows[grown.id].digest, rows[touched.id].digest, rows[other.id].digest) == ("ملخص جديد.", "t.", "o.")
    assert [rows[s.id].updated_at.replace(tzinfo=UTC) == later for s in (grown, touched, other)] == [True, True, False]


async def test_texts_and_topics_of_several_stories(db) -> None:
    async with db.begin() as session:
        one = await _story(session, "d", [(f"نص {n}", None) for n in range(7)])
        two = await _story(session, "e", [("وحيد", None)])
        session.add_all(
            [articles.StoryTopic(story_id=one.id, topic_key=k) for k in ("iran", "kw:نفط")]
            + [articles.StoryTopic(story_id=two.id, topic_key="russia")]
        )
    async with db() as session:
        texts = await articles.texts_of_stories(session, [one.id, two.id, 999], limit=5)
        topics = await articles.topics_of(session, [one.id, two.id, 999])
    assert texts == {one.id: ("d", [f"نص {n}" for n in range(5)]), two.id: ("e", ["وحيد"])}
    assert topics == {one.id: {"iran", "kw:نفط"}, two.id: {"russia"}}


async def test_entries_are_unique_per_feed_and_key(db) -> None:
    async with db.begin() as session:
        await feed_store.sync_feeds(session, [("http://f.example/rss", None), ("http://g.example/rss", None)])
        f, g = await feed_store.listed(session)
        story = await _story(session, "h", [("نص", "https://h.example/1")])
        (stored,) = (await articles.articles_by_url(session, ["https://h.example/1"])).values()
        for feed in (f, g):  # the same article from two outlets
            session.add(articles.Entry(feed_id=feed.id, key="k1", article_id=stored.id, url=None, published_at=NOW))
    async with db() as session:
        assert await articles.known_keys(session, f.id, ["k1", "k2"]) == {"k1"}
        assert await articles.known_keys(session, g.id, [f"k{n}" for n in range(1, 1200)]) == {"k1"}
        assert await articles.entries_since_by_feed(session, NOW - timedelta(days=3650)) == {f.id: 1, g.id: 1}
        assert [s.name for s in (await articles.story_sources(session, [story.id]))[story.id]] == [
            "f.example",
            "g.example",
        ]
    with pytest.raises(IntegrityError):
        async with db.begin() as session:
            session.add(articles.Entry(feed_id=f.id, key="k1", article_id=stored.id, url=None, published_at=NOW))


async def test_insert_rows_returns_each_rows_id_in_order(db) -> None:  # type: ignore[no-untyped-def]
    """Batched inserts (SQLite cannot return ids in parameter order itself) give every row its own id."""
    async with db.begin() as session:
        await _story(session, "قبل", [("نص سابق", None)])  # ids do not start at 1
        rows = [{"title": f"قصة {n}", "digest": "", "published_at": NOW - timedelta(minutes=n)} for n in range(2500)]
        ids = await insert_rows(session, articles.Story, rows)
        assert await insert_rows(session, articles.Story, []) == []
    assert len(set(ids)) == len(rows)
    async with db() as session:
        titles = dict((await session.execute(select(articles.Story.id, articles.Story.title))).all())
    assert [titles[story_id] for story_id in ids] == [row["title"] for row in rows]


async def test_add_rows_inserts_every_row_with_its_column_defaults(db) -> None:  # type: ignore[no-untyped-def]
    async with db.begin() as session:
        story = await _story(session, "خبر", [("نص", "https://a.example/1")])
        article_id = (await session.scalars(select(articles.Article.id))).one()
        feed = feed_store.Feed(url="https://a.example/feed")
        session.add(feed)
        await session.flush()
        rows = [
            {"feed_id": feed.id, "key": f"k{n}", "article_id": article_id, "url": None, "published_at": NOW}
            for n in range(3)
        ]
        await add_rows(session, articles.Entry, rows)
        await add_rows(session, articles.StoryTopic, [{"story_id": story.id, "topic_key": "kw:x"}])
        await add_rows(session, articles.StoryTopic, [])
    async with db() as session:
        entries = (await session.scalars(select(articles.Entry).order_by(articles.Entry.id))).all()
        assert [e.key for e in entries[-3:]] == ["k0", "k1", "k2"]
        assert all(e.created_at.tzinfo is UTC and e.published_at == NOW for e in entries[-3:])
        assert await articles.topics_of(session, [story.id]) == {story.id: {"kw:x"}}
