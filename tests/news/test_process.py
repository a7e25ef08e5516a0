"""news.process: feed items become clean, keyed, dated, summarised and topic-tagged articles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from news.models import FeedItem
from news.parse import parse_feed
from news.process import best_text, build_article, item_key, published_at, without_headline
from tests.feedgen import SEED, WEATHER, seed_article

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# Okaz's feed items open with its share bar, glued to the first sentence.
OKAZ_SHARE = "شارك من خلال تويتر فيسبوك جوجل بلس اكتب رأيك"


def item(**fields: object) -> FeedItem:
    values: dict[str, object] = {
        "guid": None,
        "url": None,
        "title": WEATHER[0],
        "summary": "",
        "content": WEATHER[1],
        "published": None,
    }
    values.update(fields)
    return FeedItem(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"guid": "  tag:news.example,2026:1 ", "url": "https://news.example/1"}, "tag:news.example,2026:1"),
        ({"guid": " ", "url": "HTTPS://News.Example/a?utm_source=rss&id=3#comments"}, "https://news.example/a?id=3"),
        ({"guid": "x" * 600}, "x" * 512),
    ],
    ids=["guid", "canonical-url", "long-guid"],
)
def test_item_key(fields: dict[str, object], key: str) -> None:
    assert item_key(item(**fields)) == key


def test_item_key_without_guid_or_url_is_a_content_hash() -> None:
    key = item_key(item())
    assert key.startswith("sha256:") and key == item_key(item())
    assert key != item_key(item(title="عنوان آخر"))


def test_published_time_is_utc_and_never_in_the_future() -> None:
    past = NOW - timedelta(hours=3)
    assert published_at(item(published=past), NOW) == past
    assert published_at(item(published=NOW + timedelta(hours=2)), NOW) == NOW
    assert published_at(item(published=None), NOW) == NOW


def test_best_text_prefers_the_page_then_the_content_then_the_summary() -> None:
    assert best_text(item(summary="ملخص", content="محتوى"), "نص الصفحة") == "نص الصفحة"
    assert best_text(item(summary="ملخص", content="محتوى"), "  ") == "محتوى"
    assert best_text(item(summary="ملخص", content=""), None) == "ملخص"


def test_build_article_from_the_seed_article() -> None:
    title, body = seed_article()
    article = build_article(
        item(guid="seed", url="https://middleeast.example/?p=1&utm_campaign=x#respond", title=title, content=body),
        fetched_at=NOW,
    )
    assert article is not None
    assert (article.key, article.url, article.published) == ("seed", "https://middleeast.example/?p=1", NOW)
    assert article.title == title
    for boilerplate in ("تابع ميدل ايست نيوز", "مقالات ذات صلة", "اترك تعليقاً", "ستة عشر + 9", "زر الذهاب"):
        assert boilerplate not in article.text
    assert article.text.count("أهمية مواصلة عملية التفاعل الإقليمي البناء بين إيران وروسيا") == 1
    assert article.text.endswith("التابع لطهران." if SEED.exists() else "بانها متنامية.")  # the stand-in is shorter
    assert " ".join(article.digest.split()[:10]) in article.text  # the digest is made of the text's sentences
    assert {"iran", "russia", "iran+russia"} <= article.topic_keys


def test_the_same_text_with_other_spacing_or_tatweel_has_the_same_hash() -> None:
    body = WEATHER[1]
    first = build_article(item(content=body), fetched_at=NOW)
    second = build_article(item(content=body.replace("الأودية", "الأوديـــة").replace(" ", "  ")), fetched_at=NOW)
    assert first is not None and second is not None
    assert first.content_hash == second.content_hash


def test_okaz_share_prefix_is_removed() -> None:
    lead = "أعلنت أمانة محافظة جدة اليوم بدء أعمال صيانة الطرق الرئيسية في أحياء شمال المحافظة."
    article = build_article(
        item(content=f"{OKAZ_SHARE} {lead}\n\nوأوضحت الأمانة أن الأعمال تستمر شهرين."), fetched_at=NOW
    )
    assert article is not None
    assert article.text == f"{lead}\n\nوأوضحت الأمانة أن الأعمال تستمر شهرين."
    assert article.digest.startswith("أعلنت أمانة محافظة جدة")


def test_okaz_eval_items_lose_their_share_prefix(eval_path: Path) -> None:
    feeds = [eval_path / "feeds" / name for name in ("okaz.rss.xml", "okaz.lead.rss.xml")]
    if not all(path.exists() for path in feeds):
        pytest.skip("the Okaz eval feeds are not in shared/eval/feeds")
    prefixed = 0
    for path in feeds:
        for feed_item in parse_feed(path.read_bytes(), {}, str(path)).items:
            prefixed += best_text(feed_item).startswith("شارك من خلال")
            article = build_article(feed_item, fetched_at=NOW)
            assert article is not None
            assert "شارك من خلال" not in article.text and "جوجل بلس" not in article.text
            assert "شارك من خلال" not in article.digest
    assert prefixed >= 2  # the prefix really is in the raw items


def test_a_repeated_headline_paragraph_is_dropped() -> None:
    assert without_headline("عنوان الخبر\n\nنص الخبر.", "عنوانُ الخبر") == "نص الخبر."
    assert without_headline("عنوان الخبر", "عنوان الخبر") == "عنوان الخبر"  # never leaves nothing
    assert without_headline("فقرة أولى\n\nنص.", "عنوان الخبر") == "فقرة أولى\n\nنص."


def test_items_with_neither_title_nor_text_are_skipped_and_a_missing_title_is_taken_from_the_text() -> None:
    assert build_article(item(title=" ", content="", summary=""), fetched_at=NOW) is None
    untitled = build_article(item(title="", content=WEATHER[1]), fetched_at=NOW)
    assert untitled is not None and untitled.title == " ".join(WEATHER[1].split()[:12])
