"""Group articles from different outlets that report the same event into stories (pure).

An article becomes a `DocSig` (content tokens of title, lead and text, numbers, time, source). Two
signatures are compared with IDF-weighted features (cosine of full text, lead and title, how much of one
lead/title the other text covers, shared and conflicting numbers, hours apart), combined by a small
logistic model fitted on the dev pairs of `shared/eval/stories-dev.jsonl`. Stories are formed by
average-link clustering, never single-link chaining: a story only absorbs what is similar to its members
on average, so one wire copy cannot bridge two different events.

`group_stories` clusters a batch (global IDF); `StoryIndex` does the same online for the bot (inverted
index on lead words for candidates, a time window that evicts old documents, document frequencies kept
as documents come and go). Online, an article joins the story it is most similar to on average; it may
also reveal that two stories are one (a rewrite that links both), and the two are merged when their
average link reaches the same threshold batch clustering uses, unless both were already settled (pushed).
"""

from __future__ import annotations

import heapq
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from itertools import chain, compress, filterfalse, islice, repeat
from operator import mul, not_, sub
from typing import Any, NamedTuple

from news.normalize import words
from news.topics import text_words

WINDOW = timedelta(hours=72)
LEAD_TOKENS = 40  # content tokens of the body that, after the title, make the lead
LEAD_WORDS = 50  # raw words of the body searched for lead numbers
PAIR_THRESHOLD = 0.5  # `same_story`: probability that two articles report one event
LINK_THRESHOLD = 0.5  # average similarity a document/cluster needs to join a story
UNSEEN_IDF = 7.0  # weight of a term missing from a plain IDF mapping (about log(1000): rare)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # published times are pickled as microseconds since
_MICROSECOND = timedelta(microseconds=1)
_PICKLE_CODEC = "cp1256"  # Windows Arabic: one byte per letter of a pickled signature's terms
MIN_CORPUS = 200  # IDF pretends the corpus has at least this many documents (sane weights when small)
MAX_POSTING_SHARE = 0.05  # lead words in more than this share of documents do not propose candidates...
MIN_POSTING_CAP = 20  # ... but a word in up to this many documents always may (small or young indexes)
MIN_SHARED_LEAD = 3  # candidates share at least this many such lead words
TOKEN_CACHE_SIZE = 1 << 16  # distinct words whose content token is remembered (news vocabulary repeats a lot)

