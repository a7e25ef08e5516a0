"""HTML fragments to plain text, and plain text to clean article text (pure).

`clean_text` removes site boilerplate with the data-driven rules of `news/data/boilerplate.toml` and
collapses repeated paragraphs; the Arabic text it keeps is shown to users, so it is never folded.
"""

from __future__ import annotations

import html
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import chain
from operator import itemgetter
from typing import Literal

from lxml import etree

from news.normalize import fold_letters
from news.text import is_stopword, paragraph_forms

RuleKind = Literal["drop", "list", "cut", "dateline", "prefix"]
_LINE_KINDS = ("drop", "list", "cut")  # rules that judge a whole line


@dataclass(frozen=True)
class BoilerplateRule:
    """One line rule of `boilerplate.toml`: what to match and what to remove."""

    name: str
    kind: RuleKind
    pattern: re.Pattern[str]
    max_words: int


@lru_cache(maxsize=1)
def boilerplate_rules() -> tuple[BoilerplateRule, ...]:
    """The boilerplate rules from `news/data/boilerplate.toml`, compiled once."""
    raw = resources.files("news").joinpath("data/boilerplate.toml").read_text(encoding="utf-8")
    data = tomllib.loads(raw)
    default_max = int(data.get("max_words", 25))
    rules: list[BoilerplateRule] = []
    for kind in ("drop", "list", "cut", "dateline", "prefix"):
        for entry in data.get(kind, []):
            rules.append(
                BoilerplateRule(
                    name=entry["name"],
                    kind=kind,
                    pattern=re.compile(fold_letters(entry["pattern"]), re.IGNORECASE),
                    max_words=int(entry.get("max_words", default_max)),
                )
            )
    return tuple(rules)


@lru_cache(maxsize=8)
def _rules_of(*kinds: RuleKind) -> tuple[BoilerplateRule, ...]:
    """The boilerplate rules of these kinds, in file order."""
    return tuple(rule for rule in boilerplate_rules() if rule.kind in kinds)


@lru_cache(maxsize=1)
def _longest_rule() -> int:
    """The largest `max_words` of any line rule: longer lines are never boilerplate."""
    return max((rule.max_words for rule in _rules_of(*_LINE_KINDS)), default=0)


def _fold_line(line: str) -> str:
    """A line as boilerplate rules see it: letters folded, spaces collapsed."""
    return _squash(fold_letters(line))


def _fold_squashed(line: str) -> str:
    """`_fold_line` of a line `_squash` already gave: only dropped diacritics can leave spaces to collapse."""
    folded = fold_letters(line)
    if len(folded) == len(line) or not ("  " in folded or folded[:1].isspace() or folded[-1:].isspace()):
        return folded  # a dropped diacritic left no space run and no space at either end
    return _squash(folded)


def match_boilerplate(line: str) -> BoilerplateRule | None:
    """The first boilerplate rule that matches one line of text, if any."""
    n_words = len(line.split())
    if n_words > _longest_rule():
        return None
    return _match_folded(_fold_line(line), n_words)


def _match_folded(folded: str, n_words: int) -> BoilerplateRule | None:
    """`match_boilerplate` of a line already folded with `_fold_line`, of `n_words` words."""
    if n_words > _longest_rule():
        return None
    for rule in _rules_of(*_LINE_KINDS):
        if n_words <= rule.max_words and rule.pattern.search(folded):
            return rule
    return None


def strip_dateline(sentence: str, min_words: int = 6) -> str:
    """A sentence without a leading dateline ("ميدل ايست نيوز: …", "فلان- سبق- الرياض: …"), if one is found.

    The rest is returned verbatim, and only when it keeps at least `min_words` words.
    """
    folded = fold_letters(sentence)
    for rule in _rules_of("dateline"):
        match = rule.pattern.match(folded)
        if match:
            rest = _after_words(sentence, len(match.group().split()), match.group()[-1:].isspace())
            if len(rest.split()) >= min_words:
                return rest
    return sentence


def strip_prefix(line: str) -> str:
    """A line without the boilerplate a site glues before its first sentence ("شارك من خلال تويتر … اكتب رأيك").

    [[prefix]] patterns match the start of the folded line and end at a space or the line's end.
    """
    return _strip_prefix_folded(line, _fold_line(line))


def _strip_prefix_folded(line: str, folded: str) -> str:
    """`strip_prefix` of a line whose `_fold_line` form is `folded`."""
    for rule in _rules_of("prefix"):
        if match := rule.pattern.match(folded):
            return _after_words(line, len(match.group().split()), True)
    return line


