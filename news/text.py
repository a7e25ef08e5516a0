"""Arabic sentence splitting and matching tokens (pure).

Sentences are verbatim substrings of the input, for display; tokens are folded with
`news.normalize.normalize_arabic` and lightly stripped of clitics, for matching only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from itertools import chain, filterfalse, islice
from operator import itemgetter

from news.normalize import normalize_arabic

# A run of sentence-final marks, then any closing quotes/brackets. "؛" and ";" join clauses inside an
# Arabic sentence (EASC's human extracts keep them mid-sentence), so they do not end one.
_BOUNDARY = re.compile(r"[.!?؟۔…]+[”»\"’)\]]*")
_AR_LETTER = "\u0621-\u063a\u0641-\u064a\u0671-\u06d3"
_LETTER = re.compile(f"[{_AR_LETTER}]")
_LETTERS = frozenset(map(chr, [*range(0x0621, 0x063B), *range(0x0641, 0x064B), *range(0x0671, 0x06D4)]))  # _LETTER
_LINE = re.compile(r"[^\n]+")
_CLOSERS = '”»"’)]'
_OPEN_QUOTES = "“«"
_CLOSE_QUOTES = "”»"
_SHORT_QUOTE_WORDS = 6
# Latin abbreviations that never end a sentence on their own ("Mr. Smith", "U.S." is handled as initials).
_LATIN_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "no", "inc", "ltd", "co"})
_DATE_MARKERS = frozenset({"م", "ه", "هـ", "ق.م", "ب.م"})  # year suffixes: a "." after them ends a sentence
_INITIALS = re.compile(r"^(?:\w\.)*\w$")
_DIGIT = re.compile(r"\d")


def split_sentences(text: str) -> list[str]:
    """Split Arabic (or mixed) text into sentences, returned as stripped verbatim substrings.

    A line break always ends a sentence. "." "!" "?" "؟" "۔" "…" "..." end one when followed by space or
    the end, except after initials/abbreviations ("د." "U.S."), before a digit (3.5) or inside a short
    quotation («نعم!» قال). A "." glued before an Arabic letter, after a letter or a digit ("نهاية.بداية",
    "عام 1959.أتم"), also ends one; a double ".." does not ("دبي.. ارتفع المؤشر").
    """
    sentences: list[str] = []
    for line in _LINE.finditer(text):
        start = line.start()
        for cut in _cuts(line.group(), line.start()):
            piece = text[start:cut].strip()
            if piece:
                sentences.append(piece)
            start = cut
        piece = text[start : line.end()].strip()
        if piece:
            sentences.append(piece)
    return sentences


def _cuts(line: str, offset: int) -> list[int]:
    """Absolute offsets just after each sentence end inside one line."""
    cuts: list[int] = []
    sentence_start = 0
    for match in _BOUNDARY.finditer(line):
        if match.group().rstrip(_CLOSERS) == "..":
            continue  # "دبي.. ارتفع المؤشر": a pause, as Arabic news writes it, not a full stop
        end = match.end()
        after = line[end : end + 1]
        if after and not after.isspace():
            before = line[match.start() - 1] if match.start() > 0 else ""
            glued = match.group() == "." and _LETTER.match(after) and (_LETTER.match(before) or before.isdigit())
            if not glued:
                continue
        elif not after:
            continue  # the line end closes the sentence anyway
        if _is_abbreviation(line, match.start(), match.group()):
            continue
        if _inside_short_quote(line, sentence_start, match):
            continue
        if not _has_word(line[sentence_start:end]):
            continue
        cuts.append(offset + end)
        sentence_start = end
    return cuts


def _has_word(piece: str) -> bool:
    """Whether a piece holds a word that is not a bare list number ("1.")."""
    return any(ch.isalpha() for ch in piece) or len(piece.split()) > 1


def _is_abbreviation(line: str, dot: int, marks: str) -> bool:
    """Whether the "." at `dot` closes an abbreviation or initials rather than a sentence."""
    if not marks.startswith(".") or len(marks.rstrip('”»"’)]')) > 1:
        return False
    head = line[:dot].rsplit(None, 1)
    if not head or line[dot - 1 : dot].isspace():
        return False
    word = head[-1].lstrip('(«“"')
    if word.lower() in _LATIN_ABBREVIATIONS:
        return True
    if not _INITIALS.match(word):
        return False
    if _DIGIT.search(word):
        return False  # "1827م." / "1436هـ." end a sentence
    # "عام 1770 م.": after a number the letter is a year marker, not an abbreviation
    return not (word in _DATE_MARKERS and len(head) == 2 and head[0].rstrip()[-1:].isdigit())


def _inside_short_quote(line: str, sentence_start: int, match: re.Match[str]) -> bool:
    """Whether the marks sit at the close of a short quotation that opened mid-sentence («نعم!» قال)."""
    closers = match.group().lstrip(".!?؟۔…")
    if not closers or closers[0] not in _CLOSE_QUOTES + '"':
        return False
    closer = closers[0]
    opener_chars = '"' if closer == '"' else _OPEN_QUOTES
    opened = max(line.rfind(ch, sentence_start, match.start()) for ch in opener_chars)
    if opened < 0:
        return False
    before = line[sentence_start:opened].strip()
    quoted = line[opened + 1 : match.start()]
    return bool(before) and len(quoted.split()) <= _SHORT_QUOTE_WORDS


# Clitic prefixes. The article and its combinations go first (stem of at least 3 letters), then one
# conjunction "و"/"ف" (stem of 4) and one preposition "ب"/"ل"/"ك" (stem of 5), so "وزير", "بيت" and
# "لبنان" stay whole. The conjunction/preposition steps also run after the article, which keeps a word
# and its article form together ("البريطانية" and "بريطانية" give the same token).
_ARTICLE_PREFIXES = ("وبال", "وكال", "فبال", "ولل", "فلل", "وال", "فال", "بال", "كال", "لل", "ال")
_ARTICLE_PREFIXES_BY_SIZE = tuple(
    (size, frozenset(p for p in _ARTICLE_PREFIXES if len(p) == size))
    for size in sorted({len(p) for p in _ARTICLE_PREFIXES}, reverse=True)
)
_CLITIC_STARTS = frozenset("وفبكلا")  # the first letters of all the clitics above
_TOKEN = re.compile(r"\w+")
# Marks often glued to a word ("ليبيا،" "(قال):"); none is a word character (re's \w).
_PUNCTUATION = ".,،؛;:!?؟\"'()[]{}«»“”‘’-–—…/"


def strip_clitics(word: str) -> str:
    """Remove leading conjunction/preposition/article letters from a normalised word, keeping a long enough stem."""
    if word[:1] not in _CLITIC_STARTS:
        return word
    for size, prefixes in _ARTICLE_PREFIXES_BY_SIZE:  # longest first, as _ARTICLE_PREFIXES lists them
        if word[:size] in prefixes and len(word) - size >= 3:
            word = word[size:]
            break
    if len(word) >= 5 and word[0] in "وف":
        word = word[1:]
    if len(word) >= 6 and word[0] in "بلك":
        word = word[1:]
    return word


@lru_cache(maxsize=65536)
def _token(word: str) -> str:
    """The matching token of one normalised word (cached: news vocabulary repeats a lot)."""
    return strip_clitics(word) if word[:1] in _LETTERS else word


def tokens(text: str) -> list[str]:
    """Normalised word tokens with light clitic/article stripping ("والحكومة" → "حكومه")."""
    return list(chain.from_iterable(map(_TOKENS_OF, word_forms(text.split()))))


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Arabic stop words from `news/data/stopwords_ar.txt`, normalised and clitic-stripped like tokens."""
    raw = resources.files("news").joinpath("data/stopwords_ar.txt").read_text(encoding="utf-8")
    forms: set[str] = set()
    for line in raw.splitlines():
        word = line.split("#", 1)[0].strip()
        if word:
            for folded in _TOKEN.findall(normalize_arabic(word)):
                forms.update({folded, _token(folded)})
    return frozenset(forms)


