"""news.refresh end to end: the real Refresher over the loopback feed server and a real database.

Each bad input is served next to a good feed in the same batch: the bad one gets a clear reason on its row and
backs off, the good one is stored as if nothing happened.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import re
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from news import refresh
from news.fetch import USER_AGENT, make_client
from news.models import ParsedFeed
from news.parse import parse_feed
from news.refresh import FeedReport, Lane, Refresher, _without_gc
from settings import Settings
from storage import articles as article_store
from storage import feeds as feed_store
from storage import outbox, subscribers
from storage.db import utcnow
from storage.reports import feeds_report
from tests.feedgen import IRAN_ONLY, SEED, WEATHER, Item, rss, seed_article
from tests.support.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FEEDS = FIXTURES / "feeds"
PAGES = FIXTURES / "pages"
INTERVAL = 60
RSS_TYPE = {"Content-Type": "application/rss+xml; charset=utf-8"}
GOOD = rss([Item("g1", *WEATHER), Item("g2", *IRAN_ONLY)], title="أخبار جيدة")


@dataclass
class Harness:
    """A Refresher over a FeedServer and a database, with helpers to read the outcome."""

    server: FeedServer
    db: async_sessionmaker[AsyncSession]
    client: httpx.AsyncClient
    settings: Settings

    def refresher(self, **overrides: object) -> Refresher:
        """A Refresher on these feeds (paths on the server); settings may be overridden."""
        return Refresher(self.settings.model_copy(update=overrides), self.db, self.client)

    async def run(self, *paths: str, refresher: Refresher | None = None, force: bool = True) -> dict[str, FeedReport]:
        """List the feeds at these paths (or absolute URLs) and refresh them; reports by path (or URL)."""
        async with self.db.begin() as session:
            await feed_store.sync_feeds(session, [(self._url(path), None) for path in paths])
        refresher = refresher or self.refresher()
        reports = await refresher.refresh_due(force=force)
        return {report.url.removeprefix(self.server.url("")): report for report in reports}

    def _url(self, path: str) -> str:
        return self.server.url(path) if path.startswith("/") else path

    async def feed(self, path: str) -> feed_store.Feed:
        async with self.db() as session:
            row = await session.scalar(select(feed_store.Feed).where(feed_store.Feed.url == self._url(path)))
        assert row is not None
        return row

    async def entries(self, path: str) -> int:
        feed = await self.feed(path)
        async with self.db() as session:
            stmt = select(func.count()).select_from(article_store.Entry).where(article_store.Entry.feed_id == feed.id)
            return int(await session.scalar(stmt) or 0)

    async def articles(self) -> list[article_store.Article]:
        async with self.db() as session:
            return list((await session.scalars(select(article_store.Article).order_by(article_store.Article.id))).all())

    async def count(self, model: type) -> int:
        async with self.db() as session:
            return int(await session.scalar(select(func.count()).select_from(model)) or 0)


def needs_seed() -> None:
    """Skip a test that needs the real (long) seed article when ../shared is absent."""
    if not SEED.is_file():
        pytest.skip(f"seed article not found at {SEED}")


def make_settings(**overrides: object) -> Settings:
    values: dict[str, object] = {
        "poll_interval_seconds": INTERVAL,
        "fetch_timeout_seconds": 0.5,
        "fetch_max_bytes": 1_000_000,
        "feed_max_failures": 3,
        "fetch_concurrency": 4,
        "allow_private_urls": True,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def harness(sqlite_db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Harness]:
    async with FeedServer() as server, make_client(user_agent=USER_AGENT, timeout=0.5) as client:
        yield Harness(server, sqlite_db, client, make_settings())


@pytest.fixture
async def both(db: async_sessionmaker[AsyncSession]) -> AsyncIterator[Harness]:
    """The harness on SQLite and on PostgreSQL."""
    async with FeedServer() as server, make_client(user_agent=USER_AGENT, timeout=0.5) as client:
        yield Harness(server, db, client, make_settings())


# ---- bad input --------------------------------------------------------------------------------------------


def _quadratic_blowup() -> bytes:
    """One large entity referenced many times: feedparser's loose parser would expand it without limit."""
    value = "A" * 20_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{value}">\n]>\n'
        f'<rss version="2.0"><channel><title>t</title><item><title>{"&a;" * 2_000}</title></item></channel></rss>'
    ).encode()


