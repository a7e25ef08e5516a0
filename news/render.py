"""Stories → Telegram HTML: escaped, right-to-left friendly, within Telegram's message limits (pure)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from news.models import StoryView

MAX_MESSAGE = 4096
FSI, PDI = "\u2068", "\u2069"  # first-strong isolate ... pop directional isolate
# A URL (printable ASCII up to a space, not ending in punctuation), or a run of Latin words and numbers.
_LTR_RUN = re.compile(
    r"(?:https?://|www\.)[!-~]*[A-Za-z0-9/#=&_%+~-]"
    r"|[A-Za-z0-9][A-Za-z0-9\s.,:;/%&@#'’+_\-()]*[A-Za-z0-9%)]|[A-Za-z0-9]"
)
_TAG = re.compile(r"<[^>]+>")
MAX_SOURCES_SHOWN = 20  # more outlets than this are counted ("… +3"), not listed
MAX_NAME = 80  # characters of an outlet's name

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
    return len(plain.encode("utf-16-le", "surrogatepass")) // 2


def _trim_words(text: str, limit: int) -> str:
    """Cut text at a word boundary to at most `limit` characters, marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)].rsplit(" ", 1)[0]
    return cut + "…"


def _link(name: str, url: str | None) -> str:
    """An outlet's name, linked to its article when there is a link (the href is never isolated)."""
    label = escape(isolate(name))
    if not url or not _web_url(url):
        return label
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def _web_url(url: str) -> bool:
    """Whether Telegram accepts a URL as a link: http(s) with a host (else it refuses the whole message)."""
    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False


def _outlets(story: StoryView) -> list[tuple[str, str | None]]:
    """The story's outlets, each named once (its first link kept)."""
    seen: dict[str, str | None] = {}
    for source in story.sources:
        name = _trim_words(" ".join(source.name.split()), MAX_NAME)
        if name and name not in seen:
            seen[name] = source.url
    return list(seen.items())


def local_time(moment: datetime, tz: str) -> str:
    """A story's time in the chat's zone, e.g. 2026-11-29 14:05."""
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def render_story(story: StoryView, *, lang: str = "ar", tz: str = "Asia/Riyadh", max_length: int = MAX_MESSAGE) -> str:
    """One story as Telegram HTML: bold headline, digest, every outlet linked, and local time.

    Within `max_length` UTF-16 units once Telegram has parsed the entities: a digest that is too long is
    cut at a word boundary ("…"), then the headline; a very long list of outlets ends in "… +N".
    """
    labels = LABELS["en" if lang.startswith("en") else "ar"]
    when = f"🕒 {FSI}{local_time(story.published_at, tz)}{PDI}"
    outlets = _outlets(story)
    shown = min(len(outlets), MAX_SOURCES_SHOWN)
    footer = _footer(outlets, shown, labels, when)
    while shown > 1 and visible_length(footer) > max_length // 2:
        shown -= 1
        footer = _footer(outlets, shown, labels, when)
    title = story.title.strip()
    digest = story.digest.strip() if story.digest.strip() != title else ""
    message = _compose(title, digest, footer)
    if visible_length(message) <= max_length:
        return message
    # Too long: trim the digest, then the headline, at word boundaries, until the message fits.
    budget = max_length - visible_length(_compose(title, "", footer)) - 2
    while digest and visible_length(message) > max_length:
        digest = _trim_words(digest, budget) if budget > 20 else ""
        message = _compose(title, digest, footer)
        budget -= max(visible_length(message) - max_length, 1)
    budget = max_length - visible_length(_compose("", "", footer)) - 2
    while title and visible_length(message) > max_length:
        title = _trim_words(title, budget) if budget > 10 else ""
        message = _compose(title, "", footer)
        budget -= max(visible_length(message) - max_length, 1)
    return message


def _footer(outlets: list[tuple[str, str | None]], shown: int, labels: dict[str, str], when: str) -> str:
    """The sources line (the first `shown` outlets, then "… +N") and the time line."""
    if not outlets:
        return when
    names = labels["sep"].join(_link(name, url) for name, url in outlets[:shown])
    if shown < len(outlets):
        names += f"{labels['sep']}{labels['more']} {FSI}+{len(outlets) - shown}{PDI}"
    return f"📰 {labels['sources']}: {names}\n{when}"


def _compose(title: str, digest: str, footer: str) -> str:
    """Headline (bold), digest and footer, escaped and isolated; the footer is already HTML."""
    parts = [f"<b>{escape(isolate(title))}</b>"] if title else []
    if digest:
        parts.append(escape(isolate(digest)))
    return "\n".join(parts) + "\n\n" + footer if parts else footer


def render_digest(
    stories: Sequence[StoryView],
    *,
    header: str = "",
    lang: str = "ar",
    tz: str = "Asia/Riyadh",
    max_length: int = MAX_MESSAGE,
) -> list[str]:
    """Several stories as as few messages as fit, split only between stories, each within Telegram's limit.

    The header opens the first message and is never sent on its own.
    """
    separator = "\n\n— — —\n\n"
    gap = visible_length(separator)
    messages: list[str] = []
    current = escape(header.strip())
    has_story = False
    for story in stories:
        room = max_length - (visible_length(current) + gap if current else 0)
        if has_story and room < max_length // 4:
            messages.append(current)  # a nearly full message: the story opens the next one whole
            current, has_story, room = "", False, max_length
        block = render_story(story, lang=lang, tz=tz, max_length=room)
        if has_story and visible_length(block) < visible_length(render_story(story, lang=lang, tz=tz)):
            messages.append(current)  # it would have to be trimmed here: start a new message instead
            current, has_story = "", False
            block = render_story(story, lang=lang, tz=tz, max_length=max_length)
        current = f"{current}{separator}{block}" if current else block
        has_story = True
    if has_story:
        messages.append(current)
    return messages
