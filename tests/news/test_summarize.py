"""news.summarize: digest invariants (verbatim, in order, within budget, no repeats, no boilerplate) on fixtures and EASC."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import pytest

from news import text as text_module
from news.extract import clean_text, html_to_text
from news.summarize import (
    FEATURES,
    MAX_SENTENCES,
    WEIGHTS,
    Sentence,
    select,
    sentence_features,
    sentence_scores,
    sentences_of,
    summarize,
    summarize_many,
    summary_sentences,
)
from news.text import content_tokens

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed-article.txt"
BOILERPLATE = ("تابع", "مقالات ذات صلة", "اترك تعليق", "بريدك الإلكتروني", "ستة عشر", "زر الذهاب", "جميع الحقوق",
               "شارك", "Facebook", "اقرأ أيضاً")  # fmt: skip

DESALINATION_TITLE = "افتتاح أكبر محطة لتحلية المياه بالطاقة الشمسية في الخليج"


def n_words(text: str) -> int:
    """Words as the summariser counts them (whitespace-separated)."""
    return len(text.split())


def jaccard(a: str, b: str) -> float:
    """Token Jaccard of the content words of two sentences."""
    ta, tb = set(content_tokens(a)), set(content_tokens(b))
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def assert_digest(title: str, text: str, max_words: int = 60) -> list[str]:
    """Check the digest invariants for one article and return its sentences."""
    cleaned = clean_text(text)
    parts = summary_sentences(title, text, max_words)
    digest = summarize(title, text, max_words)
    assert digest == " ".join(parts)
    if not cleaned:
        assert parts == []
        return parts
    assert 1 <= len(parts) <= MAX_SENTENCES
    assert n_words(digest) <= max_words
    position = 0
    for part in parts:
        piece = part[:-1] if part.endswith("…") and len(parts) == 1 else part
        found = cleaned.find(piece, position)
        assert found >= 0, f"not verbatim or out of order: {part!r}"
        position = found + len(piece)
    for i, a in enumerate(parts):
        for b in parts[i + 1 :]:
            assert jaccard(a, b) < 0.5, (a, b)
    return parts


def seed() -> tuple[str, str]:
    """The seed article (title, text), or skip when shared/ is absent."""
    if not SEED.is_file():
        pytest.skip(f"seed article not found at {SEED}")
    title, _, text = SEED.read_text(encoding="utf-8").partition("\n")
    return title, text


# --- the seed article and the fixture page ---------------------------------------------------------------


@pytest.mark.parametrize("with_title_line", [False, True])
def test_seed_digest(with_title_line: bool) -> None:
    title, text = seed()
    if with_title_line:
        text = f"{title}\n\n{text}"
    parts = assert_digest(title, text)
    digest = " ".join(parts)
    for junk in BOILERPLATE:
        assert junk not in digest, junk
    assert digest.count("وجهات نظر متقاربة") == 1  # the lead, once
    assert not digest.startswith("ميدل ايست نيوز")  # dateline left out
    assert digest.startswith("أكد الرئيس الإيراني مسعود بزشكيان")
    assert title not in digest


def test_fixture_page_digest() -> None:
    text = html_to_text((PAGES / "gulf-desalination.html").read_text(encoding="utf-8"))
    parts = assert_digest(DESALINATION_TITLE, text)
    digest = " ".join(parts)
    assert parts[0].startswith("افتتح وزير الطاقة والمياه")
    assert digest.count("أكبر مشروع من نوعه") == 1
    assert DESALINATION_TITLE not in digest
    for junk in BOILERPLATE:
        assert junk not in digest, junk


@pytest.mark.parametrize("max_words", [15, 25, 40, 60, 100])
def test_budgets(max_words: int) -> None:
    text = html_to_text((PAGES / "gulf-desalination.html").read_text(encoding="utf-8"))
    assert_digest(DESALINATION_TITLE, text, max_words)


# --- budget fallbacks -----------------------------------------------------------------------------------

LONG_FIRST = (
    "أعلنت وزارة المالية في بيان مطول صدر مساء أمس عن حزمة إجراءات اقتصادية جديدة تشمل خفض الرسوم على "
    "الواردات الغذائية ودعم المشروعات الصغيرة والمتوسطة وتمديد برامج التمويل الميسر للشركات الناشئة "
    "وإعادة جدولة القروض المتعثرة للمزارعين في المناطق الريفية وتوسيع شبكة الحماية الاجتماعية للأسر "
    "محدودة الدخل خلال العامين المقبلين."
)
SHORT_SECOND = "وقال وزير المالية إن الحزمة تهدف إلى تخفيف أثر ارتفاع الأسعار على المواطنين."


def test_best_single_sentence_that_fits_when_the_first_is_too_long() -> None:
    text = f"{LONG_FIRST}\n\n{SHORT_SECOND}"
    assert summarize("حزمة اقتصادية", text, max_words=20) == SHORT_SECOND


def test_cut_with_ellipsis_when_nothing_fits() -> None:
    digest = summarize("حزمة اقتصادية", LONG_FIRST, max_words=12)
    assert digest.endswith("…")
    assert n_words(digest) == 12
    assert LONG_FIRST.startswith(digest[:-1])


def test_empty_and_degenerate_inputs() -> None:
    assert summarize("عنوان", "") == ""
    assert summarize("عنوان", "   \n\n ") == ""
    assert summarize("عنوان", "زر الذهاب إلى الأعلى\nجميع الحقوق محفوظة") == ""
    assert summarize("عنوان", SHORT_SECOND, max_words=0) == ""
    assert summarize("", "خبر قصير") == "خبر قصير"  # nothing usable: the short line is all there is


def test_byline_is_not_a_digest_sentence() -> None:
    text = f"عين اليوم – الرياض\n{SHORT_SECOND}\n{LONG_FIRST}"
    assert summarize("", text, max_words=30) == SHORT_SECOND


def test_fragments_and_open_quotes_are_not_digest_sentences() -> None:
    cut_off = "وتضمنت قائمة المشروعات الجديدة والتي يجري تنفيذها في المنطقة عبر"
    opened = "وقال المتحدث في تصريح للصحفيين: «هناك مواجهات مسلحة عند محيط المطار وتحتاج القوات إلى دعم."
    closed = "وتستمر المعارك منذ أسابيع في المنطقة.» وأضاف أن الوضع الإنساني صعب."
    parts = summary_sentences("", "\n".join([cut_off, SHORT_SECOND, opened, closed]), max_words=60)
    assert parts == [SHORT_SECOND, "وأضاف أن الوضع الإنساني صعب."]


def test_near_repeated_sentences_are_not_both_chosen() -> None:
    first = "قررت الحكومة رفع الحد الأدنى للأجور إلى أربعة آلاف ريال اعتبارا من مطلع العام المقبل."
    again = "وقررت الحكومة رفع الحد الأدنى للأجور إلى أربعة آلاف ريال اعتبارا من العام المقبل، بحسب البيان."
    other = "وقالت نقابات العمال إن القرار خطوة أولى لكنها لا تكفي لمواجهة غلاء المعيشة."
    parts = summary_sentences("رفع الحد الأدنى للأجور", f"{first} {other}\n\nتفاصيل. {again}")
    assert not (first in parts and any(p.startswith("وقررت الحكومة") for p in parts))
    assert first in parts


# --- several articles -----------------------------------------------------------------------------------


def test_summarize_many_draws_on_all_without_repeats() -> None:
    a = "أعلنت شركة النفط الوطنية اكتشاف حقل غاز جديد في المنطقة الشرقية باحتياطيات تقدر بتريليوني قدم مكعب."
    a_more = "وقال الرئيس التنفيذي للشركة إن الإنتاج من الحقل سيبدأ خلال ثلاث سنوات."
    b = "أعلنت شركة النفط الوطنية اليوم اكتشاف حقل غاز جديد في المنطقة الشرقية باحتياطيات تقدر بتريليوني قدم."
    b_more = "وأوضح وزير الطاقة أن الاكتشاف سيعزز إمدادات الغاز لمحطات الكهرباء المحلية."
    digest = summarize_many("اكتشاف حقل غاز جديد", [f"{a} {a_more}", f"{b} {b_more}"], max_words=60)
    assert n_words(digest) <= 60
    assert digest.count("اكتشاف حقل غاز جديد") == 1  # the shared lead, once
    assert digest.startswith((a, b))  # leads first
    assert a_more in digest and b_more in digest  # both articles contribute
    assert digest.index(a_more) < digest.index(b_more)  # same position: article order


def test_summarize_many_of_one_text_is_summarize() -> None:
    title, text = DESALINATION_TITLE, html_to_text((PAGES / "gulf-desalination.html").read_text(encoding="utf-8"))
    assert summarize_many(title, [text]) == summarize(title, text)
    assert summarize_many(title, [clean_text(text)], cleaned=True) == summarize(title, text)
    assert summarize_many(title, []) == ""


# Diacritics, tatweel, hamza forms, Arabic-Indic digits, a presentation-form ligature, glued punctuation,
# a word that is only diacritics, and Latin: what the per-word token cache must fold exactly as a whole sentence.
TRICKY = (
    "وَلَكِنَّ الحُكُومَةَ أعلنت، يوم الخميس، عن ميزانية بـ ٢٫٥ مليار ريال للمستشفيات والمدارس الجديدة.\n\n"
    "قالَ الوزيرُ ــ في مؤتمرٍ صحفي ـ إنّ «الإنفاق» سيرتفع ﻻ محالة إلى 3.5% خلال عام 2026م. "
    "ً Apple و Google (شركتان) تستثمران في المنطقة!"
)


def test_sentence_tokens_are_those_of_the_whole_sentence() -> None:
    sentences = sentences_of(TRICKY)
    assert len(sentences) == 3
    for s in sentences:
        expected = content_tokens(s.text)
        assert list(s.tokens) == expected
        assert s.types == frozenset(expected)
        assert s.tf == Counter(expected)
        assert s.words == len(s.text.split())
    assert sentences[0].connective  # "وَلَكِنَّ" with its diacritics is the connective "ولكن"
    assert not sentences[1].connective


def test_sentences_are_the_frozen_dataclass_they_would_be_if_built_by_init() -> None:
    for s in sentences_of(TRICKY, doc=2):
        fields = {f.name: getattr(s, f.name) for f in dataclasses.fields(Sentence)}
        built = Sentence(**fields)
        assert s == built and hash(s) == hash(built) and repr(s) == repr(built)
        assert vars(s) == vars(built) and list(vars(s)) == list(vars(built))  # same fields, in the same order
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.words = 0  # type: ignore[misc]


def test_token_caches_give_the_same_tokens_when_they_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = [s.tokens for s in sentences_of(TRICKY)]
    monkeypatch.setattr(text_module, "_WORD_FORMS", {})
    monkeypatch.setattr(text_module, "_WORD_CACHE_SIZE", 3)
    monkeypatch.setattr(text_module, "_PARAGRAPHS", {})
    monkeypatch.setattr(text_module, "_PARAGRAPH_CACHE_SIZE", 1)
    for _ in range(2):
        assert [s.tokens for s in sentences_of(TRICKY)] == expected
    words = [len(s.text.split()) for s in sentences_of(TRICKY)]
    assert len(text_module._WORD_FORMS) <= words[-1] < sum(words)  # emptied as it went, not grown
    assert len(text_module._PARAGRAPHS) == 1


def test_scoring_only_some_sentences_keeps_their_order() -> None:
    title, text = DESALINATION_TITLE, html_to_text((PAGES / "gulf-desalination.html").read_text(encoding="utf-8"))
    sentences = sentences_of(clean_text(text))
    which = list(range(1, len(sentences), 2))
    assert sentence_features(sentences, title, which) == [sentence_features(sentences, title)[k] for k in which]
    full, some = sentence_scores(sentences, title), sentence_scores(sentences, title, which)
    assert max(some) == 1.0 and all(some[k] == 0.0 for k in range(0, len(sentences), 2))
    ratio = [some[k] / full[k] for k in which]  # the same scores up to one factor (the best is 1 among them)
    assert max(ratio) == pytest.approx(min(ratio))


def test_boilerplate_is_not_chosen_however_well_it_scores() -> None:
    boilerplate = "جميع الحقوق محفوظة لصحيفة الرياض اليومية منذ عام 2000."
    text = f"{SHORT_SECOND}\n\n{boilerplate}\n\nوأضاف الوزير أن الحكومة ستراجع الأسعار كل ثلاثة أشهر."
    sentences = sentences_of(text)
    chosen = select(sentences, [0.1, 1.0, 0.2], max_words=60)
    assert [s.text for s in chosen] == [SHORT_SECOND, sentences[2].text]
    assert [s.text for s in select(sentences, [0.1, 1.0, 0.2], max_words=15)] == [sentences[2].text]


def test_model_is_complete() -> None:
    assert set(WEIGHTS) == set(FEATURES)
    sentences = sentences_of("أ ب ج د ه.\n\nو ز ح ط ي.")
    assert [s.paragraph for s in sentences] == [0, 1] and all(s.para_first for s in sentences)


# --- EASC (shared eval data) -------------------------------------------------------------------------------


def test_invariants_on_easc_articles(eval_path: Path) -> None:
    path = eval_path / "summaries.jsonl"
    if not path.is_file():
        pytest.skip(f"EASC summaries not found at {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) > 100
    for row in rows:
        for budget in (60, 25):
            assert_digest(row["title"], row["text"], budget)


def test_cleaned_flag_skips_only_the_cleaning() -> None:
    from news.extract import clean_text
    from tests.feedgen import seed_article

    title, body = seed_article()
    assert summarize(title, clean_text(body), cleaned=True) == summarize(title, body)