# Function words and newsroom fillers (normalised like `words`: ى→ي, ة→ه, أ/إ/آ→ا).
_STOP_TEXT = """
    في من علي الي عن مع ان او ما لا لم لن قد كان كانت يكون تكون هذا هذه ذلك تلك التي الذي الذين اللذين
    هو هي هم هما نحن انا وهو وهي ثم كما بين بعد قبل حتي عند اليوم امس غدا خلال منذ حيث اي كل غير بعض وقد
    لقد اما الا ايضا فيه فيها به بها له لها لهم منه منها عليه عليها اليه اليها عنه عنها وفي ومن وعلي وان
    ولا وما قال قالت وقال وقالت اضاف واضاف اضافت اكد واكد اكدت اوضح واوضح اشار واشار يوم تم وتم عام العام
    الماضي الجاري المقبل الاول الثاني نحو اكثر اقل لدي مثل وذلك وهذا جدا فقط اذا عبر ضمن او لكن ولكن
    حول الان اليوم وكان وكانت كذلك حيث بان بانه انه انها الذي وان وقد فيما بينما
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_PREFIXES = ("وبال", "وال", "بال", "فال", "كال", "لل", "ال")  # stripped when 3+ letters remain
_SHORT_PREFIXES = ("و", "ف", "ب", "ل")  # stripped when 4+ letters remain
_YEAR = re.compile(r"(19|20|14)\d\d")
_DIGITS = re.compile(r"\d+")

# Logistic model over `_features` (fitted on the non-borderline dev pairs with all 1,030 articles for IDF;
# see benchmarks/stories.py). Cosines and covers are IDF-weighted; numbers are counts; days are capped at 3.
_FEATURES = (
    "full_cos", "lead_cos", "title_cos", "conflicting_numbers", "days_apart",
    "lead_cover_min", "lead_cover_max", "title_cover_min", "title_cover_max",
    "shared_lead_numbers", "conflicting_lead_numbers",
)  # fmt: skip
_WEIGHTS = (0.853, 1.294, 1.179, -0.236, -1.422, 0.944, 1.051, 1.622, 1.640, 1.215, -0.475)
_BIAS = -2.615


# The first of these prefixes (in order) that leaves enough letters: one regex match instead of a loop of
# startswith calls (every new word of the vocabulary goes through it).
_CLITIC = re.compile(
    "|".join(
        [*(f"{prefix}(?=.{{3}})" for prefix in _PREFIXES), *(f"{prefix}(?=.{{4}})" for prefix in _SHORT_PREFIXES)]
    ),
    re.DOTALL,
)


def _strip(word: str) -> str:
    """Light clitic stripping: one article/preposition/conjunction prefix, never below three letters."""
    clitic = _CLITIC.match(word)
    return word[clitic.end() :] if clitic else word


def _content_token(word: str) -> str:
    """The content token of one normalised word: "" for a stop word or a one-letter word, digits kept whole."""
    if len(word) <= 1 or word in STOP_WORDS:
        return ""
    return word if word.isdigit() else _strip(word)


class _ContentTokens(dict[str, str]):
    """A bounded memo of `_content_token` (a dict looked up from C is much cheaper than a call per word)."""

    def __missing__(self, word: str) -> str:
        if len(self) >= TOKEN_CACHE_SIZE:
            self.clear()
        token = self[word] = _content_token(word)
        return token


_CONTENT_TOKENS = _ContentTokens()  # news vocabulary repeats a lot: most words are looked up, not stripped again


def _content(word_list: list[str]) -> list[str]:
    """The content tokens of a list of normalised words, in order."""
    return list(filter(None, map(_CONTENT_TOKENS.__getitem__, word_list)))


def content_tokens(text: str) -> list[str]:
    """Normalised content words of a text: no stop words, no one-letter words, light clitic stripping."""
    return _content(words(text))


def _numbers(word_list: Iterable[str]) -> frozenset[str]:
    """Digit runs of the words ("و89" → "89"), years left out: they date the topic, not the event.

    A word holding a digit is not all letters; words have no spaces, so one search of the others joined by
    spaces finds the digit runs of each in turn.
    """
    found = _DIGITS.findall(" ".join(filterfalse(str.isalpha, word_list)))
    return frozenset(n for n in found if not _YEAR.fullmatch(n))


def _utc(moment: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive ones are taken as UTC)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class DocSig:
    """What story grouping needs to know about one article."""

    title: tuple[str, ...]  # content tokens of the title
    lead: tuple[str, ...]  # title tokens, then the first LEAD_TOKENS content tokens of the body
    tf: tuple[tuple[str, int], ...]  # term counts of title + body, sorted by term
    numbers: frozenset[str]  # numbers anywhere in title + body
    lead_numbers: frozenset[str]  # numbers in the title and the first LEAD_WORDS words of the body
    published: datetime | None = None  # aware UTC
    source: str = ""

    @cached_property
    def terms(self) -> frozenset[str]:
        """The distinct terms of title + body."""
        return frozenset(self._columns[0])

    @cached_property
    def counts(self) -> dict[str, int]:
        """Term counts as a dict (for fast lookups)."""
        return dict(zip(*self._columns, strict=True))

    @cached_property
    def _columns(self) -> tuple[Sequence[str], Sequence[int]]:
        """The terms of `tf` in order, and their counts (what an unpickled signature starts from)."""
        return (tuple(term for term, _ in self.tf), tuple(n for _, n in self.tf)) if self.tf else ((), ())

    @cached_property
    def _parts(self) -> tuple[_Part, _Part, _Part]:
        """Full text, lead and title as distinct terms with sublinear term frequencies (what IDF then weighs)."""
        terms, counts = self._columns
        full = _Part(tuple(terms), tuple(map(_SUBLINEAR.__getitem__, counts)))
        return full, _part(Counter(self.lead)), _part(Counter(self.title))

    def __reduce__(self) -> tuple[Callable[..., DocSig], tuple[Any, ...]]:
        """Pickled compactly (signatures travel back from worker processes): terms and lead each as one string
        (one byte per Arabic letter when cp1256 can encode it), counts as bytes, no cached properties."""
        terms, counts = self._columns
        packed = [_pack(" ".join(terms)), _pack(" ".join(self.lead))]
        packed.append(bytes(counts) if max(counts, default=0) < 256 else counts)
        published = None if self.published is None else (self.published - _EPOCH) // _MICROSECOND
        return _unpickle_sig, (*packed, len(self.title), self.numbers, self.lead_numbers, published, self.source)

    def __getattr__(self, name: str) -> Any:
        """`tf` of a signature made from its columns (by fingerprint or unpickled), paired up on first use (placing
        or pickling a signature does not need it)."""
        columns = self.__dict__.get("_columns")
        if name != "tf" or columns is None:
            raise AttributeError(name)
        tf = self.__dict__["tf"] = tuple(zip(*columns, strict=True))
        return tf


def _pack(text: str) -> str | bytes:
    """A string as cp1256 bytes when it can be encoded (Arabic: half the size of UTF-8), else itself."""
    try:
        return text.encode(_PICKLE_CODEC)
    except UnicodeEncodeError:
        return text


def _unpack(packed: str | bytes) -> list[str]:
    """The words of a string _pack packed."""
    text = packed if isinstance(packed, str) else packed.decode(_PICKLE_CODEC)
    return text.split(" ") if text else []


def _unpickle_sig(terms: str | bytes, lead: str | bytes, counts: Sequence[int], n_title: int, *rest: Any) -> DocSig:
    """The signature DocSig.__reduce__ packed (equal to the original; `tf` is rebuilt when first read)."""
    numbers, lead_numbers, published, source = rest
    lead_tokens = tuple(_unpack(lead))
    return _sig_from_columns(
        (_unpack(terms), counts),
        title=lead_tokens[:n_title],
        lead=lead_tokens,
        numbers=numbers,
        lead_numbers=lead_numbers,
        published=None if published is None else _EPOCH + published * _MICROSECOND,
        source=source,
    )


def _sig_from_columns(columns: tuple[Sequence[str], Sequence[int]], **fields: Any) -> DocSig:
    """A signature from its term columns (terms sorted, their counts) and its other fields; `tf` is paired up from
    the columns when first read (placing and pickling a signature read only the columns)."""
    sig = DocSig.__new__(DocSig)
    sig.__dict__.update(fields, _columns=columns)
    return sig


class _Sublinear(dict[int, float]):
    """Count → sublinear term frequency 1 + log(count) (memo)."""

    def __missing__(self, count: int) -> float:
        value = self[count] = 1.0 + math.log(count)
        return value


_SUBLINEAR = _Sublinear()


class _Part(NamedTuple):
    """Distinct terms of a part of an article (in order) and their sublinear term frequencies 1 + log(count)."""

    terms: tuple[str, ...]
    tf: tuple[float, ...]


def _part(counts: Mapping[str, int]) -> _Part:
    """The part made of these term counts."""
    return _Part(tuple(counts), tuple(map(_SUBLINEAR.__getitem__, counts.values())))


def fingerprint(title: str, text: str, *, source: str = "", published: datetime | None = None) -> DocSig:
    """The signature of one article from its title and plain text."""
    title_words, body_words = text_words(title), text_words(text)
    title_tokens = _content(title_words)
    tokens = title_tokens + _content(body_words)
    counts = Counter(tokens)
    terms = sorted(counts)
    lead_numbers = _numbers(chain(title_words, body_words[:LEAD_WORDS]))
    return _sig_from_columns(
        (tuple(terms), tuple(map(counts.__getitem__, terms))),
        title=tuple(title_tokens),
        lead=tuple(tokens[: len(title_tokens) + LEAD_TOKENS]),
        numbers=lead_numbers | _numbers(islice(body_words, LEAD_WORDS, None)),  # each word is searched once
        lead_numbers=lead_numbers,
        published=_utc(published),
        source=source,
    )


class _IdfLogs(dict[int, float]):
    """Document frequency → IDF for a corpus size: a term's weight depends only on its frequency (memo)."""

    def __init__(self, top: int) -> None:
        super().__init__()
        self._top = top  # the corpus size (at least MIN_CORPUS), plus one

    def __missing__(self, df: int) -> float:
        weight = self[df] = math.log(self._top / (df + 1))
        return weight


