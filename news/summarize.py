"""Extractive Arabic digests: one to three whole sentences of the source, never rewritten (pure).

Each sentence gets a score from a small linear ranking model over its position, how much of its
vocabulary the rest of the story shares, its overlap with the lead (and title) and with the next sentence,
and two readability cues (weights fitted on the EASC dev ids with pairwise logistic regression, features
chosen by cross-validation within dev: `benchmarks/summaries.py --fit`). Similarities are over sets of
content tokens (as good as counts in cross-validation, and cheaper). The score is exp(w·x) relative to the
best sentence, a stand-in for the share of its words a human extract would also hold, so the digest is
the set of at most three sentences within the word budget that maximises Σ scoreᵢ·wordsᵢ, among sets
without two near-repeated sentences: the budget is filled with whole sentences, the more likely ones first.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain
from operator import itemgetter, mul

from news.extract import clean_text, match_boilerplate, strip_dateline
from news.normalize import normalize_arabic
from news.text import WordForms, content_tokens, paragraph_forms

MAX_SENTENCES = 3
_POOL = 8  # only the best-scored sentences are combined (12 scored no better in cross-validation on dev)
_MIN_WORDS = 5  # shorter sentences (bylines, captions) are used only when nothing else is left
_REPEAT = 0.5  # token Jaccard (or 0.7 containment) above which two sentences say the same thing
_REPEAT_CONTAINED = 0.7
_TITLE_REPEAT = 0.7  # a sentence that is the title again is not a digest sentence
_ELLIPSIS = "…"
# A digest sentence ends like one: headings, bylines, captions and cut-off lines do not (nor does "…قال:").
_SENTENCE_END = (".", "!", "?", "؟", "۔", "…", "»", "”", '"', ")")

# Sentence openers that lean on the previous sentence ("لكن", "وهذا", "كما أن"): a readability penalty.
_CONNECTIVES = tuple(
    normalize_arabic(phrase)
    for phrase in (
        "لكن", "ولكن", "لكنه", "لكنها", "إلا أن", "غير أن", "كما أن", "إلى ذلك", "إضافة إلى", "بالإضافة إلى",
        "ومع ذلك", "رغم ذلك", "لذلك", "ولذلك", "لذا", "ولهذا", "لهذا", "هذا", "وهذا", "هذه", "وهذه", "ذلك",
        "وذلك", "تلك", "وتلك", "هو", "وهو", "هي", "وهي", "هم", "وهم", "ثم", "كذلك", "أيضا", "وأيضا",
        "فيما", "بينما", "حيث", "إذ", "من جهة أخرى", "من جهته", "من جانبه", "في المقابل", "وفي المقابل",
    )
)  # fmt: skip
_CONNECTIVE_WORDS = 1 + max(len(phrase.split()) for phrase in _CONNECTIVES)  # enough words to tell
_CONNECTIVE_STARTS = frozenset(phrase.split()[0] for phrase in _CONNECTIVES)
_FOLDED = itemgetter(0)  # of a word's word_forms: its normalize_arabic form
_CONTENT_TOKENS = itemgetter(2)  # ... and its content tokens

FEATURES = (
    "pos_inv", "second", "log_index", "rel", "last", "para_inv", "cos_doc", "cos_lead", "cos_next",
    "content_ratio", "connective",
)  # fmt: skip
# Pairwise ranking weights, fitted on the EASC dev ids only (benchmarks/summaries.py --fit), rounded.
WEIGHTS = {
    "pos_inv": 0.194, "second": -1.305, "log_index": -1.679, "rel": -0.935, "last": 1.461, "para_inv": 0.756,
    "cos_doc": 2.212, "cos_lead": 1.419, "cos_next": 0.496, "content_ratio": 0.046, "connective": -0.71,
}  # fmt: skip


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence with where it sits and its content tokens."""

    text: str
    doc: int
    index: int
    n_in_doc: int
    paragraph: int
    para_first: bool
    words: int
    tokens: tuple[str, ...]  # content tokens, in order
    types: frozenset[str]
    connective: bool  # opens with a connective that needs the previous sentence

    @cached_property
    def tf(self) -> Counter[str]:
        """How often each content token occurs (the baselines of benchmarks/summaries.py use it)."""
        return Counter(self.tokens)


