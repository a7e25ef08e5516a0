"""Followable topics: parse /follow queries (Arabic or English) and decide what a story is about (pure).

The gazetteer (news/data/gazetteer.toml) lists countries, organisations and subjects with their names,
spellings, demonyms, capitals, places, dated leaders and traps. Text is matched on normalised tokens
(news.normalize) with one left-to-right pass over a token trie; Arabic proclitics (و ف ب ل ك ال and their
combinations such as وال، بال، لل، وللـ) are stripped by generating a handful of variants per token, so no
per-alias regular expression is ever built. A story is *about* an entity when the entity is in the title or
the lead, or is mentioned repeatedly; a pair topic needs both entities salient or an explicit relation
(the rules are listed in `_salient` and `_related_pairs`).

Speed: text is folded once per story; the clitic variants, light stems and relation cues of a token are cached
(bounded LRU caches, the vocabulary of news is small), and keyword keys are computed only for the keywords a
caller says are followed (`story_topic_keys(..., keywords=...)`).
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import re
import tomllib
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import chain, combinations, compress, count, pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from news.normalize import fold_letters, normalize_arabic, words

GAZETTEER_PATH = Path(__file__).resolve().parent / "data" / "gazetteer.toml"

KINDS = ("country", "organisation", "subject")
# Alias kinds; "actor" kinds stand for a government or its officials (used for the explicit-relation rule).
ACTOR_KINDS = frozenset({"demonym", "seat", "person"})
MAX_ENTITIES = 2
KEYWORD_MAX_WORDS = 3
KEYWORD_MAX_CHARS = 40
QUERY_MAX_CHARS = 120

# Salience (tuned on shared/eval/topics-dev.jsonl only; the rules are documented in _salient).
LEAD_MAX_SENTENCES = 2
LEAD_MAX_TOKENS = 60
LEAD_MIN_SHARE = 0.5  # a lead mention counts when the entity has ≥ half the mentions of the top entity …
LEAD_MIN_REFERENCES = 2  # … or when the lead refers to it this often, once in its first sentence
REFERENCE_GAP = 1  # mentions of one entity at most this many tokens apart are one reference ("السعودي عادل الجبير")
LIST_MIN_ITEMS = 3  # this many different names run together are an enumeration ("سورية والعراق واليمن وليبيا")
REPEAT_MIN_MENTIONS = 7  # otherwise: this many mentions …
REPEAT_MIN_SHARE = 0.4  # … and ≥ this share of the top entity's
TOKEN_CACHE_SIZE = 1 << 16  # distinct tokens whose clitic variants, stems and cue status are remembered
RECENT_SPLITS = 4  # texts whose sentence split is remembered (for news.dedupe.fingerprint right after tagging)
RELATION_WINDOW = 3  # at most this many tokens between two actors of an explicit relation
RELATION_CUE_REACH = 3  # the cue may stand this many tokens before the first actor

_NISBA_SUFFIXES = ("", "ة", "ون", "ين", "ان", "تان", "تين", "ات")
_ENTITY_KEYS = frozenset(
    {
        "id",
        "kind",
        "ar",
        "en",
        "names",
        "nisba",
        "forms",
        "demonyms_en",
        "seats",
        "places",
        "people",
        "codes",
        "traps",
        "exclude",
        "implies",
    }
)
_LIST_KEYS = ("names", "nisba", "forms", "demonyms_en", "seats", "places", "codes", "traps", "exclude", "implies")
_PERSON_KEYS = frozenset({"name", "from", "until"})
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_WORD = re.compile(r"\w+")  # the tokeniser of news.normalize.words, applied to text folded once per story
# fold_letters, character by character: what it drops (diacritics, tatweel) and what it replaces (ة → ه …).
_FOLDED = {c: fold_letters(c) for c in map(chr, range(0x0600, 0x0700)) if fold_letters(c) != c}
_FOLD_DROP = re.compile("[" + "".join(c for c, f in _FOLDED.items() if not f) + "]")
_FOLD_LETTERS = tuple((c, f) for c, f in _FOLDED.items() if f)
_SENTENCE_END = re.compile(r"[.!?؟]\s+")  # the stop itself is no token, so it may go with the space
# A sentence end or a line break (paragraphs end sentences too); written to start with one character class, which
# the regex engine scans for fast (as "[.!?؟]\s+|\n", a third of the cost of splitting a story).
_BOUNDARY = re.compile(r"[\n.!?؟](?:(?<=\n)|\s+)")
_QUERY_SEPARATORS = re.compile(r"\s*(?:[-–—&/+,،|×]|\band\b|\bvs\.?\b|\bversus\b|\s+و\s+)\s*", re.IGNORECASE)
_PROCLITIC_STARTS = frozenset("وفبلكا")
# Every proclitic prefix token_variants strips: conjunction, preposition, article, and لل.
_PREFIXES = frozenset(
    [c + p + a for c in ("", "و", "ف") for p in ("", "ب", "ل", "ك") for a in ("", "ال")]
    + [c + "لل" for c in "وف"]
    + ["لل"]
)
_ENUMERABLE_KINDS = frozenset({"name", "place"})  # enumerations are of names ("سورية والعراق"), not of officials
_END = ""  # trie key of the payload (a token is never empty)
_LIGHT_STEM_PREFIXES = ("", "بال", "كال", "لل", "ال", "ب", "ل", "ك")  # light_stem tries them in this order

# Words a /follow query may contain besides names ("Iran and Russia", "العلاقات الإيرانية الروسية").
_QUERY_FILLERS = frozenset(
    words(
        "and vs versus with between the of news relations ties topic "
        "و بين مع اخبار أخبار العلاقات علاقات العلاقة علاقة ملف"
    )
)
# Function words that cannot be followed on their own as keywords.
_STOP_WORDS = frozenset(
    words(
        "في من على إلى الى عن مع أن ان إن التي الذي الذين اللذين هذا هذه ذلك تلك هناك كان كانت يكون قد لا ما "
        "لم لن هو هي هم بين بعد قبل حتى أو او ثم كل عند أمس اليوم وقال قال وأضاف "
        "the of and to in a an is are was for on with by at from that this it as be"
    )
)
# Words that make a sentence an explicit relation between two actors ("استقبل وزير الخارجية الروسي … في طهران").
_RELATION_CUES = tuple(
    words(
        "التقى يلتقي تلتقي لقاء استقبل يستقبل استقبال زيارة زار يزور تزور محادثات مباحثات مشاورات "
        "اتصال اتصالا هاتفي نظير نظيره نظيرها اجتماع اجتمع يجتمع قمة بحث يبحث تبحث سيبحث سيبحثان "
        "ناقش يناقش وصل يصل اتفاق اتفاقية تعاون التعاون العلاقات علاقات بين البلدين وفد"
    )
)


class GazetteerError(ValueError):
    """The gazetteer file is malformed; the message names the bad entry."""


@dataclass(frozen=True)
class Topic:
    """A followable topic: one or two gazetteer entities, or a free keyword."""

    key: str
    entities: tuple[str, ...]
    name_ar: str
    name_en: str

    def name(self, lang: str = "ar") -> str:
        """Display name in the user's language (English when lang starts with "en", else Arabic)."""
        return self.name_en if lang.lower().startswith("en") else self.name_ar