def is_stopword(token: str) -> bool:
    """Whether a token (from `tokens`) is a stop word, also with a leading "و"/"ف" conjunction."""
    return _stop(token, stopwords())


def content_tokens(text: str) -> list[str]:
    """Tokens of a text without Arabic stop words and one-letter leftovers."""
    return list(chain.from_iterable(map(_CONTENT_OF, word_forms(text.split()))))


def content_tokens_normalized(folded: str) -> list[str]:
    """`content_tokens` of a text already passed through `normalize_arabic` (saves folding twice)."""
    stop = stopwords()
    out = []
    for word in _TOKEN.findall(folded):
        tok = _token(word)
        if len(tok) > 1 and not _stop(tok, stop):
            out.append(tok)
    return out


# ---- per-word cache ----------------------------------------------------------------------------------
# Normalising never joins or splits text across whitespace, so a text's normalised form, tokens and content
# tokens are those of its whitespace-separated words in turn; news vocabulary repeats a lot, so each word's
# forms are worked out once (the cache is emptied when it grows past _WORD_CACHE_SIZE words).

WordForms = tuple[str, tuple[str, ...], tuple[str, ...]]  # (normalize_arabic form, tokens, content tokens)
_WORD_FORMS: dict[str, WordForms] = {}
_WORD_CACHE_SIZE = 1 << 16
_TOKENS_OF = itemgetter(1)
_CONTENT_OF = itemgetter(2)