def sentences_of(text: str, doc: int = 0) -> list[Sentence]:
    """The sentences of a cleaned article (paragraphs separated by blank lines), in order."""
    placed = [
        (p_index, s_index, sentence, forms)
        for p_index, paragraph in enumerate(p for p in text.split("\n\n") if p.strip())
        for s_index, (sentence, forms) in enumerate(paragraph_forms(paragraph))
    ]
    out: list[Sentence] = []
    for index, (p_index, s_index, sentence, forms) in enumerate(placed):
        tokens = tuple(chain.from_iterable(map(_CONTENT_TOKENS, forms)))  # its words' tokens in turn
        out.append(
            _new_sentence(
                text=sentence,
                doc=doc,
                index=index,
                n_in_doc=len(placed),
                paragraph=p_index,
                para_first=s_index == 0,
                words=len(forms),
                tokens=tokens,
                types=frozenset(tokens),
                connective=_opens_with_connective(forms),
            )
        )
    return out


def _new_sentence(**fields: object) -> Sentence:
    """A Sentence made without calling its frozen __init__, which sets the fields one at a time (4× as costly)."""
    sentence = object.__new__(Sentence)
    sentence.__dict__.update(fields)  # the fields are passed in declaration order, as __init__ would store them
    return sentence


def _cosine(a: frozenset[str], b: frozenset[str] | set[str]) -> float:
    """Cosine similarity of two sets of tokens."""
    return len(a & b) / math.sqrt(len(a) * len(b)) if a and b else 0.0


def _opens_with_connective(forms: list[WordForms]) -> bool:
    """Whether a sentence, given its words' `word_forms`, opens with a connective that needs the previous sentence."""
    first = next(filter(None, map(_FOLDED, forms)), "")
    if first.split(" ", 1)[0] not in _CONNECTIVE_STARTS:
        return False  # the common case, told without joining the opening words
    return _starts_with_connective(" ".join(filter(None, map(_FOLDED, forms[:_CONNECTIVE_WORDS]))))


def _starts_with_connective(folded: str) -> bool:
    """Whether a normalised sentence opens with a connective that needs the previous sentence."""
    return folded.startswith(_CONNECTIVES) and any(
        folded == phrase or folded.startswith(phrase + " ") for phrase in _CONNECTIVES
    )


@lru_cache(maxsize=256)
def _title_tokens(title: str) -> tuple[str, ...]:
    """The content tokens of a title (cached: one digest looks at its title several times)."""
    return tuple(content_tokens(title))


def _open_quote(text: str) -> bool:
    """Whether a sentence leaves a quotation open or closes one it did not open (a fragment)."""
    return text.count('"') % 2 == 1 or text.count("«") != text.count("»") or text.count("“") != text.count("”")


def sentence_features(
    sentences: Sequence[Sentence], title: str, which: Sequence[int] | None = None
) -> list[tuple[float, ...]]:
    """The model features of each sentence (or of those at `which`), in FEATURES order, over all documents together."""
    df = Counter(chain.from_iterable(s.types for s in sentences))  # in how many sentences each token occurs
    total = sum(df.values())
    title_types = frozenset(_title_tokens(title))
    leads = {s.doc: s.types | title_types for s in sentences if s.index == 0}
    rows: list[tuple[float, ...]] = []
    for k in range(len(sentences)) if which is None else which:
        s = sentences[k]
        n = len(s.types)
        # how much of the sentence's vocabulary the other sentences share, cosine-like
        shared = sum(map(df.__getitem__, s.types)) - n
        following = k + 1 < len(sentences) and sentences[k + 1].doc == s.doc
        rows.append(
            (
                1.0 / (s.index + 1),  # pos_inv
                float(s.index == 1),  # second
                math.log(s.index + 1),  # log_index
                s.index / max(s.n_in_doc - 1, 1),  # rel
                float(s.index == s.n_in_doc - 1),  # last
                1.0 / (s.paragraph + 1),  # para_inv
                shared / math.sqrt(n * max(total - n, 1)) if n else 0.0,  # cos_doc
                1.0 if s.index == 0 else _cosine(s.types, leads.get(s.doc, title_types)),  # cos_lead
                _cosine(s.types, sentences[k + 1].types) if following else 0.0,  # cos_next
                n / max(s.words, 1),  # content_ratio
                float(s.connective),  # connective
            )
        )
    return rows


