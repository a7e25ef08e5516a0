"""Feed bytes + HTTP headers → `ParsedFeed` of plain-text `FeedItem`s (pure; feedparser on bytes, never a URL).

Like Miniflux's `reader/parser`, this stage never raises on a bad document: what can be read comes out, and
when nothing can, `ParsedFeed.error` says why in a few words. Three things happen before feedparser sees
the bytes: documents declaring XML entities are refused (feedparser's loose parser expands them without
limit), labels that contradict the bytes are corrected (an Arabic windows-1256 body served as UTF-8, a
UTF-8 body labelled windows-1256), and a mostly-UTF-8 body has its few bad bytes replaced instead of
being decoded whole as windows-1252.

feedparser re-resolves its base URI at every start tag when it is given one, so it is given none: the
entries' links and ids are resolved afterwards, with feedparser's own join, exactly as it would have
resolved them (documents where that cannot be told from the entries, e.g. with xml:base, are parsed with
the base as before). Two of feedparser.mixin's module globals are replaced by faster equivalents on import
(its cp1252 table and its `copy`); tests check each gives the same results.
"""

from __future__ import annotations

import codecs
import copy
import functools
import io
import logging
import re
import xml.sax
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import feedparser
import feedparser.mixin
from feedparser.encodings import convert_to_utf8
from feedparser.urls import _urljoin, make_safe_absolute_uri  # feedparser's own joins, so links come out the same
from feedparser.util import FeedParserDict

from news.extract import html_to_text
from news.models import FeedItem, ParsedFeed

log = logging.getLogger(__name__)


def _fast_cp1252_table(mapping: dict[int, str], size: int = 0x2070) -> list[int | str]:
    """feedparser's cp1252 clean-up mapping as a list indexed by code point, identity where it maps nothing.

    feedparser runs `text.translate(_cp1252)` on every element's text. With a dict, str.translate raises and
    clears a KeyError for every non-ASCII character that is not in it (every Arabic letter); a list answers
    directly up to `size` (ASCII, Latin, Arabic, general punctuation), and beyond it the IndexError means
    "unchanged" just as the KeyError did. Same output for every code point; parse_feed ~14 % less CPU.
    """
    table: list[int | str] = list(range(size))
    for code, replacement in mapping.items():
        table[code] = replacement
    return table


if isinstance(getattr(feedparser.mixin, "_cp1252", None), dict):
    feedparser.mixin._cp1252 = _fast_cp1252_table(feedparser.mixin._cp1252)  # type: ignore[attr-defined]

_SCALARS = (str, int, bool, type(None))


class _ContentParamsCopy:
    """Stands in for the `copy` module inside feedparser.mixin, which uses it only to deep-copy the parameters of a
    text construct (type, language, base: scalars) three times per entry: a copy of a FeedParserDict holding only
    scalars is a deep copy, at a fraction of copy.deepcopy's cost (parse_feed ~5 % less CPU). Anything else goes
    to copy.deepcopy itself."""

    @staticmethod
    def deepcopy(value: Any) -> Any:
        if type(value) is FeedParserDict and not value.__dict__ and all(type(v) in _SCALARS for v in value.values()):
            duplicate = FeedParserDict()
            dict.update(duplicate, value)  # (as deepcopy fills it: no key of these is one FeedParserDict renames)
            return duplicate
        return copy.deepcopy(value)


if getattr(feedparser.mixin, "copy", None) is copy:
    feedparser.mixin.copy = _ContentParamsCopy  # type: ignore[attr-defined]