@dataclass(frozen=True)
class Entity:
    """One gazetteer entry (country, organisation or subject)."""

    id: str
    kind: str
    name_ar: str
    name_en: str
    implies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Alias:
    """What one trie pattern stands for: an entity mention of some kind, valid between two dates."""

    entity: str
    kind: str  # name | demonym | seat | place | person | code | trap
    since: date | None = None
    until: date | None = None

    def active(self, when: date | None) -> bool:
        """Whether the alias applies on a day (without a day: whether it is still current)."""
        if when is None:
            return self.until is None
        return (self.since is None or self.since <= when) and (self.until is None or when < self.until)


@dataclass(frozen=True)
class Gazetteer:
    """The loaded gazetteer: entities, the story matcher and the /follow query matcher."""

    entities: Mapping[str, Entity]
    trie: Mapping[str, Any]  # story patterns: nested dicts keyed by token, aliases under ""
    query_trie: Mapping[str, Any]  # the same plus query-only codes ("US", "UAE")
    fuzzy_names: tuple[tuple[str, str], ...]  # (normalised name, entity id), for suggest()
    starts: Mapping[str, tuple[Mapping[str, Any], ...]]  # first-token index of trie (see _build_starts)
    query_starts: Mapping[str, tuple[Mapping[str, Any], ...]]  # … and of query_trie
    # Start form → the alias matched undated when the next token continues no pattern, and the tokens that do
    undated: Mapping[str, tuple[Alias | None, frozenset[str]]]


_Undated = tuple["Alias | None", frozenset[str]]  # see Gazetteer.undated


class Mention(NamedTuple):
    """One entity mention found in a story (a named tuple: stories have dozens, made for every article)."""

    entity: str
    kind: str
    sentence: int  # -1 for the title
    start: int  # token span in the sentence
    end: int
    in_lead: bool


@dataclass(frozen=True)
class _Story:
    """A story split for matching: normalised title tokens, sentences and where the lead ends."""

    title: tuple[str, ...]
    sentences: tuple[tuple[str, ...], ...]
    lead_sentences: int


# --- Gazetteer loading ----------------------------------------------------------------------------


