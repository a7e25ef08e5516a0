"""news.parse on documents served over loopback HTTP: good feeds become plain-text items, bad ones a reason."""

from __future__ import annotations

import asyncio
import copy
import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser.html
import feedparser.mixin
import feedparser.util
import httpx
import pytest

from news.fetch import fetch
from news.models import ParsedFeed
from news.parse import parse_feed
from tests.support.feedserver import FeedServer

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
RSS = (FEEDS / "arabic.rss.xml").read_bytes()
ARABIC_LETTER = re.compile("[\u0621-\u064a]")
MOJIBAKE = re.compile("[ÃØÙÚÛ]|\ufffd")  # UTF-8 read as Latin-1/windows-1252, or replacement characters
RSS_TYPE = {"Content-Type": "application/rss+xml"}


async def get(srv: FeedServer, client: httpx.AsyncClient, path: str, body: bytes, **options: object) -> ParsedFeed:
    """Serve `body` at `path`, fetch it like the bot does and parse what came back."""
    srv.add(path, body, **options)  # type: ignore[arg-type]
    result = await fetch(client, srv.url(path))
    assert result.error is None, result.error
    return parse_feed(result.body, result.headers, result.url)


async def test_rss_items_are_plain_text(srv: FeedServer, client: httpx.AsyncClient) -> None:
    feed = await get(srv, client, "/feed.xml", RSS, headers=RSS_TYPE)
    assert (feed.error, feed.warning) == (None, None)
    assert feed.title == "صحيفة الخليج اليوم"  # whitespace collapsed
    first, second, third = feed.items
    assert first.guid == "news-1001"
    assert first.url == "https://news.example/economy/1001"
    assert first.title == "وزير الطاقة: أسعار النفط مستقرة رغم التوترات"  # the line break inside is gone
    assert first.summary == "قال وزير الطاقة إن أسعار النفط ستبقى مستقرة.\n\nوأضاف أن السوق متوازنة حالياً."
    assert first.content.startswith("قال وزير الطاقة إن أسعار النفط ستبقى مستقرة خلال الربع المقبل.\n\nوأضاف")
    assert "<" not in first.content and "trackView" not in first.content  # markup and scripts removed
    assert first.published == datetime(2015, 8, 11, 15, 47, 38, tzinfo=UTC)  # +0300 → UTC
    assert first.author == "الرياض: محمد العتيبي"
    assert second.url == srv.url("/culture/1002")  # relative link resolved against the feed's URL
    assert second.content == ""
    assert second.published == datetime(2015, 8, 10, 9, 0, tzinfo=UTC)
    assert third.summary.endswith("اقرأ المزيد")  # escaped markup in a description is markup, not text
    assert (third.guid, third.published, third.author) == (None, None, None)