class IdfTable(Mapping[str, float]):
    """Inverse document frequencies from document counts; every term has a weight (unseen ones are rare)."""

    def __init__(self, df: Mapping[str, int], n_docs: int) -> None:
        self._df = df
        self._n = n_docs
        self._logs = _IdfLogs(max(n_docs, MIN_CORPUS) + 1)

    def __getitem__(self, term: str) -> float:
        return self._logs[self._df.get(term, 0)]

    def weights(self, terms: Iterable[str]) -> list[float]:
        """The weights of many terms, in order (as `self[term]` for each, looked up from C)."""
        return list(map(self._logs.__getitem__, map(self._df.get, terms, repeat(0))))

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self._df.get(term, 0) > 0

    def __iter__(self) -> Iterator[str]:
        return (term for term, count in self._df.items() if count > 0)

    def __len__(self) -> int:
        return sum(1 for count in self._df.values() if count > 0)

    def get(self, term: str, default: float | None = None) -> float:  # type: ignore[override]
        """The weight of a term (never missing)."""
        return self[term]


def idf_table(sigs: Iterable[DocSig]) -> IdfTable:
    """The IDF of a batch of signatures."""
    df: Counter[str] = Counter()
    n = 0
    for sig in sigs:
        df.update(sig.terms)
        n += 1
    return IdfTable(df, n)