def load_gazetteer(path: Path | str = GAZETTEER_PATH) -> Gazetteer:
    """Read and validate a gazetteer TOML file; raise GazetteerError naming the bad entry."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise GazetteerError(f"{path}: cannot read gazetteer: {exc}") from exc
    raw = data.get("entity")
    if not isinstance(raw, list) or not raw:
        raise GazetteerError(f"{path}: no [[entity]] tables")
    entities: dict[str, Entity] = {}
    patterns: dict[tuple[str, ...], list[Alias]] = {}
    owner: dict[tuple[str, ...], str] = {}
    fuzzy: list[tuple[str, str]] = []
    for index, entry in enumerate(raw):
        where = f"{path}: entity #{index + 1}"
        entity, aliases = _parse_entry(entry, where)
        where = f"{path}: entity {entity.id!r}"
        if entity.id in entities:
            raise GazetteerError(f"{where}: duplicate id")
        entities[entity.id] = entity
        for text, alias in aliases:
            tokens = tuple(words(text))
            if not tokens:
                raise GazetteerError(f"{where}: alias {text!r} has no letters")
            other = owner.get(tokens)
            if other is not None and other != entity.id:
                raise GazetteerError(f"{where}: alias {text!r} already belongs to {other!r}")
            owner[tokens] = entity.id
            bucket = patterns.setdefault(tokens, [])
            if alias not in bucket:
                bucket.append(alias)
            if alias.kind in ("name", "demonym", "seat", "code"):
                fuzzy.append((" ".join(tokens), entity.id))
    for entity in entities.values():
        for implied in entity.implies:
            if implied not in entities:
                raise GazetteerError(f"{path}: entity {entity.id!r}: implies unknown id {implied!r}")
    story = {k: v for k, v in patterns.items() if all(a.kind != "code" for a in v)}
    trie, query_trie = _build_trie(story), _build_trie(patterns)
    return Gazetteer(
        entities=MappingProxyType(entities),
        trie=trie,
        query_trie=query_trie,
        fuzzy_names=tuple(dict.fromkeys(fuzzy)),
        starts=(starts := _build_starts(trie)),
        query_starts=_build_starts(query_trie),
        undated=_build_undated(starts),
    )


def _parse_entry(entry: Any, where: str) -> tuple[Entity, list[tuple[str, Alias]]]:
    """Validate one [[entity]] table and list its (alias text, Alias) pairs."""
    if not isinstance(entry, dict):
        raise GazetteerError(f"{where}: not a table")
    ident = entry.get("id")
    if not isinstance(ident, str) or not _ID.match(ident):
        raise GazetteerError(f"{where}: id {ident!r} must be lower-case ascii ([a-z][a-z0-9_]*)")
    where = f"{where} {ident!r}"
    unknown = set(entry) - _ENTITY_KEYS
    if unknown:
        raise GazetteerError(f"{where}: unknown field(s) {sorted(unknown)}")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise GazetteerError(f"{where}: kind {kind!r} must be one of {KINDS}")
    for key in ("ar", "en"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise GazetteerError(f"{where}: missing display name {key!r}")
    lists: dict[str, list[str]] = {}
    for key in _LIST_KEYS:
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise GazetteerError(f"{where}: {key!r} must be a list of non-empty strings")
        lists[key] = value
    for base in lists["nisba"]:
        if not normalize_arabic(base).endswith("ي"):
            raise GazetteerError(f"{where}: nisba {base!r} must end in ي")
    aliases: list[tuple[str, Alias]] = []
    for text in [entry["ar"], entry["en"], *lists["names"]]:
        aliases.append((text, Alias(ident, "name")))
    excluded = {normalize_arabic(x) for x in lists["exclude"]}
    nisba_forms = [base + suffix for base in lists["nisba"] for suffix in _NISBA_SUFFIXES]
    for text in [*nisba_forms, *lists["forms"]]:
        if normalize_arabic(text) not in excluded:
            aliases.append((text, Alias(ident, "demonym")))
    for text in lists["demonyms_en"]:
        aliases += [(text, Alias(ident, "demonym")), (text + "s", Alias(ident, "demonym"))]
    aliases += [(text, Alias(ident, "seat")) for text in lists["seats"]]
    aliases += [(text, Alias(ident, "place")) for text in lists["places"]]
    aliases += [(text, Alias(ident, "code")) for text in lists["codes"]]
    aliases += [(text, Alias(ident, "trap")) for text in lists["traps"]]
    people = entry.get("people", [])
    if not isinstance(people, list):
        raise GazetteerError(f"{where}: 'people' must be a list of tables")
    for person in people:
        aliases.append(_parse_person(person, ident, where))
    entity = Entity(ident, kind, entry["ar"].strip(), entry["en"].strip(), tuple(lists["implies"]))
    return entity, aliases


def _parse_person(person: Any, ident: str, where: str) -> tuple[str, Alias]:
    """Validate one {name, from, until} person entry."""
    if not isinstance(person, dict) or set(person) - _PERSON_KEYS:
        raise GazetteerError(f"{where}: person {person!r} must be a table with name/from/until")
    name = person.get("name")
    if not isinstance(name, str) or not name.strip():
        raise GazetteerError(f"{where}: person {person!r} has no name")
    since, until = person.get("from"), person.get("until")
    for value in (since, until):
        if value is not None and not (isinstance(value, date) and not hasattr(value, "hour")):
            raise GazetteerError(f"{where}: person {name!r}: dates must be TOML dates (YYYY-MM-DD)")
    if since is not None and until is not None and until <= since:
        raise GazetteerError(f"{where}: person {name!r}: 'until' {until} is not after 'from' {since}")
    return name, Alias(ident, "person", since, until)


def _build_trie(patterns: Mapping[tuple[str, ...], list[Alias]]) -> Mapping[str, Any]:
    """A token trie: nested dicts keyed by token, payload (aliases) under the empty key."""
    root: dict[str, Any] = {}
    for tokens, aliases in patterns.items():
        node = root
        for token in tokens:
            node = node.setdefault(token, {})
        node[_END] = tuple(aliases)
    return root


def _build_starts(trie: Mapping[str, Any]) -> Mapping[str, tuple[Mapping[str, Any], ...]]:
    """Every written form of a pattern's first token (with any proclitics) → the trie nodes it enters.

    A token T enters the node of a first token F when F is one of token_variants(T); T is then F behind one
    of a few proclitic prefixes, so all such T are generated from F and checked with token_variants itself.
    Matching then costs one dictionary lookup per token of a story.
    """
    starts: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for first in trie:
        forms = {prefix + first for prefix in _PREFIXES}
        if first.startswith("ال"):
            forms |= {conj + "لل" + first[2:] for conj in ("", "و", "ف")}
        for form in forms:
            if form not in starts:
                nodes = tuple(trie[v] for v in token_variants(form) if v in trie)
                if nodes:
                    starts[form] = nodes
    return MappingProxyType(starts)


def _build_undated(starts: Mapping[str, tuple[Mapping[str, Any], ...]]) -> Mapping[str, _Undated]:
    """Every start form → its one-token match without a date (the first current alias of the first node that has
    one, as _scan finds it; None if none) and the tokens that may follow it in a longer pattern (most: none).

    A plain dict (looked up for every token of a story); never changed once built.
    """
    undated: dict[str, _Undated] = {}
    known: dict[tuple[int, ...], _Undated] = {}  # forms entering the same nodes share their answer
    for form, nodes in starts.items():
        key = tuple(map(id, nodes))
        if key not in known:
            current = (a for node in nodes for a in node.get(_END, ()) if a.active(None))
            known[key] = (next(current, None), frozenset(t for node in nodes for t in node if t != _END))
        undated[form] = known[key]
    return undated


@functools.cache
def default_gazetteer() -> Gazetteer:
    """The bundled gazetteer, loaded once."""
    return load_gazetteer(GAZETTEER_PATH)


# --- Matching -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def token_variants(token: str) -> tuple[str, ...]:
    """A normalised token and its forms without Arabic proclitics (و ف، ب ل ك، ال، لل)."""
    if not token or token[0] not in _PROCLITIC_STARTS:
        return (token,)
    out = [token]
    for conj in ("", "و", "ف"):
        if not token.startswith(conj) or len(token) - len(conj) < 2:
            continue
        rest = token[len(conj) :]
        for prep in ("", "ب", "ل", "ك"):
            if not rest.startswith(prep):
                continue
            if prep == "ل" and rest.startswith("لل") and len(rest) > 3:
                out += ["ال" + rest[2:], rest[2:]]
            stem = rest[len(prep) :]
            if (conj or prep) and len(stem) >= 2:
                out.append(stem)
            if stem.startswith("ال") and len(stem) > 3:
                out.append(stem[2:])
    return tuple(dict.fromkeys(out))


def _scan(
    tokens: tuple[str, ...],
    starts: Mapping[str, tuple[Mapping[str, Any], ...]],
    when: date | None,
    undated: Mapping[str, _Undated] | None = None,
) -> list[tuple[int, int, Alias]]:
    """Leftmost-longest matches of the trie (entered through its first-token index) in a token sequence.

    `undated` (Gazetteer.undated; only without a date) answers at once where the next token continues no pattern.
    """
    n, covered, found = len(tokens), 0, []
    for i in compress(range(n), map((starts if undated is None else undated).get, tokens)):
        if i < covered:
            continue
        token = tokens[i]
        if undated is not None:
            alias, following = undated[token]
            if i + 1 == n or tokens[i + 1] not in following:
                if alias is not None:
                    found.append((i, i + 1, alias))
                    covered = i + 1
                continue
        best: tuple[int, Alias] | None = None
        for node in starts[token]:
            j = i + 1
            while node is not None:
                payload = node.get(_END)
                if payload and (best is None or j > best[0]):
                    active = [a for a in payload if a.active(when)]
                    if active:
                        best = (j, active[0])
                if j >= n:
                    break
                node = node.get(tokens[j])
                j += 1
        if best is not None:
            found.append((i, *best))
            covered = best[0]
    return found


def _fold(text: str) -> str:
    """A whole text folded like news.normalize.normalize_arabic (line breaks kept), with str.replace.

    Same result as fold_letters(NFKC(text)).lower(), several times faster than str.translate on long texts.
    """
    text = _FOLD_DROP.sub("", unicodedata.normalize("NFKC", text))
    for letter, folded in _FOLD_LETTERS:
        if letter in text:
            text = text.replace(letter, folded)
    return text.lower()


def _tokens(text: str) -> tuple[str, ...]:
    """The word tokens of a folded text."""
    return tuple(_WORD.findall(text))


def text_words(text: str) -> list[str]:
    """news.normalize.words(text), faster: folded without collapsing spaces, or taken from a recent split_text."""
    split = _RECENT_SPLITS.get(text)
    if split is not None:
        return list(chain.from_iterable(split.sentences))
    return _WORD.findall(_fold(text))


class TextSplit(NamedTuple):
    """A text's sentences as normalised word tokens, and how many of them are the lead."""

    sentences: tuple[tuple[str, ...], ...]
    lead_sentences: int