def _after_words(sentence: str, n_words: int, ends_in_space: bool) -> str:
    """The part of a sentence after its first `n_words` words (a word glued to the rest is cut there)."""
    parts = sentence.split(None, n_words if ends_in_space else n_words - 1)
    if ends_in_space:
        return parts[n_words] if len(parts) > n_words else ""
    # the dateline ends inside a word ("عمان :صدر"): drop through the separator
    tail = parts[-1] if len(parts) >= n_words else ""
    cut = max(tail.find(":"), tail.find("-"), tail.find("–"))
    return tail[cut + 1 :].strip() if cut >= 0 else tail


# ---- whitespace and tatweel --------------------------------------------------------------------------

_INVISIBLE = re.compile("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\x00-\x08\x0e-\x1b\x7f]")
# Space patterns match only what a single " " does not already stand for (a run, or one other space): with
# sub(" ", …) they give the same text as "one space per run", without rewriting every single space.
_HSPACE = re.compile("[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]")
# Tatweel is dropped, except right after a one-letter abbreviation or clitic ("1436هـ", "بـ").
_TATWEEL = re.compile("(?<![\u0621-\u064a])([\u0621-\u064a])\u0640+(?![\u0621-\u064a])|\u0640+")


_NOT_HORIZONTAL = re.compile("[\n\r\x0b\x0c\x1c-\x1f\x85\u2028\u2029]")  # spaces to str.split, not to _HSPACE


def _squash(line: str) -> str:
    """A line with runs of horizontal space made one space, stripped (str.split is far faster than re.sub)."""
    if _NOT_HORIZONTAL.search(line):
        return _HSPACE.sub(" ", line).strip()
    return " ".join(line.split())


def _drop_tatweel(text: str) -> str:
    """Text without tatweel, but kept after a one-letter abbreviation or clitic ("1436هـ", "بـ")."""
    if "\u0640" not in text:
        return text
    return _TATWEEL.sub(lambda m: f"{m.group(1)}\u0640" if m.group(1) else "", text)


def _lines(text: str) -> list[tuple[str, str]]:
    """Non-empty cleaned lines of a text (any line break separates paragraphs), each with its folded form.

    Invisible marks and tatweel go first: neither rule looks across a line break.
    """
    out = []
    for raw in text.splitlines():  # no invisible mark breaks a line, and tatweel rules look at letters only
        # all invisible marks are unprintable (so are tabs and no-break spaces), and a printable line has no
        # space but " " (splitlines leaves "\x1f" alone): _spaced is _squash for it, without seeking line breaks
        printable = raw.isprintable()
        line = _spaced(_drop_tatweel(raw)) if printable else _squash(_drop_tatweel(_INVISIBLE.sub("", raw)))
        if not line:
            continue
        folded = _fold_squashed(line)
        stripped = _strip_prefix_folded(line, folded)
        if stripped is not line:
            if not stripped:
                continue
            line, folded = stripped, _fold_line(stripped)
        out.append((line, folded))
    return out


# ---- boilerplate -------------------------------------------------------------------------------------

_SENTENCE_END = ".!?؟۔…:"
_HEADLINE_MAX_WORDS = 18


def _looks_like_headline(line: str) -> bool:
    """Whether a line looks like a linked headline in a related-articles list."""
    return len(line.split()) <= _HEADLINE_MAX_WORDS and not line.rstrip("”»\"') ").endswith(tuple(_SENTENCE_END))


def _count_words(line: str) -> int:
    """The words of a line `_lines` gave: its spaces and one, unless it kept a "\x1f" (a space to str.split)."""
    return line.count(" ") + 1 if "\x1f" not in line else len(line.split())


def _drop_boilerplate(lines: list[tuple[str, str]]) -> list[str]:
    """Lines without boilerplate: dropped lines, related-article lists and trailing comment forms."""
    total = sum(len(line) for line, _ in lines)
    kept: list[str] = []
    seen = 0
    in_list = False
    for line, folded in lines:
        seen += len(line)
        rule = _match_folded(folded, _count_words(line))
        if rule is None:
            if in_list and _looks_like_headline(line):
                continue
            in_list = False
            kept.append(line)
            continue
        if rule.kind == "cut" and seen - len(line) >= total / 2:
            break
        in_list = rule.kind == "list" or (in_list and rule.kind != "cut")
    return kept


# ---- repeated paragraphs -----------------------------------------------------------------------------

_MIN_SHINGLES = 4
_FORMS_OF = itemgetter(1)  # of a sentence, from paragraph_forms
_TOKENS_OF = itemgetter(1)  # of a word, from word_forms
_REPEAT_SHARE = 0.6  # a paragraph is a repeat when this share of its word 3-grams is in another one
# ... or a paraphrase: nearly all its content words and numbers are in another one, with some 3-grams
_PARAPHRASE_MIN_WORDS = 10
_PARAPHRASE_WORDS = 0.9
_PARAPHRASE_SHARE = 0.4