_UNIFORM: Mapping[str, float] = {}
_Weigher = Callable[[tuple[str, ...]], list[float]]  # terms → their IDF weights, in order


def _weigher(idf: Mapping[str, float]) -> _Weigher:
    """How to weigh runs of terms under `idf` (an IdfTable weighs many at once; other mappings default to rare)."""
    if isinstance(idf, IdfTable):
        return idf.weights
    return lambda terms: list(map(idf.get, terms, repeat(UNSEEN_IDF)))


class _Prepared(NamedTuple):
    """A signature's weighted vectors under one IDF (computed once per comparison round)."""

    sig: DocSig
    full: dict[str, float]
    full_norm: float
    lead: dict[str, float]
    lead_norm: float
    title: dict[str, float]
    title_norm: float
    lead_terms: tuple[str, ...]  # distinct lead terms, in order of appearance
    lead_idf: list[float]  # their IDF
    lead_total: float  # the sum of lead_idf
    title_terms: tuple[str, ...]
    title_idf: list[float]
    title_total: float


def _vector(part: _Part, weigh: _Weigher) -> tuple[dict[str, float], float, list[float]]:
    """Sublinear TF × IDF weights of a part, their norm, and the IDF of its terms."""
    terms, tf = part
    idf = weigh(terms)
    values = list(map(mul, tf, idf))
    return dict(zip(terms, values, strict=True)), math.sqrt(sum(map(mul, values, values))), idf


def _prepare(sig: DocSig, weigh: _Weigher) -> _Prepared:
    """Weight a signature's title, lead and text with an IDF."""
    full_part, lead_part, title_part = sig._parts
    full, full_norm, _ = _vector(full_part, weigh)
    lead, lead_norm, lead_idf = _vector(lead_part, weigh)
    title, title_norm, title_idf = _vector(title_part, weigh)
    return _Prepared(
        sig, full, full_norm, lead, lead_norm, title, title_norm,
        lead_part.terms, lead_idf, sum(lead_idf), title_part.terms, title_idf, sum(title_idf),
    )  # fmt: skip


def _cosine(a: dict[str, float], a_norm: float, b: dict[str, float], b_norm: float) -> float:
    """Cosine of two sparse vectors with known norms."""
    if not a_norm or not b_norm:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    return sum(map(mul, a.values(), map(b.get, a, repeat(0.0)))) / (a_norm * b_norm)


def _cover(terms: tuple[str, ...], idf: list[float], total: float, whole: frozenset[str]) -> float:
    """IDF share of the terms (with their IDF and its sum) that occur in `whole`."""
    return sum(compress(idf, map(whole.__contains__, terms))) / total if total else 0.0