_RECENT_SPLITS: dict[str, TextSplit] = {}  # split_text of the last RECENT_SPLITS texts, oldest first


def split_text(text: str) -> TextSplit:
    """A text's sentences and lead (first paragraph, at most 2 sentences), remembered for the last few texts.

    The ingest tags a story and then fingerprints it (news.dedupe), which takes the words from here.
    """
    split = _RECENT_SPLITS.get(text)
    if split is None:
        # The lead paragraph is the first line with anything but spaces; sentence ends and line breaks both end
        # a sentence, so the rest is split at either in one go (a stop and a line break are one boundary).
        head, _, rest = _fold(text).lstrip().partition("\n")
        lead = list(filter(None, map(tuple, map(_WORD.findall, _SENTENCE_END.split(head)))))
        sentences = lead + list(filter(None, map(tuple, map(_WORD.findall, _BOUNDARY.split(rest)))))
        split = _RECENT_SPLITS[text] = TextSplit(tuple(sentences), min(len(lead), LEAD_MAX_SENTENCES))
        if len(_RECENT_SPLITS) > RECENT_SPLITS:
            # another thread may change the dict meanwhile (ingest in a thread beside the bot's handlers)
            with contextlib.suppress(RuntimeError, StopIteration):
                _RECENT_SPLITS.pop(next(iter(_RECENT_SPLITS)), None)
    return split