class _Paragraph:
    """A kept paragraph with what is used to spot repeats (content words and numbers only when needed)."""

    __slots__ = ("_content", "_numbers", "key", "shingles", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # the tokens of its sentences in turn (remembered for news.summarize, which splits it again)
        self.key = key = tuple(
            chain.from_iterable(map(_TOKENS_OF, chain.from_iterable(map(_FORMS_OF, paragraph_forms(text)))))
        )
        self.shingles = frozenset(zip(key, key[1:], key[2:], strict=False))  # word 3-grams
        self._content: frozenset[str] | None = None
        self._numbers: frozenset[str] = frozenset()

    @property
    def content(self) -> frozenset[str]:
        """Distinct content words (no numbers, stop words or one-letter tokens)."""
        if self._content is None:
            distinct = set(self.key)
            self._numbers = frozenset(tok for tok in distinct if tok.isdigit())
            self._content = frozenset(tok for tok in distinct - self._numbers if len(tok) > 1 and not is_stopword(tok))
        return self._content

    @property
    def numbers(self) -> frozenset[str]:
        """Distinct number tokens."""
        _ = self.content
        return self._numbers


def _inside(small: _Paragraph, big: _Paragraph) -> bool:
    """Whether paragraph `small` is said again (or already) by `big`: copied, extended or paraphrased."""
    if len(small.shingles) < _MIN_SHINGLES or len(big.shingles) < _MIN_SHINGLES:
        return small.key == big.key
    share = len(small.shingles & big.shingles) / len(small.shingles)
    if share >= _REPEAT_SHARE:
        return True
    return (
        share >= _PARAPHRASE_SHARE
        and len(small.content) >= _PARAPHRASE_MIN_WORDS
        and len(small.content & big.content) >= _PARAPHRASE_WORDS * len(small.content)
        and small.numbers <= big.numbers
    )


def _collapse_repeats(lines: list[str]) -> list[str]:
    """Paragraphs with repeats removed; a fuller later version replaces the earlier one in place."""
    if len(lines) < 2:
        return lines  # nothing to repeat (half the feed items are one paragraph)
    kept: list[_Paragraph] = []
    seen: set[tuple[str, ...]] = set()  # every 3-gram of every paragraph looked at (those kept among them)
    for line in lines:
        new = _Paragraph(line)
        if new.key:
            long_new = len(new.shingles) >= _MIN_SHINGLES
            if long_new and new.shingles.isdisjoint(seen):
                # no 3-gram shared with any kept paragraph: none holds it or is held by it (a short one could
                # only be an identical one), so it is kept (the common case, found with one look)
                kept.append(new)
                seen.update(new.shingles)
                continue
            seen.update(new.shingles)
            for i, old in enumerate(kept):
                if not old.key:
                    continue
                if long_new and len(old.shingles) >= _MIN_SHINGLES and new.shingles.isdisjoint(old.shingles):
                    continue  # no shared 3-gram: neither holds the other (the common case, found fast)
                new_inside, old_inside = _inside(new, old), _inside(old, new)
                if old_inside and (not new_inside or len(new.key) > len(old.key)):
                    kept[i] = new
                    break
                if new_inside:
                    break
            else:
                kept.append(new)
        else:
            kept.append(new)
    return [paragraph.text for paragraph in kept]


def clean_text(text: str) -> str:
    """Article text without boilerplate lines or repeated paragraphs, paragraphs separated by blank lines."""
    return "\n\n".join(_collapse_repeats(_drop_boilerplate(_lines(text))))


# ---- HTML --------------------------------------------------------------------------------------------

_SKIP_TAGS = frozenset(
    {
        "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "head", "nav", "form",
        "button", "select", "textarea",
    }
)  # fmt: skip
_BLOCK_TAGS = frozenset(
    {
        "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote",
        "pre", "table", "tr", "section", "article", "header", "footer", "aside", "nav", "figure",
        "figcaption", "hr", "address", "main", "details", "summary", "body", "html",
    }
)  # fmt: skip
_LINE_TAGS = frozenset({"br", "td", "th"})
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_LEFTOVER_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]{2,8});")
_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_ANY_SPACE = re.compile(r"\s{2,}|[^\S ]")  # source line breaks are spaces in HTML; only tags break lines
_INLINE_SPACE = re.compile(r"[^\S\n]{2,}|[^\S\n ]")
_NOT_PLAIN = re.compile("[<&\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")  # markup, or what lxml rewrites
_BREAKING_TAG = re.compile(r"<\s*/?\s*(?:p|br|div|li|h[1-6]|tr|td|ul|ol|table|blockquote|section|article|pre)\b", re.I)