def sentence_scores(sentences: Sequence[Sentence], title: str, which: Sequence[int] | None = None) -> list[float]:
    """Each sentence's score exp(w·x), relative to the best one (so in (0, 1], the best is 1).

    With `which`, only those sentences are scored (the best among them is 1) and the others get 0.
    """
    weights = tuple(WEIGHTS[name] for name in FEATURES)
    z = [sum(map(mul, weights, row)) for row in sentence_features(sentences, title, which)]
    top = max(z, default=0.0)
    scores = [math.exp(max(v - top, -30.0)) for v in z]
    if which is None:
        return scores
    out = [0.0] * len(sentences)
    for k, score in zip(which, scores, strict=True):
        out[k] = score
    return out


def _repeats(a: Sentence, b: Sentence) -> bool:
    """Whether two sentences say nearly the same thing (token Jaccard or containment)."""
    ta, tb = a.types, b.types
    if not ta or not tb:
        return a.text == b.text
    shared = len(ta & tb)
    return shared / (len(ta) + len(tb) - shared) >= _REPEAT or shared / min(len(ta), len(tb)) >= _REPEAT_CONTAINED


def _well_formed(s: Sentence, title_types: frozenset[str]) -> bool:
    """Whether a sentence reads as a digest sentence: long enough, complete, quotes closed, not the title again."""
    if s.words < _MIN_WORDS or not s.text.endswith(_SENTENCE_END) or _open_quote(s.text):
        return False
    if title_types and s.types:
        shared = len(s.types & title_types)
        return shared / (len(s.types) + len(title_types) - shared) < _TITLE_REPEAT
    return True


def _usable(s: Sentence, title_types: frozenset[str]) -> bool:
    """Whether a sentence may appear in a digest: well formed and not boilerplate."""
    return _well_formed(s, title_types) and not match_boilerplate(s.text)


def select(
    sentences: Sequence[Sentence],
    scores: Sequence[float],
    max_words: int,
    title: str = "",
    *,
    well_formed: Collection[int] | None = None,
) -> list[Sentence]:
    """The best set of at most three non-repeating usable sentences within `max_words`, in reading order.

    Reading order is source order for one article; across articles, position in the article comes first
    (leads before later sentences), then article order.

    Empty when no usable sentence fits. Sentences that are not usable (too short, boilerplate, the
    title again) are considered only when the text has no usable sentence at all. The (costly) boilerplate
    rules are checked on the sentences a digest would use, and the choice is made again without any that match.
    `well_formed` may give the positions of the sentences within `max_words` that `_well_formed` accepts (if known).
    """
    title_types = frozenset(_title_tokens(title))
    ranked = sorted((i for i, s in enumerate(sentences) if s.words <= max_words), key=lambda i: -scores[i])
    if well_formed is None:
        candidates = [i for i in ranked if _well_formed(sentences[i], title_types)]
    else:
        candidates = [i for i in ranked if i in well_formed]
    while True:
        pool = candidates[:_POOL]
        if not pool:
            if any(_usable(s, title_types) for s in sentences):
                return []
            pool = ranked[:_POOL]
        best = _best_combination([sentences[i] for i in pool], [scores[i] for i in pool], max_words)
        chosen = [pool[k] for k in best]
        boilerplate = {i for i in chosen if i in candidates and match_boilerplate(sentences[i].text)}
        if not boilerplate:
            return sorted((sentences[i] for i in chosen), key=lambda s: (s.index, s.doc))
        candidates = [i for i in candidates if i not in boilerplate]


