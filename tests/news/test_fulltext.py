"""news.fulltext: article text out of a real-looking Arabic news page, and which feed items are teasers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from news.fetch import fetch
from news.fulltext import extract_article, is_teaser
from news.models import FeedItem
from news.parse import parse_feed
from tests.support.feedserver import FeedServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PAGE = (FIXTURES / "pages" / "article-ar.html").read_bytes()
FIRST_PARAGRAPH = "قال وزير الطاقة في مؤتمر صحفي عقده اليوم في الرياض إن أسعار النفط ستبقى مستقرة خلال الربع المقبل"
LAST_PARAGRAPH = "وختم بالتأكيد على أن المؤشرات الاقتصادية الحالية تبعث على التفاؤل"
# Text from the navigation, share buttons, ad slot, tags, related links, comments, comment form and footer.
BOILERPLATE = [
    "الرئيسية",
    "مقالات الرأي",
    "ابحث في الموقع",
    "شارك على تويتر",
    "واتساب",
    "طباعة",
    "إعلان",
    "الوسوم",
    "أخبار ذات صلة",
    "ارتفاع أسعار الذهب",
    "التعليقات",
    "تعليق رائع",
    "أضف تعليقك",
    "إرسال التعليق",
    "الأكثر قراءة",
    "جميع الحقوق محفوظة",
    "اشترك في النشرة البريدية",
]


async def test_article_body_without_boilerplate(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/economy/1001", PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
    page = await fetch(client, srv.url("/economy/1001"))
    text = extract_article(page.body, page.url, content_type=page.headers["content-type"])
    assert text is not None
    paragraphs = text.split("\n\n")
    assert len(paragraphs) == 5
    assert paragraphs[0].startswith(FIRST_PARAGRAPH)
    assert paragraphs[-1].startswith(LAST_PARAGRAPH)
    assert [phrase for phrase in BOILERPLATE if phrase in text] == []


@pytest.mark.parametrize("content_type", ["text/html", "text/html; charset=windows-1256", "text/html; charset=utf-8"])
async def test_windows_1256_page(srv: FeedServer, client: httpx.AsyncClient, content_type: str) -> None:
    """A <meta charset="windows-1256"> page, whatever its header says."""
    html = PAGE.decode().replace('charset="utf-8"', 'charset="windows-1256"').replace("©", "(c)")
    srv.add("/economy/1001", html.encode("cp1256"), headers={"Content-Type": content_type})
    page = await fetch(client, srv.url("/economy/1001"))
    text = extract_article(page.body, page.url, content_type=page.headers["content-type"])
    assert text is not None
    assert text.startswith(FIRST_PARAGRAPH)


def test_text_input_and_no_url() -> None:
    text = extract_article(PAGE.decode())
    assert text is not None
    assert text.startswith(FIRST_PARAGRAPH)


@pytest.mark.parametrize(
    "html",
    [
        b"",
        b"   ",
        (FIXTURES / "feeds" / "page.html").read_bytes(),  # a home page: two lines, no article
        b"<html><body><nav><a href='/'>x</a></nav></body></html>",
        b"\x00\x01\x02 binary garbage \xff\xfe",
        "<p>" * 5000,
    ],
    ids=["empty", "blank", "home-page", "nav-only", "binary", "deep-nesting"],
)
def test_no_article_is_none(html: bytes | str) -> None:
    assert extract_article(html, "https://news.example/") is None


def _item(summary: str = "", content: str = "") -> FeedItem:
    return FeedItem(
        guid=None, url="https://news.example/1", title="t", summary=summary, content=content, published=None
    )


LONG = " ".join(["كلمة"] * 100)


@pytest.mark.parametrize(
    ("item", "teaser"),
    [
        (_item(summary="خبر قصير من سطر واحد."), True),
        (_item(summary=""), True),
        (_item(summary=LONG + "."), False),
        (_item(summary=LONG + "…"), True),
        (_item(summary=LONG + " ..."), True),
        (_item(summary=LONG + " [...]"), True),
        (_item(summary=LONG + " إقرأ المزيد »"), True),
        (_item(summary=LONG + " Read more"), True),
        (_item(summary="قصير", content=LONG + "."), False),
        (_item(summary="قصير", content=LONG + " وكم نحن مقصرون.."), False),  # Arabic prose ends in ".."
        (_item(summary="قصير", content="نص قصير يقطع هنا..."), True),
        (_item(summary="قصير", content="نص قصير كامل."), False),
    ],
)
def test_is_teaser(item: FeedItem, teaser: bool) -> None:
    assert is_teaser(item) is teaser


async def test_teasers_in_the_fixture_feed(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", (FIXTURES / "feeds" / "arabic.rss.xml").read_bytes())
    result = await fetch(client, srv.url("/feed.xml"))
    feed = parse_feed(result.body, result.headers, result.url)
    assert [is_teaser(item) for item in feed.items] == [False, True, True]


async def test_eval_lead_feeds_are_teasers_and_full_feeds_are_not(
    srv: FeedServer, client: httpx.AsyncClient, eval_path: Path
) -> None:
    feeds = eval_path / "feeds"
    if not feeds.is_dir():
        pytest.skip(f"no evaluation feeds at {feeds}")
    for path in srv.serve_dir(feeds):
        result = await fetch(client, srv.url(path))
        items = parse_feed(result.body, result.headers, result.url).items
        teasers = sum(is_teaser(item) for item in items)
        assert teasers == (len(items) if ".lead." in path else 0), path
