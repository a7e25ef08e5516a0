"""Article pages → main text with trafilatura, and the test for feed items that carry only a teaser (pure).

I/O stays in `news.fetch`; this module gets the page bytes (like trafilatura's `core.extract` apart from its
`downloads.py`). Page bytes are decoded here because trafilatura ignores `<meta charset>` and guesses.
"""

from __future__ import annotations

import codecs
import logging
import re

import trafilatura

from news.models import FeedItem
from news.normalize import normalize_arabic
from news.parse import looks_like_cp1256_arabic

log = logging.getLogger(__name__)

TEASER_WORDS = 80  # a summary shorter than this, with no content, is a teaser
MIN_ARTICLE_WORDS = 30  # less than this is a stub, a paywall notice or navigation, not an article
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._-]+)""", re.IGNORECASE)
_CUT_OFF = re.compile(r"(\.{3,}|…)$")
_TRAILING_PUNCTUATION = re.compile(r"[\s\]\[)(»«<>:|.،,؛!؟?\-–—→←›‹]+$")
# Folded with normalize_arabic, so hamza and alef variants ("إقرأ", "اقرأ") compare equal.
_READ_MORE = tuple(
    normalize_arabic(marker) for marker in ("اقرأ المزيد", "اقرأ أكثر", "للمزيد", "read more", "continue reading")
)


def extract_article(html: bytes | str, url: str | None = None, *, content_type: str | None = None) -> str | None:
    """Main text of an article page (paragraphs separated by blank lines), or None when there is none.

    `content_type` is the page's Content-Type header, whose charset is honoured for bytes.
    """
    page = html if isinstance(html, str) else _decode(html, content_type)
    if not page.strip():
        return None
    try:
        text = trafilatura.extract(
            page,
            url=url,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            output_format="txt",
        )
    except Exception:  # trafilatura/lxml failures on hostile markup must not stop a feed refresh
        log.warning("extraction failed for %s", url, exc_info=True)
        return None
    if not text:
        return None
    paragraphs = [" ".join(line.split()) for line in text.splitlines()]
    if sum(len(p.split()) for p in paragraphs) < MIN_ARTICLE_WORDS:
        return None
    return "\n\n".join(p for p in paragraphs if p)


def is_teaser(item: FeedItem) -> bool:
    """Whether a feed item carries only a teaser, so its page is worth fetching.

    With no content: a summary under TEASER_WORDS words, or one cut off ("...", "…", "[…]", "اقرأ المزيد",
    "read more"). With content: only short content that is cut off (Arabic prose often ends in "..").
    """
    if item.content.strip():
        return _shorter_than(item.content, TEASER_WORDS) and _is_cut_off(item.content)
    return _shorter_than(item.summary, TEASER_WORDS) or _is_cut_off(item.summary)


def _shorter_than(text: str, words: int) -> bool:
    """Whether a text has fewer than `words` words (splitting no further than needed to tell)."""
    return len(text.split(None, words)) < words


def _is_cut_off(text: str) -> bool:
    """Whether a text ends in an ellipsis or a "read more" link."""
    if _CUT_OFF.search(text.rstrip().rstrip("»)]").rstrip()):
        return True
    tail = normalize_arabic(_TRAILING_PUNCTUATION.sub("", text[-80:]))
    return tail.endswith(_READ_MORE)


def _decode(page: bytes, content_type: str | None) -> str:
    """Page bytes as text: BOM, valid UTF-8, then the header or <meta> charset, then Arabic windows-1256."""
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if page.startswith(bom):
            return page.decode(codec, errors="replace")
    try:
        return page.decode("utf-8")
    except UnicodeDecodeError:
        pass
    labels = []
    if content_type and "charset=" in content_type.lower():
        labels.append(content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'"))
    if match := _META_CHARSET.search(page[:4096]):
        labels.append(match.group(1).decode("ascii"))
    for label in labels:
        try:
            return page.decode(label)
        except (LookupError, UnicodeDecodeError):
            continue
    if looks_like_cp1256_arabic(page):
        return page.decode("cp1256")
    return page.decode("utf-8", errors="replace")