def _split_story(title: str, text: str) -> _Story:
    """Tokenise a story into title, sentences and lead (first paragraph, at most 2 sentences / 60 words)."""
    body = split_text(text)
    return _Story(_tokens(_fold(title)), body.sentences, body.lead_sentences)


def _lead_limits(story: _Story) -> list[int]:
    """How many leading tokens of each sentence belong to the lead."""
    budget, limits = LEAD_MAX_TOKENS, []
    for index, sentence in enumerate(story.sentences):
        take = min(len(sentence), budget) if index < story.lead_sentences else 0
        limits.append(take)
        budget -= take
    return limits


def find_mentions(title: str, text: str, when: date | None = None, gazetteer: Gazetteer | None = None) -> list[Mention]:
    """Every entity mention in a story, in reading order (implied entities included, traps dropped)."""
    return _mentions(_split_story(title, text), when, gazetteer or default_gazetteer())


def _mentions(story: _Story, when: date | None, gaz: Gazetteer) -> list[Mention]:
    """Mentions in a split story."""
    found: list[Mention] = []
    undated = gaz.undated if when is None else None
    parts = [(-1, story.title, len(story.title)), *zip(count(), story.sentences, _lead_limits(story))]
    for index, tokens, lead_limit in parts:
        # (no check first that a token enters the trie: most sentences have one, and looking up is what costs)
        for start, end, alias in _scan(tokens, gaz.starts, when, undated):
            if alias.kind == "trap":
                continue
            in_lead = index >= 0 and start < lead_limit
            found.append(Mention(alias.entity, alias.kind, index, start, end, in_lead))
            for implied in gaz.entities[alias.entity].implies:
                found.append(Mention(implied, "implied", index, start, end, in_lead))
    return found


def _salient(mentions: Iterable[Mention]) -> frozenset[str]:
    """The entities a story is about, from its mentions. Each rule alone makes an entity salient:

    1. it is in the title;
    2. it is in the lead (first paragraph, ≤ 2 sentences / 60 words) and has at least LEAD_MIN_SHARE of the
       mentions of the most mentioned entity;
    3. the lead refers to it at least LEAD_MIN_REFERENCES times, once in its first sentence (the lead keeps
       coming back to it even when a longer background story mentions another entity more);
    4. it is mentioned at least REPEAT_MIN_MENTIONS times and has REPEAT_MIN_SHARE of the top entity's mentions.

    Mentions of one entity REFERENCE_GAP tokens apart are one reference ("وزير الخارجية السعودي عادل الجبير").
    Names in an enumeration (LIST_MIN_ITEMS different names run together, "سورية والعراق واليمن وليبيا") are
    passing mentions: they still count towards rules 2 and 4 but are not lead references (rules 2 and 3).
    """
    mentions = list(mentions)
    counts = Counter(m.entity for m in mentions)
    if not counts:
        return frozenset()
    top = max(counts.values())
    listed = _enumerated(mentions)
    lead = _references(m for m in mentions if m.in_lead and (m.sentence, m.start) not in listed)
    salient = {m.entity for m in mentions if m.sentence < 0}
    salient |= {m.entity for m in lead if counts[m.entity] >= LEAD_MIN_SHARE * top}
    references = Counter(m.entity for m in lead)
    salient |= {m.entity for m in lead if m.sentence == 0 and references[m.entity] >= LEAD_MIN_REFERENCES}
    salient |= {e for e, c in counts.items() if c >= REPEAT_MIN_MENTIONS and c >= REPEAT_MIN_SHARE * top}
    return frozenset(salient)