def hours_apart(a: DocSig, b: DocSig) -> float:
    """Hours between two publication times (0 when one is unknown)."""
    if a.published is None or b.published is None:
        return 0.0
    return abs((a.published - b.published).total_seconds()) / 3600


def _features(pa: _Prepared, pb: _Prepared) -> tuple[float, ...]:
    """The features of a prepared pair, in `_FEATURES` order."""
    a, b = pa.sig, pb.sig
    cover_a = _cover(pa.lead_terms, pa.lead_idf, pa.lead_total, b.terms)
    cover_b = _cover(pb.lead_terms, pb.lead_idf, pb.lead_total, a.terms)
    title_a = _cover(pa.title_terms, pa.title_idf, pa.title_total, b.terms)
    title_b = _cover(pb.title_terms, pb.title_idf, pb.title_total, a.terms)
    return (
        _cosine(pa.full, pa.full_norm, pb.full, pb.full_norm),
        _cosine(pa.lead, pa.lead_norm, pb.lead, pb.lead_norm),
        _cosine(pa.title, pa.title_norm, pb.title, pb.title_norm),
        min(len(a.numbers - b.numbers), len(b.numbers - a.numbers), 10),
        min(hours_apart(a, b), 72.0) / 24,
        min(cover_a, cover_b),
        max(cover_a, cover_b),
        min(title_a, title_b),
        max(title_a, title_b),
        min(len(a.lead_numbers & b.lead_numbers), 5),
        min(len(a.lead_numbers - b.lead_numbers), len(b.lead_numbers - a.lead_numbers), 5),
    )