def _best_combination(pool: Sequence[Sentence], scores: Sequence[float], max_words: int) -> tuple[int, ...]:
    """Positions in `pool` of the at most three non-repeating sentences within `max_words` of largest Σ score·words.

    At equal value the combination met first (in pool order) wins.
    """
    n = len(pool)
    words = [s.words for s in pool]
    value = [score * w for score, w in zip(scores, words, strict=True)]
    repeats: dict[tuple[int, int], bool] = {}

    def apart(i: int, j: int) -> bool:
        if (i, j) not in repeats:
            repeats[i, j] = _repeats(pool[i], pool[j])
        return not repeats[i, j]

    best_value, best = -1.0, ()
    for i in range(n):
        if words[i] > max_words:
            continue
        if value[i] > best_value:
            best_value, best = value[i], (i,)
        for j in range(i + 1, n):
            length = words[i] + words[j]
            if length > max_words or not apart(i, j):
                continue
            pair = value[i] + value[j]
            if pair > best_value:
                best_value, best = pair, (i, j)
            for k in range(j + 1, n):
                if length + words[k] <= max_words and value[k] + pair > best_value and apart(i, k) and apart(j, k):
                    best_value, best = pair + value[k], (i, j, k)
    return best


def _display(s: Sentence) -> str:
    """A chosen sentence as shown: verbatim, without a leading dateline."""
    return strip_dateline(s.text) if s.index == 0 or s.para_first else s.text


def _cut(text: str, max_words: int) -> str:
    """The first words of a text within `max_words`, ending in "…"."""
    words = text.split()
    return " ".join(words[:max_words]).rstrip("،,;؛:") + _ELLIPSIS


def _digest(title: str, sentences: list[Sentence], max_words: int) -> list[str]:
    """The digest sentences of already split sentences (one or more documents)."""
    if not sentences or max_words <= 0:
        return []
    title_types = frozenset(_title_tokens(title))
    # Only sentences that fit and read as digest sentences can be chosen: only they need a score.
    which = [k for k, s in enumerate(sentences) if s.words <= max_words and _well_formed(s, title_types)]
    scores = sentence_scores(sentences, title, which or None)
    chosen = select(sentences, scores, max_words, title, well_formed=frozenset(which))
    if chosen:
        return [_display(s) for s in chosen]
    # Nothing fits: the first usable sentence, cut at a word boundary and marked with "…".
    first = next((s for s in sentences if _usable(s, title_types)), sentences[0])
    return [_cut(_display(first), max_words)]


def summary_sentences(title: str, text: str, max_words: int = 60, *, cleaned: bool = False) -> list[str]:
    """The sentences `summarize` joins: 1-3 sentences of the cleaned text, in source order.

    `cleaned=True` says the text already went through `news.extract.clean_text` (skips cleaning it again).
    """
    return _digest(title, sentences_of(text if cleaned else clean_text(text)), max_words)


def summarize(title: str, text: str, max_words: int = 60, *, cleaned: bool = False) -> str:
    """An extractive digest of one article: 1-3 of its sentences, verbatim and in order, within `max_words` words.

    Words are whitespace-separated tokens. A leading dateline ("ميدل ايست نيوز: ") is left out of a
    sentence. When no sentence fits the budget, the digest is the first sentence cut at a word boundary
    and ending in "…" (the only case where a sentence is shortened). Empty text gives "".
    """
    return " ".join(summary_sentences(title, text, max_words, cleaned=cleaned))


def summarize_many(title: str, texts: list[str], max_words: int = 60, *, cleaned: bool = False) -> str:
    """An extractive digest of a story told by several articles, drawing on all of them without repeats.

    Sentences keep their position within their own article; centrality is measured over the whole
    story, so facts several articles agree on rank higher. The chosen sentences are ordered by their
    position in their article (leads first), then by article order. `cleaned`: the texts are already
    clean_text's output (stored articles are), so they are not cleaned again.
    """
    sentences: list[Sentence] = []
    for doc, text in enumerate(texts):
        sentences.extend(sentences_of(text if cleaned else clean_text(text), doc))
    return " ".join(_digest(title, sentences, max_words))