def _relative_rss(channel_attributes: str = "", guid_attributes: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel{channel_attributes}><title>t</title>
<item><title>a</title><link>/news/1?a=1&amp;b=2</link><guid{guid_attributes}>/news/1</guid></item>
<item><title>b</title><guid>news/2</guid></item>
</channel></rss>""".encode()


async def test_relative_links_and_guids(srv: FeedServer, client: httpx.AsyncClient) -> None:
    """Resolved like feedparser does: against the feed's URL or xml:base; a guid only when it is a permalink."""
    feed = await get(srv, client, "/ar/feed.xml", _relative_rss())
    assert [(item.url, item.guid) for item in feed.items] == [
        (srv.url("/news/1?a=1&b=2"), srv.url("/news/1")),
        (srv.url("/ar/news/2"), srv.url("/ar/news/2")),  # a permalink guid is the link too
    ]
    feed = await get(srv, client, "/base.xml", _relative_rss(' xml:base="https://cdn.example/ar/"'))
    assert [(item.url, item.guid) for item in feed.items] == [
        ("https://cdn.example/news/1?a=1&b=2", "https://cdn.example/news/1"),
        ("https://cdn.example/ar/news/2", "https://cdn.example/ar/news/2"),
    ]
    feed = await get(srv, client, "/ids.xml", _relative_rss(guid_attributes=' isPermaLink="false"'))
    assert feed.items[0].guid == "/news/1"


async def test_atom_entries(srv: FeedServer, client: httpx.AsyncClient) -> None:
    feed = await get(srv, client, "/atom.xml", (FEEDS / "arabic.atom.xml").read_bytes())
    assert feed.title == "أخبار الاقتصاد"
    first, undated = feed.items
    assert first.title == "عاجل: ارتفاع مؤشر السوق"  # type="html" title turned into text
    assert first.summary == "ارتفع المؤشر العام للسوق بنسبة 1.2 في المئة."
    assert (
        first.content
        == "ارتفع المؤشر العام للسوق بنسبة 1.2 في المئة في ختام تداولات اليوم.\n\nوقاد قطاع المصارف المكاسب."
    )
    assert first.published == datetime(2015, 8, 11, 9, 30, tzinfo=UTC)
    assert first.author == "فريق التحرير"
    assert undated.published is None


CP1256_TITLES = ("أمير المنطقة يدشن مشروعات تنموية بقيمة 2 مليار ريال", "«الصحة»: حملة تطعيم شاملة في المدارس")


@pytest.mark.parametrize("fixture", ["cp1256.rss.xml", "cp1256-undeclared.rss.xml"])
@pytest.mark.parametrize(
    "content_type",
    ["application/rss+xml; charset=utf-8", "text/xml; charset=UTF-8", "text/xml", "application/xml", None],
)
async def test_windows_1256_feeds_come_out_as_arabic(
    srv: FeedServer, client: httpx.AsyncClient, fixture: str, content_type: str | None
) -> None:
    """Including bodies whose header says UTF-8 and ones that declare no encoding at all."""
    body = (FEEDS / fixture).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")  # the fixture really is windows-1256
    headers = {"Content-Type": content_type} if content_type else {}
    feed = await get(srv, client, "/feed.xml", body, headers=headers)
    assert feed.title == "جريدة الوطن"
    assert tuple(item.title for item in feed.items) == CP1256_TITLES
    assert feed.items[0].summary.startswith("دشن أمير المنطقة الشرقية أمس مشروعات تنموية")
    assert feed.items[0].published == datetime(2015, 8, 12, 4, 15, tzinfo=UTC)


async def test_utf8_body_labelled_windows_1256(srv: FeedServer, client: httpx.AsyncClient) -> None:
    body = RSS.replace(b'encoding="UTF-8"', b'encoding="windows-1256"')
    feed = await get(srv, client, "/feed.xml", body, headers={"Content-Type": "text/xml; charset=windows-1256"})
    assert feed.items[0].title == "وزير الطاقة: أسعار النفط مستقرة رغم التوترات"


async def test_invalid_utf8_bytes_spoil_only_their_own_text(srv: FeedServer, client: httpx.AsyncClient) -> None:
    body = RSS.replace("معرض".encode(), b"\xff\xfe", 1)
    feed = await get(srv, client, "/feed.xml", body, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    assert feed.error is None
    assert feed.warning == "invalid UTF-8 bytes replaced (2)"
    assert len(feed.items) == 3
    assert feed.items[0].title == "وزير الطاقة: أسعار النفط مستقرة رغم التوترات"  # not decoded as windows-1252
    assert feed.items[1].title == "افتتاح \ufffd\ufffd الكتاب الدولي بمشاركة 500 دار نشر"


async def test_truncated_xml_keeps_the_complete_items(srv: FeedServer, client: httpx.AsyncClient) -> None:
    body = RSS[: RSS.index("الأرصاد".encode()) + 20]  # cut inside the third item's title
    feed = await get(srv, client, "/feed.xml", body, headers=RSS_TYPE)
    assert feed.error is None
    assert feed.warning == "truncated document (incomplete last item dropped)"
    assert [item.guid for item in feed.items] == ["news-1001", "https://news.example/culture/1002"]
    assert feed.items[1].summary.startswith("افتتح أمس معرض الكتاب الدولي")


async def test_malformed_item_does_not_lose_the_feed(srv: FeedServer, client: httpx.AsyncClient) -> None:
    body = RSS.replace(b"<title>", b"<title><b>", 1)  # an unclosed tag: not well-formed any more
    feed = await get(srv, client, "/feed.xml", body, headers=RSS_TYPE)
    assert feed.error is None
    assert feed.warning == "malformed XML (items recovered)"
    assert len(feed.items) == 3


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        ((FEEDS / "page.html").read_bytes(), {"Content-Type": "text/html; charset=utf-8"}, "not a feed (HTML page)"),
        ((FEEDS / "page.html").read_bytes(), {"Content-Type": "application/rss+xml"}, "not a feed (HTML page)"),
        (b"", {}, "empty body"),
        (b" \r\n\t ", {"Content-Type": "application/rss+xml"}, "empty body"),
        (b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title><<<', {}, "malformed XML"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', {}, "not a feed"),
        (b"<?xml version='1.0'?><urlset><url><loc>https://a.example/</loc></url></urlset>", {}, "not a feed"),
        (b'<?xml version="1.0" encoding="ut\xf7f-8"?><rss><channel><item/></channel></rss>', {}, "malformed XML"),
    ],
    ids=["html", "html-labelled-rss", "empty", "blank", "malformed", "json", "sitemap", "feedparser-crash"],
)
async def test_unusable_documents(
    srv: FeedServer, client: httpx.AsyncClient, body: bytes, headers: dict[str, str], reason: str
) -> None:
    feed = await get(srv, client, "/feed.xml", body, headers=headers)
    assert (feed.error, feed.items) == (reason, ())