def _enumerated(mentions: Iterable[Mention]) -> set[tuple[int, int]]:
    """(sentence, start) of the body mentions that are items of an enumeration of names.

    An enumeration is a run of name or place mentions with nothing between them but their clitics
    ("وسورية والعراق ولبنان") naming at least LIST_MIN_ITEMS different entities; titles are never enumerations.
    """
    by_sentence: dict[int, list[Mention]] = {}
    for m in mentions:
        if m.sentence >= 0 and m.kind in _ENUMERABLE_KINDS:
            by_sentence.setdefault(m.sentence, []).append(m)
    listed: set[tuple[int, int]] = set()
    for found in by_sentence.values():
        found.sort(key=lambda m: m.start)
        runs = [[found[0]]]
        for previous, m in pairwise(found):
            if m.start == previous.end:
                runs[-1].append(m)
            else:
                runs.append([m])
        for run in runs:
            if len({m.entity for m in run}) >= LIST_MIN_ITEMS:
                listed |= {(m.sentence, m.start) for m in run}
    return listed


def _references(mentions: Iterable[Mention]) -> list[Mention]:
    """Mentions with those of the same entity right after another (≤ REFERENCE_GAP tokens) folded into one."""
    kept: list[Mention] = []
    last_end: dict[tuple[str, int], int] = {}
    for m in sorted(mentions, key=lambda m: (m.sentence, m.start)):
        end = last_end.get((m.entity, m.sentence))
        last_end[(m.entity, m.sentence)] = m.end
        if end is None or m.start - end > REFERENCE_GAP:
            kept.append(m)
    return kept


def _related_pairs(story: _Story, mentions: Iterable[Mention], salient: frozenset[str]) -> set[tuple[str, str]]:
    """Pairs (one side salient) whose actors meet explicitly in the title or lead, or in ≥ 2 sentences.

    Actors are officials, seats or demonyms at most RELATION_WINDOW tokens apart with a relation cue just
    before or between them, e.g. "استقباله وزير الخارجية الروسي سيرغي لافروف، في طهران".
    """
    by_sentence: dict[int, list[Mention]] = {}
    for m in mentions:
        if m.kind in ACTOR_KINDS:
            by_sentence.setdefault(m.sentence, []).append(m)
    seen: dict[tuple[str, str], set[int]] = {}
    for index, actors in by_sentence.items():
        tokens = story.title if index < 0 else story.sentences[index]
        actors.sort(key=lambda m: m.start)
        for i, first in enumerate(actors):
            for second in actors[i + 1 :]:
                if second.start - first.end > RELATION_WINDOW:
                    break
                if first.entity == second.entity or not {first.entity, second.entity} & salient:
                    continue
                if _has_cue(tokens[max(0, first.start - RELATION_CUE_REACH) : second.end + 1]):
                    a, b = sorted((first.entity, second.entity))
                    seen.setdefault((a, b), set()).add(index)
    return {
        pair
        for pair, sentences in seen.items()
        if len(sentences) >= 2 or any(i < story.lead_sentences for i in sentences)
    }


def _has_cue(tokens: Iterable[str]) -> bool:
    """Whether a sentence contains a relation cue word."""
    return any(_is_cue(token) for token in tokens)


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def _is_cue(token: str) -> bool:
    """Whether a token (with or without its clitics) is a relation cue word or starts with a long one."""
    return any(
        variant == cue or (len(cue) >= 4 and variant.startswith(cue))
        for variant in token_variants(token)
        for cue in _RELATION_CUES
    )


def salient_entities(
    title: str, text: str, when: date | None = None, gazetteer: Gazetteer | None = None
) -> frozenset[str]:
    """Ids of the entities and subjects a story is about (title, lead or repeated mentions)."""
    return _salient(find_mentions(title, text, when, gazetteer))


def candidate_keys(entities: Iterable[str]) -> set[str]:
    """Every entity topic key matched by a story with these salient entities: singles and sorted pairs."""
    ids = sorted(set(entities))
    return set(ids) | {f"{a}+{b}" for a, b in combinations(ids, 2)}


def story_topic_keys(
    title: str,
    text: str,
    when: date | None = None,
    gazetteer: Gazetteer | None = None,
    *,
    keywords: Collection[str] | KeywordIndex | None = None,
) -> set[str]:
    """Every topic key a story matches: salient singles and pairs, explicitly related pairs, keywords.

    `keywords` are the "kw:" keys worth checking (those some chat follows): only they can be returned, which
    keeps ingest cheap; pass a keyword_index() built once per batch when there are many. Without it every
    prominent 1–3 word sequence of the story is returned as a "kw:" key (slower; the original behaviour).
    """
    gaz = gazetteer or default_gazetteer()
    story = _split_story(title, text)
    mentions = _mentions(story, when, gaz)
    salient = _salient(mentions)
    keys = candidate_keys(salient)
    keys |= {f"{a}+{b}" for a, b in _related_pairs(story, mentions, salient)}
    if keywords is None:
        return keys | _keyword_keys(story)
    return keys | _followed_keyword_keys(story, keywords)


def topic_matches(
    topic: Topic, title: str, text: str, when: date | None = None, gazetteer: Gazetteer | None = None
) -> bool:
    """Whether a story matches a topic (pairs: both salient or explicitly related; keywords: prominent)."""
    if topic.key.startswith("kw:"):
        return bool(_followed_keyword_keys(_split_story(title, text), (topic.key,)))
    return topic.key in story_topic_keys(title, text, when, gazetteer, keywords=())


