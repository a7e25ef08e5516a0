"""news.render: Telegram HTML that Telegram's own entity parsing accepts (checked with the fake server's parser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from news.models import Source, StoryView
from news.render import FSI, MAX_MESSAGE, PDI, isolate, render_digest, render_story, visible_length
from tests.support.botapi import parse_telegram_html, strip_parsed, utf16_len

WHEN = datetime(2015, 8, 6, 9, 30, tzinfo=UTC)
AAWSAT = Source("الشرق الأوسط", "https://aawsat.com/home/article/1?lang=ar&ref=rss")
ALRIYADH = Source("الرياض", "https://www.alriyadh.com/1070000")
REUTERS = Source("Reuters", "https://www.reuters.com/world/x?a=1&b='2'&c=\"3\"")


def story(
    title: str = "ماليزيا تؤكد أن الحطام يعود للطائرة المفقودة MH370",
    digest: str = "أكد رئيس الوزراء الماليزي أن قطعة الحطام تعود إلى طائرة Boeing 777 التي اختفت وعلى متنها 239 شخصا.",
    sources: tuple[Source, ...] = (AAWSAT, ALRIYADH),
    story_id: int = 1,
) -> StoryView:
    """A story as readers see it."""
    return StoryView(id=story_id, title=title, digest=digest, published_at=WHEN, sources=sources)


def parsed(message: str) -> tuple[str, list[dict[str, object]]]:
    """Plain text and entities as Telegram would make them (raises on HTML Telegram refuses)."""
    result = strip_parsed(parse_telegram_html(message))
    return result.text, result.entities


def links(message: str) -> dict[str, str]:
    """Linked text → URL of the text_link entities of a message."""
    text, entities = parsed(message)
    units = text.encode("utf-16-le")
    out = {}
    for entity in entities:
        if entity["type"] == "text_link":
            start, length = int(str(entity["offset"])), int(str(entity["length"]))
            out[units[2 * start : 2 * (start + length)].decode("utf-16-le")] = str(entity["url"])
    return out


def test_story_has_bold_headline_digest_sources_line_and_local_time() -> None:
    message = render_story(story(), tz="Asia/Riyadh")
    text, entities = parsed(message)
    lines = text.split("\n")
    assert lines[0] == f"ماليزيا تؤكد أن الحطام يعود للطائرة المفقودة {FSI}MH370{PDI}"
    assert entities[0] == {"type": "bold", "offset": 0, "length": utf16_len(lines[0])}
    assert lines[1].startswith("أكد رئيس الوزراء الماليزي")
    assert "📰 المصادر: الشرق الأوسط، الرياض" in text
    assert lines[-1] == f"🕒 {FSI}2015-08-06 12:30{PDI}"  # 09:30 UTC is 12:30 in Riyadh


def test_every_outlet_is_named_and_linked_with_its_exact_url() -> None:
    many = tuple(Source(f"صحيفة {n}", f"https://paper{n}.example/a?id={n}&x=1") for n in range(12))
    message = render_story(story(sources=(AAWSAT, REUTERS, *many, ALRIYADH)))
    found = links(message)
    assert found["الشرق الأوسط"] == AAWSAT.url
    assert found[f"{FSI}Reuters{PDI}"] == REUTERS.url  # the name is isolated, the URL is not
    assert found["الرياض"] == ALRIYADH.url
    for n, source in enumerate(many):
        assert found[f"صحيفة {FSI}{n}{PDI}"] == source.url
    for url in found.values():
        assert FSI not in url and PDI not in url


def test_english_labels_and_outlets_without_links_or_repeated() -> None:
    message = render_story(story(sources=(Source("Okaz", None), AAWSAT, Source("الشرق  الأوسط", None))), lang="en")
    text, _ = parsed(message)
    assert f"📰 Sources: {FSI}Okaz{PDI}, الشرق الأوسط\n" in text
    assert links(message) == {"الشرق الأوسط": AAWSAT.url}


def test_everything_a_source_wrote_is_escaped() -> None:
    nasty = story(
        title='<script>alert("x")</script> & <b>',
        digest="السعر < 5 & > 3 </b> &amp; <a href='x'>",
        sources=(Source("<i>Evil & Co</i>", 'https://e.example/"><b>x'),),
    )
    message = render_story(nasty)
    text, entities = parsed(message)  # the strict parser refuses a bare "&" and unknown tags
    assert '<script>alert("x")</script> & <b>' in text.replace(FSI, "").replace(PDI, "")
    assert "السعر < 5 & > 3 </b> &amp; <a href='x'>" in text.replace(FSI, "").replace(PDI, "")
    assert {e["type"] for e in entities} == {"bold", "text_link"}
    ((name, url),) = links(message).items()
    assert (name.replace(FSI, "").replace(PDI, ""), url) == ("<i>Evil & Co</i>", 'https://e.example/"><b>x')


@pytest.mark.parametrize(
    ("raw", "isolated"),
    [
        ("قال Vladimir Putin إن", f"قال {FSI}Vladimir Putin{PDI} إن"),
        ("بلغ 85.5 دولار في 2015", f"بلغ {FSI}85.5{PDI} دولار في {FSI}2015{PDI}"),
        ("انظر https://ex.example/a?b=1&c=2، ثم", f"انظر {FSI}https://ex.example/a?b=1&c=2{PDI}، ثم"),
        ("عنوان عربي فقط", "عنوان عربي فقط"),
        ("رقم ٣٥ بالأرقام العربية", "رقم ٣٥ بالأرقام العربية"),
    ],
)
def test_latin_names_numbers_and_urls_are_isolated(raw: str, isolated: str) -> None:
    assert isolate(raw) == isolated


def test_a_huge_story_is_trimmed_at_a_word_boundary_within_the_limit() -> None:
    digest = " ".join(["كلمة", "Word", "😀"] * 3000)  # astral emoji count as two UTF-16 units
    many = tuple(Source(f"Outlet number {n} " + "ا" * 60, f"https://o{n}.example/" + "p" * 200) for n in range(60))
    message = render_story(story(title="عنوان " * 500, digest=digest, sources=many))
    text, _ = parsed(message)
    assert utf16_len(text) <= MAX_MESSAGE
    assert visible_length(message) <= MAX_MESSAGE
    assert "… " in text and f"{FSI}+" in text  # outlets beyond the shown ones are counted
    assert "🕒" in text


def test_a_long_digest_is_cut_with_an_ellipsis_and_the_headline_kept() -> None:
    message = render_story(story(digest="جملة طويلة جدا " * 400), max_length=1000)
    text, _ = parsed(message)
    assert visible_length(message) <= 1000 and utf16_len(text) <= 1000
    assert text.startswith("ماليزيا تؤكد") and "…" in text and "📰 المصادر" in text


def test_digest_splits_between_stories_and_never_sends_the_header_alone() -> None:
    stories = [story(title=f"الخبر رقم {n}", digest="تفاصيل الخبر " * 60, story_id=n) for n in range(40)]
    messages = render_digest(stories, header="آخر الأخبار على مواضيعك")
    assert len(messages) > 1
    seen = []
    for k, message in enumerate(messages):
        text, entities = parsed(message)
        assert utf16_len(text) <= MAX_MESSAGE
        assert text.startswith("آخر الأخبار") == (k == 0)
        bold = [e for e in entities if e["type"] == "bold"]
        assert bold, "every message carries at least one whole story"
        seen += [line for line in text.split("\n") if line.startswith("الخبر رقم")]
        assert not text.endswith("— — —")
    assert seen == [f"الخبر رقم {FSI}{n}{PDI}" for n in range(40)]  # each story once, in order
    assert "جملة" not in "".join(messages) and all("…" not in m for m in messages)  # none was trimmed


def test_digest_of_one_huge_story_after_a_header_still_fits() -> None:
    messages = render_digest([story(digest="خبر " * 3000)], header="عنوان الرسالة")
    assert len(messages) == 1
    text, _ = parsed(messages[0])
    assert text.startswith("عنوان الرسالة") and utf16_len(text) <= MAX_MESSAGE
    assert render_digest([], header="لا شيء") == []


def test_only_web_links_become_links() -> None:
    """Telegram refuses a text link without a host ("URL host is empty") or of another protocol: the outlet is
    named without a link, so the push is not rejected."""
    sources = (
        Source("موقع أ", "javascript:alert(1)"),
        Source("موقع ب", "/news/2026/1"),
        Source("موقع ج", "mailto:desk@example.com"),
        Source("موقع هـ", "http://[::1/x"),
        Source("موقع د", "https://example.com/a"),
    )
    message = render_story(story(sources=sources))
    assert links(message) == {"موقع د": "https://example.com/a"}
    assert all(name in parsed(message)[0] for name in ("موقع أ", "موقع ب", "موقع ج", "موقع هـ"))