async def test_a_well_formed_feed_with_no_items_is_not_an_error(srv: FeedServer, client: httpx.AsyncClient) -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title></channel></rss>'
    feed = await get(srv, client, "/feed.xml", body)
    assert (feed.title, feed.items, feed.error) == ("quiet", (), None)


def _quadratic_blowup() -> bytes:
    """A 26 KB document whose one entity, referenced 2,000 times, expands to a 40 MB title.

    Measured without the guard: feedparser 6.0.14 takes 1-2.4 s and 143 MB for it, growing quadratically.
    """
    value = "A" * 20_000
    refs = "&a;" * 2_000
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY a "{value}">\n]>\n'
        f'<rss version="2.0"><channel><title>t</title><item><title>{refs}</title></item></channel></rss>'
    ).encode()


def _after_a_comment() -> bytes:
    """feedparser only strips entity declarations before the first "<letter"; a comment can hide one."""
    return b'<?xml version="1.0"?>\n<!-- <a> -->\n<!DOCTYPE rss [<!ENTITY a "x">]><rss><channel/></rss>'


def _utf16(path: Path, codec: str) -> bytes:
    return path.read_text().replace('<?xml version="1.0"', '<?xml version="1.0" encoding="UTF-16"', 1).encode(codec)


async def test_utf16_feed(srv: FeedServer, client: httpx.AsyncClient) -> None:
    """The same decoding path the entity check takes for UTF-16 documents yields a normal feed."""
    body = RSS.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    feed = await get(srv, client, "/feed.xml", body, headers={"Content-Type": "application/xml"})
    assert feed.items[0].title == "وزير الطاقة: أسعار النفط مستقرة رغم التوترات"


@pytest.mark.parametrize(
    "body",
    [
        (FEEDS / "billion-laughs.xml").read_bytes(),
        _quadratic_blowup(),
        _after_a_comment(),
        _utf16(FEEDS / "billion-laughs.xml", "utf-16"),  # with a BOM
        _utf16(FEEDS / "billion-laughs.xml", "utf-16-be"),  # no BOM: feedparser sniffs "<?xml"
    ],
    ids=["billion-laughs", "quadratic", "after-comment", "utf-16-bom", "utf-16-be"],
)
async def test_entity_declarations_are_refused(srv: FeedServer, client: httpx.AsyncClient, body: bytes) -> None:
    started = time.perf_counter()
    feed = await get(srv, client, "/feed.xml", body, headers={"Content-Type": "application/xml"})
    assert (feed.error, feed.items) == ("refused: XML entity declarations", ())
    assert time.perf_counter() - started < 1


async def test_a_doctype_without_entities_is_fine(srv: FeedServer, client: httpx.AsyncClient) -> None:
    doctype = b'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/rss.dtd">'
    body = RSS.replace(b"<rss ", doctype + b"\n<rss ", 1)
    feed = await get(srv, client, "/feed.xml", body, headers=RSS_TYPE)
    assert (feed.error, len(feed.items)) == (None, 3)


async def test_one_bad_feed_does_not_affect_the_others(srv: FeedServer, client: httpx.AsyncClient) -> None:
    """Fetch and parse good and bad feeds side by side with one client: each gets its own outcome."""
    srv.add("/good.xml", RSS, headers=RSS_TYPE)
    srv.add("/html.xml", (FEEDS / "page.html").read_bytes(), headers={"Content-Type": "text/html"})
    srv.add("/laughs.xml", (FEEDS / "billion-laughs.xml").read_bytes())
    srv.add("/empty.xml", b"")
    srv.add("/gone.xml", status=404)
    srv.add("/cp1256.xml", (FEEDS / "cp1256-undeclared.rss.xml").read_bytes(), headers={"Content-Type": "text/xml"})
    paths = ["/good.xml", "/html.xml", "/laughs.xml", "/empty.xml", "/gone.xml", "/cp1256.xml"]

    async def outcome(path: str) -> tuple[str | None, int]:
        result = await fetch(client, srv.url(path))
        if result.error:
            return result.error, 0
        feed = await asyncio.to_thread(parse_feed, result.body, result.headers, result.url)
        return feed.error, len(feed.items)

    outcomes = dict(zip(paths, await asyncio.gather(*map(outcome, paths)), strict=True))
    assert outcomes == {
        "/good.xml": (None, 3),
        "/html.xml": ("not a feed (HTML page)", 0),
        "/laughs.xml": ("refused: XML entity declarations", 0),
        "/empty.xml": ("empty body", 0),
        "/gone.xml": ("HTTP 404 (not found)", 0),
        "/cp1256.xml": (None, 2),
    }