def word_forms(words: Sequence[str]) -> list[WordForms]:
    """Each whitespace-free word's `normalize_arabic` form, `tokens` and `content_tokens`, from a cache."""
    cache = _WORD_FORMS
    try:
        return list(map(cache.__getitem__, words))
    except KeyError:
        missing = list(dict.fromkeys(filterfalse(cache.__contains__, words)))  # once each, in order
        if len(cache) + len(missing) > _WORD_CACHE_SIZE:
            cache.clear()
            missing = list(dict.fromkeys(words))
        cache.update(zip(missing, _forms_of(missing), strict=True))
    try:
        return list(map(cache.__getitem__, words))
    except KeyError:  # another thread emptied the cache meanwhile
        distinct = list(dict.fromkeys(words))
        return list(map(dict(zip(distinct, _forms_of(distinct), strict=True)).__getitem__, words))


def _forms_of(words: list[str]) -> list[WordForms]:
    """`word_forms` of words not cached yet, normalised together joined by NUL (which normalising leaves alone)."""
    pieces = normalize_arabic("\0".join(words)).split("\0")
    if len(pieces) != len(words):  # a word held a NUL itself
        pieces = [normalize_arabic(word) for word in words]
    stop = stopwords()
    out: list[WordForms] = []
    for piece in pieces:
        folded = piece.strip()
        word = folded if folded.isalnum() else folded.strip(_PUNCTUATION)
        if word.isalnum():  # one word, maybe between marks: the common case (re's \w is str.isalnum, or "_")
            tok = strip_clitics(word) if word[:1] in _LETTERS else word  # _token, without its cache's overhead
            toks: tuple[str, ...] = (tok,)
            content = len(tok) > 1 and tok not in stop and not (tok[0] in "وف" and tok[1:] in stop)  # not _stop
            out.append((folded, toks, toks if content else ()))
        else:
            toks = tuple(map(_token, _TOKEN.findall(folded)))
            out.append((folded, toks, tuple(tok for tok in toks if len(tok) > 1 and not _stop(tok, stop))))
    return out


def _stop(token: str, stop: frozenset[str]) -> bool:
    """`is_stopword` with the stop words at hand."""
    return token in stop or (token[:1] in "وف" and token[1:] in stop)


SentenceForms = tuple[str, list[WordForms]]  # a sentence and its whitespace-separated words' `word_forms`
_PARAGRAPHS: dict[str, list[SentenceForms]] = {}
_PARAGRAPH_CACHE_SIZE = 512  # paragraphs remembered (the oldest half dropped when full): enough for an article


def paragraph_forms(paragraph: str) -> list[SentenceForms]:
    """The sentences of a paragraph (`split_sentences`), each with its words' `word_forms`; not to be mutated.

    The last paragraphs seen are remembered: `news.summarize` looks again at those `news.extract.clean_text` kept.
    Their tokens in turn are the paragraph's `tokens`: a sentence ends at a space or between a mark and a letter.
    """
    found = _PARAGRAPHS.get(paragraph)
    if found is None:
        found = [(sentence, word_forms(sentence.split())) for sentence in split_sentences(paragraph)]
        if len(_PARAGRAPHS) >= _PARAGRAPH_CACHE_SIZE:
            # the oldest half goes, not all: the article at hand keeps its paragraphs for news.summarize
            for old in list(islice(_PARAGRAPHS, max(1, _PARAGRAPH_CACHE_SIZE // 2))):
                _PARAGRAPHS.pop(old, None)
        _PARAGRAPHS[paragraph] = found
    return found


def forget_paragraphs() -> None:
    """Empty the memo of `paragraph_forms` (benchmarks: an article's paragraphs are then worked out anew)."""
    _PARAGRAPHS.clear()
