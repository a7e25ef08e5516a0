"""Stories → Telegram HTML: escaped, right-to-left friendly, within Telegram's message limits (pure)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from news.models import StoryView

MAX_MESSAGE = 4096
FSI, PDI = "\u2068", "\u2069"  # first-strong isolate ... pop directional isolate
_LTR_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\s.,:;/%&@#'’+_\-()]*[A-Za-z0-9%)]|[A-Za-z0-9]")
_TAG = re.compile(r"<[^>]+>")

LABELS = {
    "ar": {"sources": "المصادر", "sep": "، ", "more": "…"},
    "en": {"sources": "Sources", "sep": ", ", "more": "…"},
}


def isolate(text: str) -> str:
    """Wrap Latin words, numbers and URLs in bidi isolates so they do not scramble an Arabic line."""
    return _LTR_RUN.sub(lambda m: f"{FSI}{m.group(0)}{PDI}", text)


def escape(text: str) -> str:
    """Telegram-HTML-escape text (only <, > and & are special)."""
    return html.escape(text, quote=False)


def visible_length(message: str) -> int:
    """The length Telegram counts: UTF-16 code units of the text once tags and entities are parsed."""
    plain = html.unescape(_TAG.sub("", message))
    return len(plain.encode("utf-16-le")) // 2


def _trim_words(text: str, limit: int) -> str:
    """Cut text at a word boundary to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)].rsplit(" ", 1)[0]
    return cut + "…"


def _link(name: str, url: str | None) -> str:
    label = escape(isolate(name))
    if not url:
        return label
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def local_time(moment: datetime, tz: str) -> str:
    """A story's time in the chat's zone, e.g. 2026-11-29 14:05."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def render_story(story: StoryView, *, lang: str = "ar", tz: str = "Asia/Riyadh", max_length: int = MAX_MESSAGE) -> str:
    """One story as Telegram HTML: bold headline, digest, linked sources and local time."""
    labels = LABELS["en" if lang.startswith("en") else "ar"]
    sources = labels["sep"].join(_link(source.name, source.url) for source in story.sources[:8])
    footer = f"📰 {labels['sources']}: {sources}\n🕒 {FSI}{local_time(story.published_at, tz)}{PDI}" if sources else (
        f"🕒 {FSI}{local_time(story.published_at, tz)}{PDI}"
    )
    title = story.title
    digest = story.digest if story.digest.strip() != story.title.strip() else ""
    message = _compose(title, digest, footer)
    if visible_length(message) <= max_length:
        return message
    # Too long (very long digest or headline): trim the digest, then the headline, at word boundaries.
    budget = max_length - visible_length(_compose(title, "", footer)) - 2
    digest = _trim_words(digest, max(budget, 0)) if budget > 20 else ""
    message = _compose(title, digest, footer)
    if visible_length(message) > max_length:
        title = _trim_words(title, max(max_length - visible_length(_compose("", "", footer)) - 8, 10))
        message = _compose(title, "", footer)
    return message


def _compose(title: str, digest: str, footer: str) -> str:
    parts = [f"<b>{escape(isolate(title))}</b>"] if title else []
    if digest:
        parts.append(escape(isolate(digest)))
    parts.append(footer)
    return "\n".join(parts[:-1]) + "\n\n" + parts[-1] if len(parts) > 1 else parts[0]


def render_digest(
    stories: Sequence[StoryView],
    *,
    header: str = "",
    lang: str = "ar",
    tz: str = "Asia/Riyadh",
    max_length: int = MAX_MESSAGE,
) -> list[str]:
    """Several stories as as few messages as fit, split only between stories, each within Telegram's limit."""
    separator = "\n\n— — —\n\n"
    messages: list[str] = []
    current = escape(header) if header else ""
    for story in stories:
        block = render_story(story, lang=lang, tz=tz, max_length=max_length - visible_length(separator) - 1)
        candidate = f"{current}{separator if current else ''}{block}"
        if visible_length(candidate) <= max_length:
            current = candidate
            continue
        if current:
            messages.append(current)
        current = block
    if current:
        messages.append(current)
    return messages