EVAL_COUNTS = {"aawsat": 129, "alriyadh": 72, "alyaum": 68, "alwatan": 64, "aleqtisadiya": 63, "okaz": 59}


@pytest.fixture
def eval_feeds(eval_path: Path) -> Path:
    feeds = eval_path / "feeds"
    if not feeds.is_dir():
        pytest.skip(f"no evaluation feeds at {feeds}")
    return feeds


async def test_real_feeds(srv: FeedServer, client: httpx.AsyncClient, eval_feeds: Path) -> None:
    """Every eval feed, served and fetched over loopback: item counts, Arabic titles, content, UTC dates."""
    paths = srv.serve_dir(eval_feeds, prefix="/feeds")
    assert len(paths) >= 12
    for path in paths:
        name = path.rsplit("/", 1)[1]
        result = await fetch(client, srv.url(path))
        feed = parse_feed(result.body, result.headers, result.url)
        assert (feed.error, feed.warning) == (None, None), name
        assert len(feed.items) == EVAL_COUNTS[name.split(".", 1)[0]], name
        assert feed.title and ARABIC_LETTER.search(feed.title), name
        for item in feed.items:
            assert ARABIC_LETTER.search(item.title) and not MOJIBAKE.search(item.title), (name, item.title)
            assert item.url and item.url.startswith("http"), name
            assert item.summary and "<" not in item.summary, name
            assert item.published is not None and item.published.tzinfo == UTC, name
            assert datetime(2015, 7, 1, tzinfo=UTC) < item.published < datetime(2015, 9, 1, tzinfo=UTC), name
        with_content = sum(bool(item.content) for item in feed.items)
        if name.endswith(".lead.rss.xml"):
            assert with_content == 0, name
        else:  # full RSS (content:encoded) and Atom (<content>)
            assert with_content == len(feed.items), name
            assert all(len(item.content) >= len(item.summary) * 0.9 for item in feed.items), name

    aawsat = parse_feed((eval_feeds / "aawsat.rss.xml").read_bytes(), {}, "http://aawsat.com/feed.xml")
    first = aawsat.items[0]
    assert first.title == "الجبير: الأسد فقد شرعيته بعدما قتل 300 ألف سوري.. ولا مكان له بمستقبل سوريا"
    assert first.published == datetime(2015, 8, 11, 15, 47, 38, tzinfo=UTC)


def test_feedparser_cp1252_clean_up_maps_every_code_point_as_before():
    every = "".join(map(chr, range(0x110000))).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert isinstance(feedparser.mixin._cp1252, list)  # news.parse installed its faster table
    assert every.translate(feedparser.mixin._cp1252) == every.translate(feedparser.html._cp1252)
    assert "\x93نص\x94".translate(feedparser.mixin._cp1252) == "\u201cنص\u201d"


_ATOM_CONSTRUCTS = """<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
<title type="text">خلاصة</title><entry xml:base="http://a.example/x/"><title type="html">&lt;b&gt;عنوان&lt;/b&gt;</title>
<id>urn:x:1</id><link href="/1"/><updated>2026-11-29T10:00:00Z</updated><summary type="text">موجز</summary>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>نص <a href="/y">رابط</a></p></div></content>
<content type="text">ثان</content><source><title>مصدر</title></source></entry></feed>""".encode()


def test_feedparser_gives_the_same_result_with_its_cheaper_copy_of_content_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """news.parse gives feedparser.mixin a stand-in for `copy` (deep copies of scalar-only parameter dicts made
    as plain copies): every field of feedparser's result is the same, of the same type, as with copy.deepcopy."""
    assert feedparser.mixin.copy is not copy  # news.parse installed it
    bodies = [path.read_bytes() for path in sorted(FEEDS.glob("*.xml"))] + [_ATOM_CONSTRUCTS]
    fast = [feedparser.parse(io.BytesIO(body)) for body in bodies]
    monkeypatch.setattr(feedparser.mixin, "copy", copy)
    slow = [feedparser.parse(io.BytesIO(body)) for body in bodies]
    assert fast[-1].entries[0].content[0].type == "application/xhtml+xml"  # parameters were copied
    for a, b in zip(fast, slow, strict=True):
        for result in (a, b):
            result.pop("bozo_exception", None)  # (exceptions compare by identity)
        assert _same(a, b)


def _same(a: object, b: object) -> bool:
    """Equal, and of the same types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)  # type: ignore[attr-defined]
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(map(_same, a, b))  # type: ignore[arg-type]
    return a == b


def test_the_cheaper_copy_deep_copies_anything_else() -> None:
    nested = feedparser.util.FeedParserDict(type="text/html", links=[{"href": "x"}])
    duplicate = feedparser.mixin.copy.deepcopy(nested)
    assert duplicate == nested and duplicate["links"] is not nested["links"]
