"""Arabic text normalisation for matching, URL canonicalisation and content hashes (pure).

Normalised text is for comparing and indexing only; it is never shown to users.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Harakat, Quranic annotation marks, superscript alef, and tatweel.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_CHAR_PAIRS = (
    ("أ", "ا"), ("إ", "ا"), ("آ", "ا"), ("ٱ", "ا"), ("ى", "ي"), ("ة", "ه"), ("ؤ", "و"), ("ئ", "ي"), ("ک", "ك"),
    ("ی", "ي"),
    *((chr(0x0660 + d), str(d)) for d in range(10)),  # Arabic-Indic digits
    *((chr(0x06F0 + d), str(d)) for d in range(10)),  # Persian digits
)  # fmt: skip
_WORD = re.compile(r"\w+")


def normalize_arabic(text: str) -> str:
    """Fold an Arabic text for matching: NFKC, no diacritics/tatweel, one alef/yeh/heh form, ASCII digits, lower."""
    text = unicodedata.normalize("NFKC", text)
    return " ".join(fold_letters(text).lower().split())  # split() and re's \s agree on what is a space


def fold_letters(text: str) -> str:
    """Fold Arabic letters only (no diacritics/tatweel, one alef/yeh/heh form, ASCII digits); all else is kept."""
    text = _DIACRITICS.sub("", text)
    for old, new in _CHAR_PAIRS:  # str.replace per letter is far faster than str.translate with a dict
        if old in text:
            text = text.replace(old, new)
    return text


def words(text: str) -> list[str]:
    """Normalised word tokens of a text (no stemming, no stop-word removal)."""
    # normalize_arabic without collapsing spaces, which are not word characters
    return _WORD.findall(fold_letters(unicodedata.normalize("NFKC", text)).lower())


_TRACKING_PARAMS = re.compile(
    r"^(utm_\w+|fbclid|gclid|dclid|msclkid|mc_cid|mc_eid|igshid|yclid|_ga|ref|ref_src|cmpid|ocid|at_\w+)$",
    re.IGNORECASE,
)


def canonical_url(url: str) -> str:
    """A canonical form of an article URL: lower-case scheme/host, no fragment, no tracking parameters."""
    url = url.strip()
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not host:
        return url
    netloc = host
    if parts.port and not ((scheme == "http" and parts.port == 80) or (scheme == "https" and parts.port == 443)):
        netloc = f"{host}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING_PARAMS.match(k)]
    )
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


def content_hash(text: str) -> str:
    """A stable hash of a text's normalised words (same words, same hash, whatever the spacing or diacritics)."""
    return words_hash(words(text))


def words_hash(text_words: list[str]) -> str:
    """`content_hash` of a text whose `words` are already known."""
    return hashlib.sha256(" ".join(text_words).encode()).hexdigest()