def _probability(features: tuple[float, ...]) -> float:
    """The logistic model's probability for a feature vector."""
    z = _BIAS + sum(w * x for w, x in zip(_WEIGHTS, features, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def pair_features(a: DocSig, b: DocSig, idf: Mapping[str, float] | None = None) -> dict[str, float]:
    """The named features of a pair (for inspection and tuning)."""
    weigh = _weigher(_UNIFORM if idf is None else idf)
    return dict(zip(_FEATURES, _features(_prepare(a, weigh), _prepare(b, weigh)), strict=True))


def similarity(a: DocSig, b: DocSig, idf: Mapping[str, float] | None = None) -> float:
    """Probability (0..1) that two articles report the same event; without `idf` every term weighs the same."""
    weigh = _weigher(_UNIFORM if idf is None else idf)
    return _probability(_features(_prepare(a, weigh), _prepare(b, weigh)))


def same_story(a: DocSig, b: DocSig, idf: Mapping[str, float] | None = None) -> bool:
    """Whether two articles, compared on their own, report the same event."""
    return similarity(a, b, idf) >= PAIR_THRESHOLD


def comparable(a: DocSig, b: DocSig, window: timedelta = WINDOW) -> bool:
    """Whether two articles may be linked at all: different (or unknown) outlets, close enough in time."""
    if a.source and a.source == b.source:
        return False  # one outlet does not report one event twice (re-crawls are deduplicated upstream)
    return hours_apart(a, b) <= window.total_seconds() / 3600


def _lead_keys(sig: DocSig) -> frozenset[str]:
    """The lead words used to look up candidates (numbers included)."""
    return frozenset(sig.lead)


@dataclass(frozen=True)
class Placement:
    """Where `StoryIndex.place` put an article: its story, and the stories merged into that story just now."""

    story: str
    absorbed: tuple[str, ...] = field(default=())


class StoryIndex:
    """Online story grouping: each added article joins the most similar recent story or starts one.

    This is average-link clustering done as documents arrive: an article joins the story whose members it
    matches best on average (at least `threshold`), and two stories merge once the average similarity
    over all their cross pairs reaches `threshold` (pairs never compared count as 0). A merge keeps the id
    of the settled story (see `settle`), else of the older one; two settled stories are never merged.
    """

    def __init__(self, *, window: timedelta = WINDOW, threshold: float | None = None) -> None:
        self.window = window
        self.threshold = LINK_THRESHOLD if threshold is None else threshold
        self._sigs: dict[str, DocSig] = {}
        self._story: dict[str, str] = {}
        self._members: dict[str, list[str]] = {}
        self._postings: dict[str, set[str]] = defaultdict(set)  # lead word → the documents whose lead has it
        self._df: Counter[str] = Counter()
        self._queue: list[tuple[datetime, str]] = []  # (time, doc_id) heap for eviction
        self._clock: datetime | None = None
        self._pairs: dict[str, dict[str, float]] = {}  # doc → {compared doc: similarity}
        self._links: dict[str, dict[str, float]] = defaultdict(dict)  # story → {story: Σ cross similarity}
        self._born: dict[str, int] = {}  # story → creation order (the older id survives a merge)
        self._settled: set[str] = set()
        self._count = 0

    @classmethod
    def from_iterable(
        cls, docs: Iterable[tuple[str, DocSig]], *, window: timedelta = WINDOW, threshold: float | None = None
    ) -> StoryIndex:
        """An index rebuilt from stored articles, added oldest first."""
        index = cls(window=window, threshold=threshold)
        for doc_id, sig in sorted(docs, key=_order_key):
            index.add(doc_id, sig)
        return index

    def __len__(self) -> int:
        return len(self._sigs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._sigs

    def story_of(self, doc_id: str) -> str | None:
        """The story of a document still in the window."""
        return self._story.get(doc_id)

    def stories(self) -> dict[str, tuple[str, ...]]:
        """Story id → its documents in the window."""
        return {story: tuple(members) for story, members in self._members.items()}

    @property
    def idf(self) -> IdfTable:
        """The IDF of the documents in the window."""
        return IdfTable(self._df, len(self._sigs))

    def settle(self, story: str) -> None:
        """Mark a story as published (pushed to readers): it keeps its id and is never merged into another."""
        self._settled.add(story)

    def add(self, doc_id: str, sig: DocSig) -> str:
        """Add an article and return its story id (its own id when it starts a new story)."""
        return self.place(doc_id, sig).story

    def place(self, doc_id: str, sig: DocSig) -> Placement:
        """Add an article: its story id, and the ids of the stories it caused to be merged into that story.

        Every id in `absorbed` is gone from the index; its documents now belong to `story`.
        """
        if doc_id in self._story:
            return Placement(self._story[doc_id])
        moment = sig.published or self._clock
        if moment is not None and (self._clock is None or moment > self._clock):
            self._clock = moment
        self._evict()
        self._df.update(sig._columns[0])  # (its distinct terms in order: no set built for articles never compared)
        self._sigs[doc_id] = sig
        weigh = self.idf.weights
        prepared: _Prepared | None = None  # weighed once a candidate is comparable (most articles have none)
        pairs: dict[str, float] = {}
        totals: dict[str, float] = defaultdict(float)
        for other in sorted(self._candidates(sig)):
            other_sig = self._sigs[other]
            if comparable(sig, other_sig, self.window):
                prepared = prepared or _prepare(sig, weigh)
                p = _probability(_features(prepared, _prepare(other_sig, weigh)))
                pairs[other] = p
                totals[self._story[other]] += p
        best, best_score = doc_id, self.threshold
        for story, total in sorted(totals.items()):
            score = total / len(self._members[story])
            if score >= best_score:
                best, best_score = story, score
        self._register(doc_id, sig, best, moment)
        self._pairs[doc_id] = pairs
        for other, p in pairs.items():
            self._pairs[other][doc_id] = p
            self._link(best, self._story[other], p)
        return self._merge_from(best)

    def _link(self, a: str, b: str, amount: float) -> None:
        """Add to the summed similarity between two different stories."""
        if a != b:
            self._links[a][b] = self._links[a].get(b, 0.0) + amount
            self._links[b][a] = self._links[a][b]

    def _merge_from(self, story: str) -> Placement:
        """Merge `story` with its best-linked stories while their average link reaches the threshold."""
        absorbed: list[str] = []
        while True:
            size = len(self._members[story])
            best: tuple[float, str] | None = None
            for other, total in sorted(self._links.get(story, {}).items()):
                average = total / (size * len(self._members[other]))
                mergeable = average >= self.threshold and not {story, other} <= self._settled
                if mergeable and (best is None or average > best[0]):
                    best = (average, other)
            if best is None:
                return Placement(story, tuple(absorbed))
            keep, gone = self._survivor(story, best[1])
            self._absorb(keep, gone)
            absorbed.append(gone)
            absorbed = [s for s in absorbed if s != keep]
            story = keep

    def _survivor(self, a: str, b: str) -> tuple[str, str]:
        """(kept, absorbed) ids of two stories to merge: a settled story survives, else the older one."""
        if (a in self._settled) != (b in self._settled):
            return (a, b) if a in self._settled else (b, a)
        return (a, b) if self._born[a] <= self._born[b] else (b, a)

    def _absorb(self, keep: str, gone: str) -> None:
        """Move every document and link of story `gone` into story `keep`."""
        moved = self._members.pop(gone)
        for doc in moved:
            self._story[doc] = keep
        self._members[keep].extend(moved)
        for other, total in self._links.pop(gone, {}).items():
            del self._links[other][gone]
            if other != keep:
                self._link(keep, other, total)
        if not self._links.get(keep):
            self._links.pop(keep, None)
        del self._born[gone]
        self._settled.discard(gone)

    def _candidates(self, sig: DocSig) -> set[str]:
        """Documents sharing at least MIN_SHARED_LEAD not-too-common lead words with `sig`."""
        cap = max(MIN_POSTING_CAP, MAX_POSTING_SHARE * len(self._sigs))
        postings = filter(None, map(self._postings.get, _lead_keys(sig)))  # a posting's size is its word's lead df
        shared = Counter(chain.from_iterable(posting for posting in postings if len(posting) <= cap))
        return {doc for doc, n in shared.items() if n >= MIN_SHARED_LEAD}

    def _register(self, doc_id: str, sig: DocSig, story: str, moment: datetime | None) -> None:
        """Store a document under its story and in the lookup structures."""
        self._story[doc_id] = story
        if story not in self._members:
            self._born[story] = self._count
            self._count += 1
        self._members.setdefault(story, []).append(doc_id)
        for key in _lead_keys(sig):
            self._postings[key].add(doc_id)
        if moment is not None:
            heapq.heappush(self._queue, (moment, doc_id))

    def _evict(self) -> None:
        """Forget documents published more than `window` before the newest one."""
        if self._clock is None:
            return
        horizon = self._clock - self.window
        while self._queue and self._queue[0][0] < horizon:
            _, doc_id = heapq.heappop(self._queue)
            self._forget(doc_id)

    def _forget(self, doc_id: str) -> None:
        """Remove one document from every structure (its similarities leave the story links too)."""
        sig = self._sigs.pop(doc_id)
        story = self._story.pop(doc_id)
        for other, p in self._pairs.pop(doc_id).items():
            del self._pairs[other][doc_id]
            self._unlink(story, self._story[other], p)
        members = self._members[story]
        members.remove(doc_id)
        if not members:
            del self._members[story]
            del self._born[story]
            self._settled.discard(story)
            for other in self._links.pop(story, {}):
                self._links[other].pop(story, None)
        # Document frequencies counted down from C (a loop over a few hundred terms per document was most of
        # this method); the terms no other document has are then dropped.
        df, terms = self._df, sig._columns[0]
        left = list(map(sub, map(df.__getitem__, terms), repeat(1)))
        dict.update(df, zip(terms, left, strict=True))
        for term in compress(terms, map(not_, left)):
            df.pop(term)  # dict.pop (Counter's own __delitem__ is a Python method)
        for key in _lead_keys(sig):
            posting = self._postings[key]
            posting.discard(doc_id)
            if not posting:
                del self._postings[key]

    def _unlink(self, a: str, b: str, amount: float) -> None:
        """Take a forgotten pair's similarity out of the link between two stories."""
        if a == b:
            return
        left = self._links[a].get(b, 0.0) - amount
        if left > 1e-9:
            self._links[a][b] = self._links[b][a] = left
        else:
            self._links[a].pop(b, None)
            self._links[b].pop(a, None)


def _order_key(item: tuple[str, DocSig]) -> tuple[datetime, str]:
    """Oldest first, then by id (documents without a time sort first)."""
    doc_id, sig = item
    return (sig.published or datetime.min.replace(tzinfo=UTC), doc_id)


def candidate_pairs(sigs: Mapping[str, DocSig]) -> set[tuple[str, str]]:
    """Pairs of documents sharing at least MIN_SHARED_LEAD not-too-common lead words (ids sorted)."""
    postings: dict[str, list[str]] = defaultdict(list)
    for doc_id in sorted(sigs):
        for key in _lead_keys(sigs[doc_id]):
            postings[key].append(doc_id)
    cap = max(MIN_POSTING_CAP, MAX_POSTING_SHARE * len(sigs))
    shared: Counter[tuple[str, str]] = Counter()
    for docs in postings.values():
        if len(docs) > cap:
            continue
        for i, a in enumerate(docs):
            for b in docs[i + 1 :]:
                shared[(a, b)] += 1
    return {pair for pair, n in shared.items() if n >= MIN_SHARED_LEAD}


def pair_similarities(
    sigs: Mapping[str, DocSig], idf: Mapping[str, float], *, window: timedelta = WINDOW
) -> dict[tuple[str, str], float]:
    """Similarity of every candidate pair within the time window."""
    prepared: dict[str, _Prepared] = {}
    sims: dict[tuple[str, str], float] = {}
    weigh = _weigher(idf)
    for a, b in sorted(candidate_pairs(sigs)):
        if comparable(sigs[a], sigs[b], window):
            pa = prepared.get(a) or prepared.setdefault(a, _prepare(sigs[a], weigh))
            pb = prepared.get(b) or prepared.setdefault(b, _prepare(sigs[b], weigh))
            sims[(a, b)] = _probability(_features(pa, pb))
    return sims


def average_link(
    doc_ids: Iterable[str], sims: Mapping[tuple[str, str], float], threshold: float = LINK_THRESHOLD
) -> dict[str, str]:
    """Average-link agglomerative clustering (missing pairs count as 0); doc_id → a member of its cluster."""
    parent = {doc_id: doc_id for doc_id in doc_ids}
    size = dict.fromkeys(parent, 1)
    links: dict[str, dict[str, float]] = {doc_id: {} for doc_id in parent}
    for (a, b), s in sims.items():
        links[a][b] = links[a].get(b, 0.0) + s
        links[b][a] = links[b].get(a, 0.0) + s
    heap = [(-s / 1, a, b) for (a, b), s in sims.items() if s >= threshold]
    heapq.heapify(heap)
    while heap:
        neg, a, b = heapq.heappop(heap)
        if parent[a] != a or parent[b] != b:
            continue  # one side was merged away
        current = links[a].get(b, 0.0) / (size[a] * size[b])
        if abs(current + neg) > 1e-12:
            continue  # stale entry: a newer one for this pair is in the heap
        keep, gone = min(a, b), max(a, b)
        parent[gone] = keep
        size[keep] += size[gone]
        for other, total in links.pop(gone).items():
            if other == keep:
                continue
            del links[other][gone]
            links[keep][other] = links[keep].get(other, 0.0) + total
            links[other][keep] = links[keep][other]
        links[keep].pop(gone, None)
        for other, total in links[keep].items():
            score = total / (size[keep] * size[other])
            if score >= threshold:
                heapq.heappush(heap, (-score, *sorted((keep, other))))
    roots = {}
    for doc_id in parent:
        root = doc_id
        while parent[root] != root:
            root = parent[root]
        roots[doc_id] = root
    return roots


def group_stories(docs: Iterable[tuple[str, DocSig]], *, window: timedelta = WINDOW) -> dict[str, str]:
    """Batch grouping: doc_id → story id (the id of the story's earliest article); deterministic."""
    ordered = sorted(docs, key=_order_key)
    sigs = dict(ordered)
    idf = idf_table(sigs.values())
    roots = average_link(sigs, pair_similarities(sigs, idf, window=window))
    rank = {doc_id: i for i, doc_id in enumerate(sigs)}
    first: dict[str, str] = {}
    for doc_id in sorted(sigs, key=rank.__getitem__):
        first.setdefault(roots[doc_id], doc_id)
    return {doc_id: first[roots[doc_id]] for doc_id in sigs}