# --- Keywords -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)
def light_stem(token: str) -> str:
    """A normalised token without its leading conjunction, preposition and article (keeps ≥ 3 letters)."""
    if not _ARABIC_LETTER.match(token):
        return token
    if token[0] in "وف" and len(token) > 3:
        token = token[1:]
    for prefix in _LIGHT_STEM_PREFIXES[1:]:
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            return token[len(prefix) :]
    return token


def _stemmed_parts(story: _Story) -> Iterator[tuple[list[str], int]]:
    """The light stems of the title and of each sentence, with how many of them belong to the title or lead."""
    limits = _lead_limits(story)
    for index, tokens in enumerate((story.title, *story.sentences)):
        yield list(map(light_stem, tokens)), (len(tokens) if index == 0 else limits[index - 1])


def _keyword_keys(story: _Story) -> set[str]:
    """kw: keys for the 1–3 word sequences in the title or lead, or repeated in the story."""
    prominent: set[tuple[str, ...]] = set()
    counts: Counter[tuple[str, ...]] = Counter()
    for stems, lead in _stemmed_parts(story):
        for n in range(1, KEYWORD_MAX_WORDS + 1):
            for start in range(len(stems) - n + 1):
                gram = tuple(stems[start : start + n])
                counts[gram] += 1
                if start + n <= lead:
                    prominent.add(gram)
    prominent |= {g for g, c in counts.items() if c >= 2}
    return {"kw:" + " ".join(g) for g in prominent}


@dataclass(frozen=True)
class KeywordIndex:
    """Followed keyword keys ("kw:<stems>") indexed by their first word; build once, match many stories."""

    by_first: Mapping[str, frozenset[tuple[str, ...]]]

    @functools.cached_property
    def starts(self) -> frozenset[str]:
        """Every token whose light stem is the first word of a keyword: a sequence can only start at one of them.

        light_stem strips at most a conjunction and one of its prefixes, so all such tokens are generated from
        the stems (as _build_starts does for the gazetteer) and checked with light_stem itself.
        """
        return frozenset(
            form
            for first in self.by_first
            for form in {conj + prefix + first for conj in ("", "و", "ف") for prefix in _LIGHT_STEM_PREFIXES}
            if light_stem(form) == first
        )


def keyword_index(keys: Iterable[str]) -> KeywordIndex:
    """Index keyword topic keys (other keys are ignored) for story_topic_keys(..., keywords=index)."""
    return _keyword_index(keys if isinstance(keys, frozenset) else frozenset(keys))


@functools.lru_cache(maxsize=8)
def _keyword_index(keys: frozenset[str]) -> KeywordIndex:
    """keyword_index of a set of keys (remembered: ingest indexes the same followed keywords for every feed)."""
    by_first: dict[str, set[tuple[str, ...]]] = {}
    for key in keys:
        gram = tuple(key[3:].split()) if key.startswith("kw:") else ()
        if 1 <= len(gram) <= KEYWORD_MAX_WORDS:
            by_first.setdefault(gram[0], set()).add(gram)
    return KeywordIndex(MappingProxyType({first: frozenset(grams) for first, grams in by_first.items()}))


def _followed_keyword_keys(story: _Story, keywords: Collection[str] | KeywordIndex) -> set[str]:
    """Those of the given kw: keys whose words are in the title or lead, or twice in the story.

    The same rule as _keyword_keys, checked only in the title and sentences holding a token a wanted sequence
    can start with (KeywordIndex.starts; most often none), at those tokens.
    """
    index = keywords if isinstance(keywords, KeywordIndex) else keyword_index(keywords)
    if not index.by_first:
        return set()  # no keyword followed (often so at ingest): nothing to look for
    wanted, starts = index.by_first, index.starts
    prominent: set[tuple[str, ...]] = set()
    seen: set[tuple[str, ...]] = set()
    limits: list[int] | None = None
    for part, tokens in enumerate((story.title, *story.sentences)):
        if starts.isdisjoint(tokens):
            continue
        if part == 0:
            lead = len(tokens)
        else:
            limits = limits or _lead_limits(story)
            lead = limits[part - 1]
        for start in [i for i, token in enumerate(tokens) if token in starts]:
            for gram in wanted[light_stem(tokens[start])]:
                end = start + len(gram)
                if tuple(map(light_stem, tokens[start:end])) != gram:
                    continue
                if end <= lead or gram in seen:
                    prominent.add(gram)
                seen.add(gram)
    return {"kw:" + " ".join(g) for g in prominent}


def keyword_topic(query: str) -> Topic | None:
    """A free-keyword topic (1–3 words, ≤ 40 characters), or None if the query has no usable word."""
    label = " ".join(query.split())
    stems = [light_stem(t) for t in words(label)]
    if not stems or len(stems) > KEYWORD_MAX_WORDS or len(label) > KEYWORD_MAX_CHARS:
        return None
    stop = _STOP_WORDS | {light_stem(w) for w in _STOP_WORDS}
    if not any(len(s) >= 3 and not s.isdigit() and s not in stop for s in stems):
        return None
    return Topic("kw:" + " ".join(stems), (), label, label)


# --- Queries --------------------------------------------------------------------------------------