def _fifty_megabytes() -> Iterator[bytes]:
    chunk = b"<!-- " + b"x" * 65_000 + b" -->\n"
    yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
    for _ in range(50_000_000 // len(chunk)):
        yield chunk


def _slow_drip() -> Iterator[bytes]:
    for _ in range(100):
        yield b" "


ROUTES: dict[str, tuple[dict[str, object], str]] = {
    "html-page": (
        {"body": (FEEDS / "page.html").read_bytes(), "headers": {"Content-Type": "text/html; charset=utf-8"}},
        "not a feed (HTML page)",
    ),
    "empty-body": ({"body": b"", "headers": RSS_TYPE}, "empty body"),
    "truncated-xml": ({"body": GOOD.encode()[:300], "headers": RSS_TYPE}, "malformed XML"),
    "50mb-body": ({"body": _fifty_megabytes, "headers": RSS_TYPE}, "too large (> 1 MB)"),
    "entity-expansion": ({"body": _quadratic_blowup()}, "refused: XML entity declarations"),
    "billion-laughs": ({"body": (FEEDS / "billion-laughs.xml").read_bytes()}, "refused: XML entity declarations"),
    "404": ({"status": 404}, "HTTP 404 (not found)"),
    "500": ({"status": 500}, "HTTP 500 (server error)"),
    "403": ({"status": 403}, "HTTP 403 (likely an anti-bot wall)"),
    "timeout-slow-drip": ({"body": _slow_drip, "chunk_delay": 0.2, "headers": RSS_TYPE}, "timeout"),
    "never-answers": ({"delay": math.inf}, "timeout"),
}


@pytest.mark.parametrize("case", list(ROUTES))
async def test_a_bad_feed_gets_a_reason_and_backs_off_and_the_good_one_is_stored(harness: Harness, case: str) -> None:
    route, reason = ROUTES[case]
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    harness.server.add("/bad.xml", **route)  # type: ignore[arg-type]
    reports = await harness.run("/good.xml", "/bad.xml")
    assert reports["/bad.xml"].error == reason
    assert (reports["/good.xml"].error, reports["/good.xml"].new) == (None, 2)
    bad = await harness.feed("/bad.xml")
    assert (bad.status, bad.error_count, bad.last_error) == (feed_store.ACTIVE, 1, reason)
    assert bad.last_error_at is not None and bad.last_success_at is None
    assert bad.next_check_at == bad.last_error_at + timedelta(seconds=2 * INTERVAL)  # back-off: 2 × interval
    good = await harness.feed("/good.xml")
    assert (good.status, good.error_count, good.last_error) == (feed_store.ACTIVE, 0, None)
    assert await harness.entries("/good.xml") == 2 and await harness.entries("/bad.xml") == 0


async def test_redirect_loop(harness: Harness) -> None:
    harness.server.redirect("/loop-a.xml", "/loop-b.xml")
    harness.server.redirect("/loop-b.xml", "/loop-a.xml")
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    reports = await harness.run("/good.xml", "/loop-a.xml")
    assert reports["/loop-a.xml"].error == "too many redirects"
    assert reports["/good.xml"].new == 2
    assert (await harness.feed("/loop-a.xml")).last_error == "too many redirects"


async def test_a_feed_url_that_is_not_http(harness: Harness) -> None:
    """FEEDS only takes http(s) URLs, but a row may hold anything, and a feed may redirect anywhere."""
    harness.server.redirect("/to-file.xml", "file:///etc/passwd")
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    reports = await harness.run("/good.xml", "/to-file.xml", "ftp://news.example/feed.xml")
    assert reports["/to-file.xml"].error == reports["ftp://news.example/feed.xml"].error == "not an http(s) URL"
    assert reports["/good.xml"].new == 2
    ftp = await harness.feed("ftp://news.example/feed.xml")
    assert (ftp.error_count, ftp.last_error) == (1, "not an http(s) URL")


async def test_429_retry_after_is_honoured(harness: Harness) -> None:
    harness.server.add("/busy.xml", status=429, headers={"Retry-After": "7200"})
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    reports = await harness.run("/good.xml", "/busy.xml")
    assert reports["/busy.xml"].error == "HTTP 429 (rate limited)"
    busy = await harness.feed("/busy.xml")
    assert busy.last_error_at is not None and busy.next_check_at is not None
    assert busy.next_check_at - busy.last_error_at == timedelta(seconds=7200)  # longer than the 2-minute back-off
    async with harness.db() as session:
        due = await feed_store.due(session, utcnow() + timedelta(hours=1))
    assert [f.url for f in due] == [harness.server.url("/good.xml")]


async def test_every_bad_input_in_one_batch(harness: Harness) -> None:
    """All of them at once, with small concurrency: each feed has its own outcome."""
    paths = []
    for case, (route, _reason) in ROUTES.items():
        harness.server.add(f"/{case}.xml", **route)  # type: ignore[arg-type]
        paths.append(f"/{case}.xml")
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    harness.server.add("/cp1256.xml", (FEEDS / "cp1256.rss.xml").read_bytes(), headers=RSS_TYPE)  # says utf-8
    reports = await harness.run(*paths, "/good.xml", "/cp1256.xml", refresher=harness.refresher(fetch_concurrency=3))
    assert {path: reports[path].error for path in paths} == {f"/{case}.xml": r for case, (_, r) in ROUTES.items()}
    assert (reports["/good.xml"].new, reports["/cp1256.xml"].new) == (2, 2)


# ---- encodings and damaged documents that still give items --------------------------------------------


async def test_wrong_charset_header_still_gives_arabic(harness: Harness) -> None:
    """A windows-1256 feed served as `charset=utf-8` (and one with no declaration at all)."""
    harness.server.add("/declared.xml", (FEEDS / "cp1256.rss.xml").read_bytes(), headers=RSS_TYPE)
    harness.server.add(
        "/undeclared.xml", (FEEDS / "cp1256-undeclared.rss.xml").read_bytes(), headers={"Content-Type": "text/xml"}
    )
    reports = await harness.run("/declared.xml", "/undeclared.xml")
    assert [r.new for r in reports.values()] == [2, 2]
    titles = {article.title for article in await harness.articles()}
    assert len(titles) == 2 and all(_is_arabic(title) for title in titles), titles
    assert (await harness.feed("/declared.xml")).last_error is None


async def test_invalid_utf8_keeps_the_items_and_says_so(harness: Harness) -> None:
    body = GOOD.encode().replace("المركز الوطني".encode(), b"\xff\xfe")  # in the lead and in the full text
    harness.server.add("/damaged.xml", body, headers=RSS_TYPE)
    reports = await harness.run("/damaged.xml")
    assert (reports["/damaged.xml"].error, reports["/damaged.xml"].new) == (None, 2)
    feed = await harness.feed("/damaged.xml")
    assert (feed.status, feed.error_count) == (feed_store.ACTIVE, 0)
    assert feed.last_error == "invalid UTF-8 bytes replaced (4)"  # shown in /feeds, not counted as a failure
    weather = next(a for a in await harness.articles() if a.title == WEATHER[0])
    assert "\ufffd" in weather.text and "جازان" in weather.text


async def test_truncated_inside_an_item_keeps_the_complete_ones(harness: Harness) -> None:
    body = GOOD.encode()
    cut = body.index(b"<item>", body.index(b"<item>") + 1) + 200  # inside the second item
    harness.server.add("/truncated.xml", body[:cut], headers=RSS_TYPE)
    reports = await harness.run("/truncated.xml")
    assert (reports["/truncated.xml"].error, reports["/truncated.xml"].new) == (None, 1)
    assert (await harness.feed("/truncated.xml")).last_error == "truncated document (incomplete last item dropped)"


# ---- state over several polls ------------------------------------------------------------------------------


async def test_304_round_trip_leaves_state_clean(harness: Harness) -> None:
    route = harness.server.add("/feed.xml", GOOD, headers=RSS_TYPE, etag='"v1"')
    first = await harness.run("/feed.xml")
    assert first["/feed.xml"].new == 2
    route.status = 500  # one failure in between
    assert (await harness.run("/feed.xml"))["/feed.xml"].error == "HTTP 500 (server error)"
    route.status = 200
    second = (await harness.run("/feed.xml"))["/feed.xml"]
    assert (second.not_modified, second.new, second.error) == (True, 0, None)
    assert harness.server.requests_to("/feed.xml")[-1].headers["if-none-match"] == '"v1"'
    feed = await harness.feed("/feed.xml")
    assert (feed.status, feed.error_count, feed.last_error, feed.etag) == (feed_store.ACTIVE, 0, None, '"v1"')
    assert feed.last_success_at is not None and feed.next_check_at is not None
    assert timedelta(seconds=INTERVAL) <= feed.next_check_at - feed.last_success_at <= timedelta(seconds=1.1 * INTERVAL)
    assert await harness.entries("/feed.xml") == 2


async def test_known_items_are_not_stored_twice(harness: Harness) -> None:
    harness.server.add("/feed.xml", GOOD, headers=RSS_TYPE)  # no validators: the whole feed comes back
    assert (await harness.run("/feed.xml"))["/feed.xml"].new == 2
    assert (await harness.run("/feed.xml"))["/feed.xml"].new == 0
    assert await harness.count(article_store.Article) == 2


async def test_a_paused_feed_resumes_when_it_works(harness: Harness) -> None:
    route = harness.server.add("/flaky.xml", status=503)
    for failures in (1, 2, 3):
        await harness.run("/flaky.xml")
        feed = await harness.feed("/flaky.xml")
        assert feed.error_count == failures
    assert feed.status == feed_store.PAUSED  # FEED_MAX_FAILURES = 3
    assert feed.next_check_at == feed.last_error_at + timedelta(seconds=INTERVAL * 2**3)
    async with harness.db() as session:
        assert await feed_store.due(session) == []  # not due until its back-off is over
        assert len(await feed_store.due(session, feed.next_check_at)) == 1  # ... but still retried
    route.status, route.body, route.headers = 200, GOOD, RSS_TYPE
    report = await harness.run("/flaky.xml", force=False, refresher=harness.refresher())
    assert report == {}  # nothing is due yet
    report = await harness.run("/flaky.xml")
    assert report["/flaky.xml"].new == 2
    feed = await harness.feed("/flaky.xml")
    assert (feed.status, feed.error_count, feed.last_error) == (feed_store.ACTIVE, 0, None)


async def test_a_slow_feed_does_not_delay_the_others(harness: Harness) -> None:
    """Two feeds that never answer hold two of the three slots; the others all go through the free one."""
    harness.server.add("/warm.xml", GOOD, headers=RSS_TYPE)
    await harness.run("/warm.xml")  # loads the topic gazetteer and the rest once
    harness.server.add("/hung-1.xml", delay=math.inf)
    harness.server.add("/hung-2.xml", delay=math.inf)
    for n in range(4):
        harness.server.add(f"/good-{n}.xml", rss([Item(f"n{n}", f"{WEATHER[0]} {n}", WEATHER[1])]), headers=RSS_TYPE)
    paths = ["/hung-1.xml", "/hung-2.xml", *(f"/good-{n}.xml" for n in range(4))]
    async with make_client(user_agent=USER_AGENT, timeout=2.0) as client:
        refresher = Refresher(harness.settings.model_copy(update={"fetch_concurrency": 3}), harness.db, client)
        reports = await harness.run(*paths, refresher=refresher)
    assert [reports[p].error for p in paths] == ["timeout", "timeout", None, None, None, None]
    hung = [await harness.feed(p) for p in paths[:2]]
    good = [await harness.feed(p) for p in paths[2:]]
    latest_good = max(f.last_success_at for f in good if f.last_success_at)
    assert all(h.last_error_at and h.last_error_at > latest_good for h in hung)  # the good ones finished first


# ---- full text for teasers ---------------------------------------------------------------------------------


def _teaser_feed(link: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>موجز</title>'
        "<item><title>افتتاح أكبر محطة لتحلية المياه بالطاقة الشمسية في الخليج</title>"
        f"<link>{link}</link><guid>teaser-1</guid>"
        "<description>افتتح وزير الطاقة والمياه محطة لتحلية مياه البحر… اقرأ المزيد</description></item>"
        "</channel></rss>"
    )


async def test_a_teaser_gets_the_page_text_without_boilerplate(harness: Harness) -> None:
    harness.server.add("/article/1", (PAGES / "gulf-desalination.html").read_bytes())
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/article/1")), headers=RSS_TYPE)
    assert (await harness.run("/teasers.xml"))["/teasers.xml"].new == 1
    (article,) = await harness.articles()
    assert not article.text.startswith(article.title)  # the page's headline is not repeated as a paragraph
    assert article.text.count("افتتح وزير الطاقة والمياه اليوم الأحد محطة لتحلية مياه البحر") == 1
    assert "وشهد الحفل حضور عدد من سفراء الدول الصديقة" in article.text
    for boilerplate in ("شارك عبر", "تابعونا", "اقرأ أيضاً", "اترك تعليقاً", "جميع الحقوق", "الأعلى", "× 4 ="):
        assert boilerplate not in article.text
    request = harness.server.requests_to("/article/1")[0]
    assert request.headers["user-agent"] == USER_AGENT


async def test_a_teaser_falls_back_to_the_feed_text(harness: Harness) -> None:
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/gone")), headers=RSS_TYPE)
    assert (await harness.run("/teasers.xml"))["/teasers.xml"].new == 1
    (article,) = await harness.articles()
    assert article.text == "افتتح وزير الطاقة والمياه محطة لتحلية مياه البحر… اقرأ المزيد"
    assert len(harness.server.requests_to("/gone")) == 1


async def test_private_article_links_are_not_fetched_unless_allowed(harness: Harness) -> None:
    harness.server.add("/article/1", (PAGES / "gulf-desalination.html").read_bytes())
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/article/1")), headers=RSS_TYPE)
    reports = await harness.run("/teasers.xml", refresher=harness.refresher(allow_private_urls=False))
    assert reports["/teasers.xml"].new == 1
    assert harness.server.requests_to("/article/1") == []  # 127.0.0.1 is refused before any connection
    (article,) = await harness.articles()
    assert article.text.startswith("افتتح وزير الطاقة والمياه محطة") and "وشهد الحفل" not in article.text


async def test_no_page_is_fetched_when_full_text_is_off(harness: Harness) -> None:
    harness.server.add("/article/1", (PAGES / "gulf-desalination.html").read_bytes())
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/article/1")), headers=RSS_TYPE)
    await harness.run("/teasers.xml", refresher=harness.refresher(fetch_full_text=False))
    assert harness.server.requests_to("/article/1") == []


async def test_the_seed_article_page_comes_out_clean(harness: Harness) -> None:
    """The seed article inside a WordPress-style page (share bar, related posts, comment form with a captcha)."""
    needs_seed()
    title, body = seed_article()
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
    page = (PAGES / "wordpress-ar.html").read_text(encoding="utf-8").replace("{{TITLE}}", title)
    harness.server.add("/2025/02/25/seed/", page.replace("{{BODY}}", paragraphs))
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/2025/02/25/seed/")), headers=RSS_TYPE)
    await harness.run("/teasers.xml")
    (article,) = await harness.articles()
    text = article.text
    assert "وتأتي زيارة لافروف بعد استئناف إدارة الرئيس الأميركي" in text
    for boilerplate in ("تابع ميدل ايست نيوز", "مقالات ذات صلة", "اترك تعليقاً", "ستة عشر", "زر الذهاب", "واتساب"):
        assert boilerplate not in text
    # the lead and its longer repeat with a dateline are one paragraph
    assert text.count("أهمية مواصلة عملية التفاعل الإقليمي البناء بين إيران وروسيا") == 1


# ---- duplicates across feeds -------------------------------------------------------------------------------


async def test_the_same_article_in_two_feeds_is_stored_once_and_linked_to_both(both: Harness) -> None:
    title, body = seed_article()
    both.server.add(
        "/a.xml", rss([Item("a-1", title, body, link="https://news.example/iran?utm_source=rss")], title="أ")
    )
    both.server.add("/b.xml", rss([Item("b-77", title, body, link="https://news.example/iran#top")], title="ب"))
    reports = await both.run("/a.xml", "/b.xml")
    assert [reports["/a.xml"].new, reports["/b.xml"].new] == [1, 1]
    assert reports["/a.xml"].stories + reports["/b.xml"].stories == 1
    (article,) = await both.articles()
    assert article.url == "https://news.example/iran"
    async with both.db() as session:
        sources = await article_store.story_sources(session, [article.story_id])
    assert len(sources[article.story_id]) == 2  # both outlets, one story


async def test_the_same_text_at_different_urls_is_stored_once(both: Harness) -> None:
    title, body = IRAN_ONLY
    respaced = body.replace("إيران", "إيـــران").replace(" ", "  ")  # tatweel and spacing do not make it new
    both.server.add("/a.xml", rss([Item("a-1", title, body, link="https://a.example/1")]))
    both.server.add("/b.xml", rss([Item("b-1", title, respaced, link="https://b.example/x")]))
    await both.run("/a.xml", "/b.xml")
    assert await both.count(article_store.Article) == 1
    assert await both.count(article_store.Entry) == 2


def _lead_and_full_feeds(harness: Harness) -> Refresher:
    """Serve the seed article as /lead.xml (its first 25 words) and /full.xml; a Refresher without page fetches."""
    title, body = seed_article()
    lead = " ".join(body.split()[:25]) + " …"
    for path, text in (("/lead.xml", lead), ("/full.xml", body)):
        url = "https://news.example/seed"
        harness.server.add(path, rss([Item(url, title, text, link=url)]))
    return harness.refresher(fetch_full_text=False)


async def test_a_lead_feed_first_then_the_full_feed_upgrades_the_text(both: Harness) -> None:
    """A lead-only feed stores a teaser; the full feed of the same outlet replaces it, one article still."""
    needs_seed()  # the short stand-in is no fuller than its lead
    refresher = _lead_and_full_feeds(both)
    await both.run("/lead.xml", refresher=refresher)
    (teaser,) = await both.articles()
    reports = await both.run("/lead.xml", "/full.xml", refresher=refresher)
    assert reports["/full.xml"].new == 1 and reports["/full.xml"].stories == 0
    (article,) = await both.articles()
    assert article.id == teaser.id and len(article.text) > 4 * len(teaser.text)
    assert "وتأتي زيارة لافروف" in article.text
    async with both.db() as session:
        story = await session.get(article_store.Story, article.story_id)
        topics = await article_store.topics_of(session, [article.story_id])
    assert story is not None and story.digest == article.digest != teaser.digest
    assert {"iran", "russia", "iran+russia"} <= topics[article.story_id]


async def test_a_lead_after_the_full_feed_is_only_linked(both: Harness) -> None:
    refresher = _lead_and_full_feeds(both)
    await both.run("/full.xml", refresher=refresher)
    (full,) = await both.articles()
    await both.run("/full.xml", "/lead.xml", refresher=refresher)
    (article,) = await both.articles()
    assert (article.id, article.text, article.digest) == (full.id, full.text, full.digest)
    assert await both.entries("/lead.xml") == 1


@pytest.mark.parametrize("workers", [0, 1], ids=["thread", "process"])
async def test_a_lead_feed_that_answers_first_waits_for_the_full_feed_of_the_round(
    harness: Harness, workers: int
) -> None:
    """Listed and fetched in one round, the lead feed answering well before the full one: the teaser is linked to the
    full copy, never processed first and then replaced (before: processed twice, and the lead's digest stored first)."""
    needs_seed()
    _lead_and_full_feeds(harness)
    harness.server.routes["/full.xml"].delay = 0.3  # the lead is fetched and parsed first
    settings = harness.settings.model_copy(update={"fetch_full_text": False})
    refresher = Refresher(settings, harness.db, harness.client, workers=workers)
    try:
        reports = await harness.run("/lead.xml", "/full.xml", refresher=refresher)
    finally:
        refresher.close()
    assert (reports["/lead.xml"].processed, reports["/full.xml"].processed) == (0, 1)
    assert (reports["/lead.xml"].new, reports["/full.xml"].new) == (1, 1)
    (article,) = await harness.articles()
    assert "وتأتي زيارة لافروف" in article.text


async def test_a_lead_feed_waits_for_a_feed_that_never_answers_only_until_its_timeout(harness: Harness) -> None:
    needs_seed()
    _lead_and_full_feeds(harness)
    harness.server.add("/never.xml", delay=math.inf)  # FETCH_TIMEOUT_SECONDS is 0.5 here
    refresher = harness.refresher(fetch_full_text=False, fetch_concurrency=1)  # one fetch at a time, in id order
    reports = await asyncio.wait_for(harness.run("/lead.xml", "/never.xml", "/full.xml", refresher=refresher), 10)
    assert reports["/never.xml"].error == "timeout"
    assert (reports["/lead.xml"].processed, reports["/full.xml"].processed) == (0, 1)


async def test_lead_feeds_holding_every_slot_do_not_wait_for_feeds_that_have_not_started(harness: Harness) -> None:
    """With FETCH_CONCURRENCY=1, 4 feeds are under way at a time: three leads listed before their full feeds take
    three slots and wait only for the feeds already under way, so the round ends and nothing is lost."""
    needs_seed()
    title, body = seed_article()
    lead = " ".join(body.split()[:25]) + " …"
    paths = []
    for n in range(3):
        url = f"https://news.example/seed-{n}"
        harness.server.add(f"/lead{n}.xml", rss([Item(url, title, lead, link=url)]))
        paths.append(f"/lead{n}.xml")
    for n in range(3):
        url = f"https://news.example/seed-{n}"
        text = f"قال المصدر رقم {n + 1} إن المحادثات ستستمر الأسبوع المقبل في العاصمة.\n\n{body}"  # three texts
        harness.server.add(f"/full{n}.xml", rss([Item(url, title, text, link=url)]))
        paths.append(f"/full{n}.xml")
    refresher = harness.refresher(fetch_full_text=False, fetch_concurrency=1)
    reports = await asyncio.wait_for(harness.run(*paths, refresher=refresher), 30)
    assert all(report.error is None and report.new == 1 for report in reports.values()), reports
    articles = await harness.articles()
    assert len(articles) == 3 and all("وتأتي زيارة لافروف" in article.text for article in articles)  # no teaser left


async def test_two_feeds_of_one_site_process_each_article_once(harness: Harness) -> None:
    """An RSS and an Atom feed carrying the same articles, fetched in one round with worker processes: each article is
    processed by one feed; the other feed waits for it and links its items (before: both processed some)."""
    items = [Item(f"https://news.example/{n}", *pair, link=f"https://news.example/{n}") for n, pair in
             enumerate([WEATHER, IRAN_ONLY])]  # fmt: skip
    harness.server.add("/a.xml", rss(items, title="أ"), headers=RSS_TYPE)
    harness.server.add("/b.xml", rss(items, title="ب"), headers=RSS_TYPE)
    refresher = Refresher(harness.settings, harness.db, harness.client, workers=1)
    try:
        reports = await harness.run("/a.xml", "/b.xml", refresher=refresher)
    finally:
        refresher.close()
    assert [(reports[p].new, reports[p].processed) for p in ("/a.xml", "/b.xml")] == [(2, 2), (2, 0)]
    assert await harness.count(article_store.Article) == 2


async def test_a_home_page_link_does_not_merge_different_items(harness: Harness) -> None:
    """Items that all link to the site's home page are different articles."""
    harness.server.add(
        "/feed.xml",
        rss([Item("w", *WEATHER, link="https://news.example/"), Item("i", *IRAN_ONLY, link="https://news.example/")]),
    )
    await harness.run("/feed.xml")
    assert await harness.count(article_store.Article) == 2


# ---- pushes ------------------------------------------------------------------------------------------------


async def test_new_stories_are_queued_once_for_followers_after_the_first_fetch(both: Harness) -> None:
    async with both.db.begin() as session:
        await subscribers.touch(session, 7, chat_type="private", language="ar")
        await subscribers.follow(session, 7, "iran+russia")
    route = both.server.add("/a.xml", rss([Item("w", *WEATHER)]))
    both.server.add("/b.xml", rss([Item("old", *WEATHER)]))
    refresher = both.refresher()
    await both.run("/a.xml", "/b.xml", refresher=refresher)  # first fetch of each feed: history, no pushes
    title, body = seed_article()
    route.body = rss([Item("w", *WEATHER), Item("s", title, body, link="https://news.example/seed")])
    both.server.add("/b.xml", rss([Item("s-b", title, body, link="https://news.example/seed?utm_medium=x")]))
    reports = await both.run("/a.xml", "/b.xml", refresher=refresher)
    assert sum(r.queued for r in reports.values()) == 1  # one story, one chat, however many outlets
    async with both.db() as session:
        assert (await outbox.counts(session)).get(outbox.PENDING) == 1
    assert await both.count(article_store.Story) == 2


def _is_arabic(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum("\u0600" <= c <= "\u06ff" for c in letters) / len(letters) > 0.9


async def test_the_feeds_report_after_a_poll(harness: Harness) -> None:
    """What /feeds and `python bot.py feeds` print: status, last success, articles in 24 h, last error."""
    harness.server.add("/good.xml", GOOD, headers=RSS_TYPE)
    harness.server.add("/gone.xml", status=404)
    for _ in range(3):  # FEED_MAX_FAILURES = 3: paused
        await harness.run("/good.xml", "/gone.xml")
    async with harness.db() as session:
        lines = await feeds_report(session, since=utcnow() - timedelta(hours=24))
    good, gone = "\n".join(lines[:3]), "\n".join(lines[3:])
    assert re.fullmatch(r"أخبار جيدة \[active\]\n  http://\S+/good.xml\n  last success: \ds ago; new in 24h: 2", good)
    assert re.fullmatch(
        r"127.0.0.1:\d+ \[paused, 3 failures in a row\]\n  http://\S+/gone.xml\n"
        r"  last success: never; new in 24h: 0\n  last error: HTTP 404 \(not found\) \(\ds ago\)",
        gone,
    )


# ---- the lane ----------------------------------------------------------------------------------------------


async def _turn(lane: Lane, order: list[str], name: str, priority: float) -> None:
    async with lane.turn(priority):
        order.append(name)


async def test_the_lane_gives_the_next_turn_to_the_fullest_feed() -> None:
    lane, order = Lane(), []
    holding = lane.turn(0)
    await holding.__aenter__()
    waiting = [("lead", 120), ("full", 2400), ("mid", 800), ("m2", 800)]
    tasks = [asyncio.create_task(_turn(lane, order, name, priority)) for name, priority in waiting]
    await asyncio.sleep(0)
    await holding.__aexit__(None, None, None)
    await asyncio.gather(*tasks)
    assert order == ["full", "mid", "m2", "lead"]


@pytest.mark.parametrize("when", ["while-waiting", "as-its-turn-comes"])
async def test_a_cancelled_waiter_does_not_block_the_lane(when: str) -> None:
    lane, order = Lane(), []
    holding = lane.turn(0)
    await holding.__aenter__()
    gone = asyncio.create_task(_turn(lane, order, "gone", 10))
    kept = asyncio.create_task(_turn(lane, order, "kept", 1))
    await asyncio.sleep(0)
    if when == "while-waiting":
        gone.cancel()
        await asyncio.sleep(0)
        await holding.__aexit__(None, None, None)
    else:
        await holding.__aexit__(None, None, None)  # the turn goes to "gone" ...
        gone.cancel()  # ... which is cancelled before it runs, and passes it on
    await kept
    assert order == ["kept"] and gone.cancelled()
    await _turn(lane, order, "after", 0)  # free again
    assert order == ["kept", "after"]


async def test_a_lane_of_several_turns_lets_the_urgent_waiters_go_first() -> None:
    """The pool's turns (its size, and one queued): work the lane waits for goes before processing sent earlier."""
    lane, order = Lane(size=2), []
    held = [lane.turn(0), lane.turn(0)]
    for turn in held:
        await turn.__aenter__()  # both turns taken at once, no waiting
    waiting = [("early-1", 0.0), ("early-2", 0.0), ("lane's", 1.0)]
    tasks = [asyncio.create_task(_turn(lane, order, name, priority)) for name, priority in waiting]
    await asyncio.sleep(0)
    assert order == []
    await held[0].__aexit__(None, None, None)  # one turn freed: passed from waiter to waiter, best first
    await asyncio.gather(*tasks)
    assert order == ["lane's", "early-1", "early-2"]
    await held[1].__aexit__(None, None, None)
    await asyncio.gather(_turn(lane, order, "a", 0), _turn(lane, order, "b", 0), _turn(lane, order, "c", 0))
    assert order[3:] == ["a", "b", "c"]


def test_a_worker_call_pauses_the_garbage_collector_only_while_it_runs() -> None:
    assert gc.isenabled()
    assert _without_gc(gc.isenabled) is False
    assert gc.isenabled()
    with pytest.raises(ZeroDivisionError):
        _without_gc(divmod, 1, 0)
    assert gc.isenabled()


async def test_cpu_stages_can_run_in_worker_processes(harness: Harness) -> None:
    """Everything handed to the executor pickles: parse, page extraction, processing, digests of grown stories."""
    title, body = seed_article()
    harness.server.add("/article/1", (PAGES / "gulf-desalination.html").read_bytes())
    harness.server.add("/teasers.xml", _teaser_feed(harness.server.url("/article/1")), headers=RSS_TYPE)
    harness.server.add("/a.xml", rss([Item("s", title, body, link="https://news.example/seed")], title="أ"))
    other = "وصل لافروف إلى طهران في زيارة رسمية تستمر يومين.\n\n" + body  # another outlet, one more paragraph
    harness.server.add("/b.xml", rss([Item("s2", title, other, link="https://b.example/s")]))
    refresher = Refresher(harness.settings, harness.db, harness.client, workers=1)
    try:
        reports = await harness.run("/teasers.xml", "/a.xml", refresher=refresher)
        reports |= await harness.run("/teasers.xml", "/a.xml", "/b.xml", refresher=refresher)
    finally:
        refresher.close()
    assert refresher.executor is None  # closed: its workers are stopped
    assert [reports[p].error for p in ("/teasers.xml", "/a.xml", "/b.xml")] == [None, None, None], reports
    articles = await harness.articles()
    assert len(articles) == 3 and len({a.story_id for a in articles}) == 2  # b's longer copy joins a's story
    assert any("وشهد الحفل" in a.text for a in articles)  # the teaser's page was fetched and extracted


async def test_a_killed_worker_process_is_replaced_and_the_feed_still_stored(harness: Harness) -> None:
    """A worker that dies (out of memory, killed by an admin) costs neither the feed nor the bot: a new pool takes over."""
    title, body = seed_article()
    harness.server.add("/a.xml", rss([Item("s", title, body, link="https://news.example/seed")]), headers=RSS_TYPE)
    harness.server.add("/b.xml", rss([Item("w", *WEATHER, link="https://b.example/w")]), headers=RSS_TYPE)
    refresher = Refresher(harness.settings, harness.db, harness.client, workers=1)
    try:
        assert (await harness.run("/a.xml", refresher=refresher))["/a.xml"].error is None
        pool = refresher.executor
        assert isinstance(pool, ProcessPoolExecutor)
        for process in list(pool._processes.values()):  # the pool's own worker processes
            process.kill()
            process.join()
        reports = await harness.run("/b.xml", refresher=refresher)
        assert reports["/b.xml"].error is None and reports["/b.xml"].new == 1
        assert refresher.executor is not pool
    finally:
        refresher.close()
    assert len(await harness.articles()) == 2


async def test_the_story_map_forgets_stories_that_left_the_window(harness: Harness) -> None:
    """A long-running bot keeps only the stories still in the 72-hour window in memory, not every one ever stored."""
    now = utcnow()
    body = WEATHER[1] + "\n\nوسجلت محطة الرصد رقم {} أعلى كمية أمطار هذا الموسم."
    old = [Item(f"old{n}", f"{WEATHER[0]} {n}", body.format(n), published=now - timedelta(days=10)) for n in range(3)]
    harness.server.add("/old.xml", rss(old), headers=RSS_TYPE)
    harness.server.add("/new.xml", rss([Item("new", *IRAN_ONLY, published=now)]), headers=RSS_TYPE)
    refresher = harness.refresher()
    await harness.run("/old.xml", refresher=refresher)
    assert len(refresher.grouper.story_ids) >= 3
    await harness.run("/new.xml", refresher=refresher)  # its article pushes the old ones out of the window
    grouper = refresher.grouper
    assert all(key in grouper.index or key in grouper.index.stories() for key in grouper.story_ids)
    assert 1 <= len(refresher.grouper.story_ids) <= 2


async def test_a_feed_that_fails_to_store_does_not_make_the_next_feed_push_a_known_story_again(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After one feed's transaction is rolled back, the feeds after it in the same round still see every stored story
    (before: the story index was emptied, so another outlet's copy of a pushed story was pushed as a new one)."""
    async with harness.db.begin() as session:
        await subscribers.touch(session, 1, chat_type="private", language="ar")
        await subscribers.follow(session, 1, "iran")
    other = (IRAN_ONLY[0], IRAN_ONLY[1] + "\n\nوتأتي هذه الزيادة رغم العقوبات المفروضة على قطاع النفط الإيراني.")
    a, b, c = [Item("w1", *WEATHER)], [Item("w2", *WEATHER)], [Item("w3", *WEATHER)]
    routes = {
        path: harness.server.add(path, rss(items, title=path), headers=RSS_TYPE)
        for path, items in (("/a.xml", a), ("/b.xml", b), ("/c.xml", c))
    }
    refresher = harness.refresher(fetch_concurrency=1)  # one feed after another, in id order: a, b, c
    await harness.run("/a.xml", "/b.xml", "/c.xml", refresher=refresher)  # first fetches: history, no pushes
    routes["/a.xml"].body = rss([*a, Item("i1", *IRAN_ONLY)], title="/a.xml")
    reports = await harness.run("/a.xml", "/b.xml", "/c.xml", refresher=refresher)
    assert reports["/a.xml"].queued == 1

    record_success = feed_store.record_success

    def broken_for_b(feed: feed_store.Feed, **kwargs: object) -> None:
        if feed.url.endswith("/b.xml"):
            raise RuntimeError("a bug while storing feed b")
        record_success(feed, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(feed_store, "record_success", broken_for_b)
    routes["/b.xml"].body = rss(
        [*b, Item("w4", WEATHER[0] + " غداً", WEATHER[1] + "\n\nوتستمر الحالة حتى الخميس.")], title="/b.xml"
    )
    routes["/c.xml"].body = rss([*c, Item("i2", *other)], title="/c.xml")
    reports = await harness.run("/a.xml", "/b.xml", "/c.xml", refresher=refresher)
    assert reports["/b.xml"].error and reports["/c.xml"].new == 1
    assert reports["/c.xml"].queued == 0  # the same story: its sent message gains a source, it is not pushed again
    assert await harness.count(outbox.Delivery) == 1


async def test_an_item_with_an_over_long_link_is_stored_without_it(both: Harness) -> None:
    """A link longer than the URL columns hold (2048) must not fail the feed's transaction on PostgreSQL."""
    link = "http://news.example/article?" + "q=" + "x" * 3000
    both.server.add("/long.xml", rss([Item("l1", *WEATHER, link=link), Item("l2", *IRAN_ONLY)]), headers=RSS_TYPE)
    report = (await both.run("/long.xml"))["/long.xml"]
    assert report.error is None and report.new == 2
    assert all(article.url is None or len(article.url) <= 2048 for article in await both.articles())


async def test_over_long_validators_do_not_fail_the_feed(both: Harness) -> None:
    """An ETag or Last-Modified longer than its column (500, 100) is not stored, and the feed still works."""
    headers = {
        **RSS_TYPE,
        "ETag": '"' + "e" * 600 + '"',
        "Last-Modified": "Sun, 29 Nov 2026 10:00:00 GMT" + " " * 120 + "x",
    }
    both.server.add("/v.xml", GOOD, headers=headers)
    report = (await both.run("/v.xml"))["/v.xml"]
    assert report.error is None and report.new == 2
    feed = await both.feed("/v.xml")
    assert feed.last_success_at is not None and feed.etag is None and feed.last_modified is None


async def test_a_feed_that_kills_its_worker_twice_gets_a_reason_and_the_bot_goes_on(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A document that makes the worker die (in real life: runs it out of memory) costs only its own feed."""
    harness.server.add("/a.xml", rss([Item("w", *WEATHER, link="https://b.example/w")]), headers=RSS_TYPE)
    refresher = Refresher(harness.settings, harness.db, harness.client, workers=1)
    monkeypatch.setattr(refresh, "parse_feed", _die)  # sent to the worker by reference: it runs there
    try:
        report = (await harness.run("/a.xml", refresher=refresher))["/a.xml"]
    finally:
        refresher.close()
    assert report.error == "processing crashed twice (a worker process died; out of memory?)"
    async with harness.db() as session:
        feeds = await feed_store.listed(session)
    assert [(f.error_count, f.last_error) for f in feeds] == [(1, report.error)]


def _die(*_args: object) -> None:
    """Stands for a parse that kills its process."""
    os._exit(1)


async def test_worker_processes_log_in_the_bots_format(
    harness: Harness,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a worker logs reaches the bot's stderr at its level, in its format (not Python's bare fallback)."""
    caplog.set_level(logging.INFO)  # the bot's LOG_LEVEL=INFO
    harness.server.add("/a.xml", rss([Item("w", *WEATHER, link="https://b.example/w")]), headers=RSS_TYPE)
    monkeypatch.setattr(refresh, "parse_feed", _parse_and_log)  # sent to the worker by reference: it runs there
    refresher = Refresher(harness.settings, harness.db, harness.client, workers=1)
    try:
        report = (await harness.run("/a.xml", refresher=refresher))["/a.xml"]
    finally:
        refresher.close()
    assert report.error is None and report.new == 1
    worker_lines = [line for line in capfd.readouterr().err.splitlines() if "parsed in a worker" in line]
    assert len(worker_lines) == 1
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d [\d:,]+ INFO tests\.news\.test_refresh: parsed in a worker \d+", worker_lines[0]
    )


def _parse_and_log(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    """parse_feed, with an INFO line from the process it runs in."""
    logging.getLogger(__name__).info("parsed in a worker %d", os.getpid())
    return parse_feed(body, headers, url)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="no process niceness on this platform")
def test_worker_processes_run_at_a_lower_cpu_priority_than_the_bot() -> None:
    """When cores are short the bot's event loop (chats, the lane) goes first and the workers take the rest."""
    pool = refresh.worker_pool(1)
    try:
        worker = pool.submit(os.nice, 0).result()
    finally:
        pool.shutdown()
    assert worker == min(os.nice(0) + refresh.WORKER_NICENESS, 19)