_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_HTML_START = re.compile(
    rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE | re.DOTALL
)
_ITEM_OPEN = re.compile(rb"<(?:item|entry)[\s>]")
_ITEM_CLOSE = re.compile(rb"</(?:item|entry)\s*>")
_SPACE = re.compile(r"\s+")
_LOOKS_HTML = re.compile(r"</?[a-zA-Z][^<>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_ARABIC = re.compile("[\u0600-\u06ff]")
# Attributes that move feedparser's base inside a document (xml:base, base) or give an entry an id it does not
# resolve (rdf:about), searched in the lower-cased bytes of an ASCII-compatible document.
_BASE_ATTRIBUTE = re.compile(rb"base\s*=")  # (regular expressions that start with a literal search fast)
_ABOUT_ATTRIBUTE = re.compile(rb"about\s*=")
_PERMALINK_TRUE = re.compile(rb"""ispermalink\s*=\s*["']true["']""")
_RELATIVE_GUID = re.compile(rb"<guid\b[^>]*>\s*(?:<!\[cdata\[)?\s*[^<:\s]*[<\]\s]")  # no ":" in its text
# A link whose "&" (feedparser unescapes "&amp;" and "&name;" in it after resolving) is all in its query or
# fragment, without spaces or controls: resolving commutes with that unescaping, so it can be resolved last.
_AMPERSAND_AFTER_PATH = re.compile(r"[^&?#\s\x00-\x1f\x7f]*[?#][^\s\x00-\x1f\x7f]*")
_EBCDIC_XML = b"\x4c\x6f\xa7\x94"  # "<?xm" in cp037
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_UNICODE = frozenset({"utf-8", "ascii", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"})
_ARABIC_RATIO = 0.6  # share of non-ASCII characters that must be Arabic to read an unlabelled body as cp1256
_REPAIRABLE_UTF8 = 20  # a body with at least this many good non-ASCII chars per bad byte is UTF-8 with damage


def parse_feed(body: bytes, headers: dict[str, str], url: str) -> ParsedFeed:
    """Parse a feed document; `error` is set only when no item came out of it."""
    headers = {name.lower(): value for name, value in headers.items()}
    if not body.strip():
        return ParsedFeed(title=None, items=(), error="empty body")
    fixed_body, fixed_headers, warning = fix_charset(body, headers)
    fixed_headers.setdefault("content-location", url)
    try:
        if _declares_entities(fixed_body, fixed_headers):
            return ParsedFeed(title=None, items=(), error="refused: XML entity declarations")
        result = _feedparser_parse(fixed_body, fixed_headers)
    except Exception:  # feedparser's "never raises" has holes (e.g. non-UTF-8 bytes in encoding="…")
        log.warning("feedparser failed on %s", url, exc_info=True)
        return ParsedFeed(title=None, items=(), error="malformed XML")

    entries = list(result.entries)
    if result.bozo and entries and _ends_inside_item(body, len(entries)):
        entries.pop()  # feedparser's loose parser hands back the item cut off by the truncation
        warning = "truncated document (incomplete last item dropped)"
    items = [item for item in map(_item, entries) if item.title or item.url or item.summary or item.content]
    malformed = isinstance(result.get("bozo_exception"), xml.sax.SAXException)
    if malformed and items:
        warning = warning or "malformed XML (items recovered)"
    title = _SPACE.sub(" ", _plain(result.feed.get("title", ""), result.feed.get("title_detail"))).strip() or None
    if items or (result.get("version") and not malformed):  # a well-formed feed may have no items right now
        return ParsedFeed(title=title, items=tuple(items), warning=warning)
    return ParsedFeed(title=title, items=(), error=_why_not_a_feed(body, headers, malformed))


def _feedparser_parse(body: bytes, headers: dict[str, str]) -> Any:
    """feedparser's result for a document, entry links and ids resolved against `headers["content-location"]`.

    feedparser is given no base when the entries alone tell how it would have resolved their links and ids
    (see the module docstring); they are then resolved here.
    """
    base = _document_base(headers["content-location"])
    lowered = body.lower() if base and _ascii_compatible(body, headers) else b""
    moved = _BASE_ATTRIBUTE.search(lowered) or _ABOUT_ATTRIBUTE.search(lowered)
    ids_resolved = _all_permalinks(body, lowered)
    # (otherwise a relative-looking guid would most likely be found ambiguous only after parsing)
    if lowered and not moved and (ids_resolved or not _RELATIVE_GUID.search(lowered)):
        result = _feedparser(body, {**headers, "content-location": ""})
        # the loose parser decodes entities after joining: its entries' values cannot be joined afterwards
        loose = not result.get("encoding") or isinstance(result.get("bozo_exception"), xml.sax.SAXException)
        if loose and not result.entries:  # (nothing to join: a page that is no feed is not parsed twice)
            return result
        if not loose and _ascii_superset(result.get("encoding")) and _resolve_links(result.entries, base, ids_resolved):
            return result
    return _feedparser(body, headers)


def _all_permalinks(body: bytes, lowered: bytes) -> bool:
    """Whether every isPermaLink attribute says "true", exactly as feedparser wants it for resolving guids."""
    said_true = list(_PERMALINK_TRUE.finditer(lowered))
    return len(said_true) == lowered.count(b"ispermalink") and all(
        body[match.end() - 5 : match.end() - 1] == b"true" for match in said_true
    )


def _feedparser(body: bytes, headers: dict[str, str]) -> Any:
    return feedparser.parse(
        io.BytesIO(body),
        response_headers=headers,
        resolve_relative_uris=False,
        sanitize_html=False,  # html_to_text keeps only text (no script, style or markup)
    )


def _document_base(location: str) -> str | None:
    """The base feedparser resolves against inside a document without xml:base, if plain enough to do it later.

    feedparser joins its base with itself at every start tag: the base is that join once it is stable. None
    when it is not, or not ASCII without "&" (feedparser's clean-ups after joining would then touch it).
    """
    if not location:
        return ""
    base = make_safe_absolute_uri(location, location) or location
    stable = (make_safe_absolute_uri(base, base) or base) == base
    return base if stable and base.isascii() and "&" not in base else None


def _resolve_links(entries: list[Any], base: str, ids_resolved: bool) -> bool:
    """Resolve the entries' links and ids (parsed without a base) as feedparser would have against `base`.

    False, leaving the entries half done, when that cannot be told from them: an empty link (an empty href
    becomes the base, an empty <link> stays empty), an id that resolving would change while some ids in the
    document are not resolved, or a value `_joins_later` refuses.
    """
    joined: dict[str, str] = {}
    for entry in entries:
        link, guid = entry.get("link"), entry.get("id")
        if link is not None:
            resolved = joined[link] if link in joined else joined.setdefault(link, _urljoin(base, link))
            if not link or not _joins_later(link, resolved, unescaped=True):
                return False
            entry["link"] = resolved
        if guid:
            resolved = joined[guid] if guid in joined else joined.setdefault(guid, _urljoin(base, guid))
            if (resolved != guid and not ids_resolved) or not _joins_later(guid, resolved, unescaped=False):
                return False
            entry["id"] = resolved
    return True


def _joins_later(value: str, joined: str, unescaped: bool) -> bool:
    """Whether joining a value feedparser left unjoined gives what joining it first would have given.

    feedparser joins before its last clean-ups: UTF-8 read as Latin-1 is repaired, cp1252 controls are
    mapped and, in links (`unescaped`), "&amp;" and "&name;" become "&" and "&name". ASCII values are left
    alone by the first two, and the third commutes with joining when every "&" is in the query or fragment
    of a value without spaces or controls. A non-ASCII value must be an absolute URL without "&" that
    joining leaves alone (the clean-ups change no ASCII character, so feedparser's join left it alone too).
    """
    if value.isascii():
        return not unescaped or "&" not in value or bool(_AMPERSAND_AFTER_PATH.fullmatch(value))
    if joined != value or "&" in value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return bool(parts.scheme and parts.netloc)


def _ascii_superset(encoding: str | None) -> bool:
    """Whether a charset encodes ASCII as itself and nothing else as ASCII bytes (so byte searches are exact)."""
    name = _codec_name(encoding or "") or ""
    return name in ("utf-8", "ascii", "latin-1") or name.startswith(("iso8859-", "cp125"))


def fix_charset(body: bytes, headers: dict[str, str]) -> tuple[bytes, dict[str, str], str | None]:
    """Correct the charset label (and repair stray bad bytes) so feedparser decodes the body as what it is.

    Returns the body, headers (lower-case names) whose Content-Type carries the charset to use, and a note
    when bytes were replaced. Unicode bodies with a BOM or NUL bytes are left to feedparser.
    """
    headers = dict(headers)
    if body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in body[:4]:
        return body, headers, None
    declared = [cs for cs in (_header_charset(headers), _xml_charset(body)) if cs]
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:  # valid UTF-8: a legacy label on it is a lie (multi-byte UTF-8 runs almost never occur in legacy text)
        if not body.isascii() and any(cs != "utf-8" for cs in declared):
            headers["content-type"] = _with_charset(headers.get("content-type"), "utf-8")
        return body, headers, None

    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = len(_NON_ASCII.findall(text)) - bad
    if good >= _REPAIRABLE_UTF8 * bad:
        headers["content-type"] = _with_charset(headers.get("content-type"), "utf-8")
        return text.encode("utf-8"), headers, f"invalid UTF-8 bytes replaced ({bad})"
    for charset in declared:
        if charset not in _UNICODE and _decodes(body, charset):
            headers["content-type"] = _with_charset(headers.get("content-type"), charset)
            return body, headers, None
    if looks_like_cp1256_arabic(body):
        headers["content-type"] = _with_charset(headers.get("content-type"), "windows-1256")
    return body, headers, None


def looks_like_cp1256_arabic(body: bytes) -> bool:
    """Whether non-UTF-8 bytes read as windows-1256 give mostly Arabic letters."""
    text = body.decode("cp1256", errors="replace")
    arabic = len(_ARABIC.findall(text))
    return arabic >= 3 and arabic >= _ARABIC_RATIO * len(_NON_ASCII.findall(text))


def _declares_entities(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the document declares XML entities anywhere, searched in the text feedparser will parse.

    `headers` must be the ones feedparser gets: they decide how it decodes a UTF-16/32 or EBCDIC body.
    """
    if _ENTITY_DECLARATION.search(body):
        return True
    if _ascii_compatible(body, headers):
        return False  # the byte search above was exact
    converted = convert_to_utf8(headers, body, {})  # UTF-16/32 or EBCDIC: look where feedparser will look
    return bool(_ENTITY_DECLARATION.search(converted))


def _ascii_compatible(body: bytes, headers: dict[str, str]) -> bool:
    """Whether ASCII characters are single ASCII bytes in this document, so a byte search finds its markup."""
    if body[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) or b"\x00" in body[:4] or body[:4] == _EBCDIC_XML:
        return False
    charset = _header_charset(headers)
    try:
        return charset is None or "<!ENTITY".encode(charset) == b"<!ENTITY"
    except (UnicodeError, LookupError):
        return False


def _item(entry: Any) -> FeedItem:
    """A FeedItem from one feedparser entry, all text fields plain.

    Keys are read with dict.get: none of them is one FeedParserDict's own get renames, and its get is a Python
    method with a chain of special cases ("updated_parsed" alone falls back, to "published_parsed", read first).
    """
    get = functools.partial(dict.get, entry)
    contents = [c for c in get("content", []) if dict.get(c, "value")]
    content = max(contents, key=lambda c: len(c["value"]), default=None)
    return FeedItem(
        guid=(get("id") or "").strip() or None,
        url=(get("link") or "").strip() or None,
        title=_SPACE.sub(" ", _plain(get("title", ""), get("title_detail"))).strip(),
        summary=_plain(get("summary", ""), get("summary_detail")),
        content=_plain(content["value"], content) if content else "",
        published=_utc(get("published_parsed") or get("updated_parsed")),
        author=_SPACE.sub(" ", get("author") or "").strip() or None,
    )


def _plain(value: str, detail: Any) -> str:
    """Plain text of a feed text construct: HTML types go through html_to_text, plain text is trimmed."""
    if not value:
        return ""
    kind = dict.get(detail, "type", "text/html") if detail else "text/html"
    if kind in _HTML_TYPES or _LOOKS_HTML.search(value):  # publishers put escaped markup in "plain" titles too
        return html_to_text(value)
    return value.strip()


def _utc(parsed: Any) -> datetime | None:
    """An aware UTC datetime from feedparser's UTC struct_time."""
    if not parsed:
        return None
    try:
        return datetime(*parsed[:5], min(parsed[5], 59), tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _why_not_a_feed(body: bytes, headers: dict[str, str], malformed: bool) -> str:
    """The short reason a document with no items is unusable."""
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    head = body.lstrip(codecs.BOM_UTF8)[:2048]
    if content_type in _HTML_TYPES or _HTML_START.match(head):
        return "not a feed (HTML page)"
    if malformed and head.lstrip()[:1] == b"<":
        return "malformed XML"
    return "not a feed"


def _ends_inside_item(body: bytes, entries: int) -> bool:
    """Whether the document stops inside its last item and feedparser returned that item as an entry."""
    opened = [m.start() for m in _ITEM_OPEN.finditer(body)]
    closed = [m.start() for m in _ITEM_CLOSE.finditer(body)]
    return len(opened) == entries and (not closed or opened[-1] > closed[-1])


def _header_charset(headers: dict[str, str]) -> str | None:
    for part in headers.get("content-type", "").split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return _codec_name(value.strip().strip("\"'"))
    return None


def _xml_charset(body: bytes) -> str | None:
    match = _XML_ENCODING.match(body.lstrip(codecs.BOM_UTF8)[:512])
    return _codec_name(match.group(1).decode("ascii")) if match else None


def _codec_name(label: str) -> str | None:
    """Python's canonical codec name for a charset label ("windows-1256" → "cp1256"), None if unknown."""
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _decodes(body: bytes, charset: str) -> bool:
    try:
        body.decode(charset)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _with_charset(content_type: str | None, charset: str) -> str:
    """A Content-Type value with its charset parameter set (application/xml when there was none)."""
    parts = [p.strip() for p in (content_type or "application/xml").split(";")]
    params = [p for p in parts[1:] if p and p.split("=", 1)[0].strip().lower() != "charset"]
    return "; ".join([parts[0] or "application/xml", *params, f"charset={charset}"])