def _entity_topic(ids: Iterable[str], gaz: Gazetteer) -> Topic | None:
    """The canonical topic for one or two entity ids."""
    unique = sorted(set(ids))
    if not 1 <= len(unique) <= MAX_ENTITIES or any(i not in gaz.entities for i in unique):
        return None
    entities = [gaz.entities[i] for i in unique]
    name_ar = " و".join(e.name_ar for e in entities)
    name_en = "–".join(e.name_en for e in entities)
    return Topic("+".join(unique), tuple(unique), name_ar, name_en)


def topic_from_key(key: str, gazetteer: Gazetteer | None = None, label: str | None = None) -> Topic | None:
    """Rebuild a topic from its stored key (entity ids joined by "+", or "kw:<words>").

    A keyword topic is named by `label` (the words as the reader wrote them) when given, else by its key.
    """
    if key.startswith("kw:"):
        words_ = key[3:].strip()
        name = (label or "").strip() or words_
        return Topic(key, (), name, name) if words_ else None
    return _entity_topic(key.split("+"), gazetteer or default_gazetteer())


def parse_topic(query: str, gazetteer: Gazetteer | None = None) -> Topic | None:
    """Parse a /follow query ("Iran–Russia", "إيران وروسيا", "طهران", "النفط") into a canonical topic."""
    gaz = gazetteer or default_gazetteer()
    if not query.strip() or len(query) > QUERY_MAX_CHARS:
        return None
    tokens = tuple(words(query))
    found: list[str] = []
    covered = [t in _QUERY_FILLERS for t in tokens]
    for start, end, alias in _scan(tokens, gaz.query_starts, None):
        if alias.kind == "trap":
            return None
        found.append(alias.entity)
        covered[start:end] = [True] * (end - start)
    if not found or not all(covered):
        return None
    return _entity_topic(found, gaz)


def suggest(query: str, limit: int = 3, gazetteer: Gazetteer | None = None) -> list[Topic]:
    """ "Did you mean": topics whose names are closest to a (mistyped) query."""
    gaz = gazetteer or default_gazetteer()
    out: list[Topic] = []
    exact = parse_topic(query, gaz)
    if exact is not None:
        out.append(exact)
    parts = [p for p in _QUERY_SEPARATORS.split(query.strip()) if p.strip()]
    if len(parts) == 2:
        firsts = [_fuzzy_ids(p, gaz, 1) for p in parts]
        if all(firsts) and firsts[0][0] != firsts[1][0]:
            pair = _entity_topic([firsts[0][0], firsts[1][0]], gaz)
            if pair is not None:
                out.append(pair)
    for ident in _fuzzy_ids(query, gaz, limit):
        topic = _entity_topic([ident], gaz)
        if topic is not None:
            out.append(topic)
    return list(dict.fromkeys(out))[:limit]


def _keyboard_neighbours(rows: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """Pairs of keys next to each other on a keyboard layout (same row or the rows above/below)."""
    pairs: set[tuple[str, str]] = set()
    for r, row in enumerate(rows):
        for i, key in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r + 1 < len(rows):
                near += [rows[r + 1][j] for j in (i - 1, i) if 0 <= j < len(rows[r + 1])]
            if r > 0:
                near += [rows[r - 1][j] for j in (i, i + 1) if 0 <= j < len(rows[r - 1])]
            pairs |= {(key, other) for other in near} | {(other, key) for other in near}
    return frozenset(pairs)


_NEIGHBOURS = _keyboard_neighbours(("qwertyuiop", "asdfghjkl", "zxcvbnm")) | _keyboard_neighbours(
    tuple(normalize_arabic(row) for row in ("ضصثقفغعهخحجد", "شسيبلاتنمكط", "ئءؤرلىةوزظ"))
)


def _similarity(needle: str, name: str) -> float:
    """difflib ratio, nudged up for typos that hit a neighbouring key ("Iram" is nearer "Iran" than "Iraq")."""
    matcher = difflib.SequenceMatcher(None, needle, name)
    bonus = 0.0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "replace" and i2 - i1 == j2 - j1:
            bonus += 0.02 * sum((a, b) in _NEIGHBOURS for a, b in zip(needle[i1:i2], name[j1:j2], strict=True))
    return matcher.ratio() + bonus


def _fuzzy_ids(query: str, gaz: Gazetteer, limit: int) -> list[str]:
    """Entity ids whose names are closest to a query (similarity ≥ 0.6), best first."""
    needle = " ".join(words(query))
    if not needle:
        return []
    scored = sorted(
        ((_similarity(needle, name), ident) for name, ident in gaz.fuzzy_names),
        key=lambda pair: -pair[0],
    )
    ids: list[str] = []
    for score, ident in scored:
        if score < 0.6 or len(ids) >= limit:
            break
        if ident not in ids:
            ids.append(ident)
    return ids


def example_topics(gazetteer: Gazetteer | None = None) -> list[Topic]:
    """Topics offered as /start buttons (Iran–Russia first)."""
    gaz = gazetteer or default_gazetteer()
    topics = (_entity_topic(ids, gaz) for ids in (("iran", "russia"), ("palestine",), ("oil",)))
    return [t for t in topics if t is not None]