def html_to_text(markup: str) -> str:
    """Plain text of an HTML fragment: block elements and <br> become line breaks, scripts/styles go.

    Paragraphs are separated by a blank line, <br> by a single line break; entities are decoded
    (twice-escaped ones too). Never raises: garbage gives whatever text it holds, empty input "".
    """
    markup = _XML_DECLARATION.sub("", markup.replace("\x00", ""))
    if not markup.strip():
        return ""
    if not _NOT_PLAIN.search(markup):  # lxml would give the text back as it is (less leading spaces and BOM)
        return _paragraphs([_spaced(line) for line in markup.split("\n")])
    try:
        parser = etree.HTMLParser(recover=True, remove_comments=True, remove_pis=True, encoding="utf-8")
        root = etree.fromstring(markup.encode("utf-8", "replace"), parser)
    except (etree.LxmlError, ValueError):
        root = None
    if root is None:  # tags out, the rest as it is
        text = re.sub(r"<[^>]*>", " ", markup)
        text = html.unescape(text) if _LEFTOVER_ENTITY.search(text) else text
        return _paragraphs([_squash(_visible(line)) for line in text.split("\n")])
    keep_newlines = not _BREAKING_TAG.search(markup)  # plain text or inline-only HTML: its line breaks count
    brk = _absent_character(markup, root)
    text = _marked_text(root, brk)
    if keep_newlines:
        text, brk = text.replace(brk, "\n"), "\n"
    if _LEFTOVER_ENTITY.search(text):  # decoded once the text's own spaces are spaces (entities may be spaces)
        space = _INLINE_SPACE if keep_newlines else _ANY_SPACE
        text = html.unescape(space.sub(" ", text).replace(brk, "\n"))
        return _paragraphs([_squash(_visible(line)) for line in text.split("\n")])
    # no entity to decode: str.split collapses the text's own spaces as the space pattern and _squash would
    return _paragraphs([_spaced(line) for line in text.split(brk)])


def _paragraphs(lines: list[str]) -> str:
    """Squashed lines joined, with one blank line wherever there were blank lines."""
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def _spaced(line: str) -> str:
    """A line without invisible marks, its spaces of any kind collapsed to one " " and stripped."""
    if line.isprintable() and "  " not in line and line[:1] != " " and line[-1:] != " ":
        return line  # the common case, told without splitting the line into words
    return " ".join(_visible(line).split())


def _visible(line: str) -> str:
    """A line without invisible marks (all of them are unprintable, as are tabs and no-break spaces)."""
    return line if line.isprintable() else _INVISIBLE.sub("", line)


def _marked_text(root: etree._Element, brk: str) -> str:
    """The text of a parsed tree, with `brk` for each line break at block boundaries and <br> (mutates it).

    Each break is added to the tree as an element holding `brk`, so that lxml joins the text (no Python
    step per text node). `brk` must be a character the text does not hold.
    """
    for element in list(root.iter("nav")):  # skipped, but a block: its end still breaks the line
        element.addprevious(_text_element(element, brk * 2))
    etree.strip_elements(root, *_SKIP_TAGS, with_tail=False)
    for element in list(root.iter(*_BLOCK_TAGS, *_LINE_TAGS)):  # HTML tag names are lower-case already
        if element.tag in _LINE_TAGS:
            _text_element(element, brk if element.tag == "br" else " ")
            continue
        if element is not root:
            element.addprevious(_text_element(element, brk * 2))
        _text_element(element, brk * 2)
    text = etree.tostring(root, method="text", encoding=str, with_tail=False)
    return brk * 2 + text if root.tag in _BLOCK_TAGS else text


def _text_element(parent: etree._Element, text: str) -> etree._Element:
    """A new last child of `parent` holding `text`."""
    element = etree.SubElement(parent, "break")
    element.text = text
    return element


def _absent_character(markup: str, root: etree._Element) -> str:
    """A private-use character (one lxml takes in text) that the text parsed from `markup` into `root` lacks.

    Parsed text holds the markup's characters and those its entities stand for, and HTML names no
    private-use character: only numeric references make the parsed text itself worth searching.
    """
    text = markup if "&#" not in markup else "".join(root.itertext())
    candidates = chain(range(0xE000, 0xFFFE), range(0x10000, 0x110000))
    return next(char for char in map(chr, candidates) if char not in text)
