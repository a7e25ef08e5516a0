"""news.text: Arabic sentence splitting edge cases, clitic stripping, tokens and stop words."""

from __future__ import annotations

import re

import pytest

from news import text as text_module
from news.normalize import normalize_arabic, words
from news.text import (
    content_tokens,
    is_stopword,
    paragraph_forms,
    split_sentences,
    stopwords,
    strip_clitics,
    tokens,
    word_forms,
)

# --- split_sentences -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        # Arabic question mark, exclamation, full stop, Arabic full stop
        (
            "هل انتهت الأزمة؟ لا أحد يعرف! لكن المفاوضات مستمرة. وتستأنف غدا۔ ثم تتوقف",
            ["هل انتهت الأزمة؟", "لا أحد يعرف!", "لكن المفاوضات مستمرة.", "وتستأنف غدا۔", "ثم تتوقف"],
        ),
        # decimals, thousands separators and the Arabic decimal separator do not end a sentence
        (
            "ارتفع المؤشر 3.5 في المئة إلى 2,000 نقطة. وبلغ النمو ٣٫٥ في المئة.",
            ["ارتفع المؤشر 3.5 في المئة إلى 2,000 نقطة.", "وبلغ النمو ٣٫٥ في المئة."],
        ),
        # one-letter abbreviations and initials
        (
            "قال د. أحمد و أ. سعاد إن م. خالد سيحضر. وأكد مسؤول U.S. الأمر.",
            ["قال د. أحمد و أ. سعاد إن م. خالد سيحضر.", "وأكد مسؤول U.S. الأمر."],
        ),
        ("Mr. Smith met Dr. Jones. They agreed.", ["Mr. Smith met Dr. Jones.", "They agreed."]),
        # a year marker "م." / "هـ." after a number ends the sentence
        (
            "ولد عام 1770 م. وتوفي عام 1827م. وأسست المدينة عام 1436هـ. ثم توسعت",
            ["ولد عام 1770 م.", "وتوفي عام 1827م.", "وأسست المدينة عام 1436هـ.", "ثم توسعت"],
        ),
        # a short quotation that closes mid-sentence stays inside its sentence
        (
            "وصاح المتظاهرون «لن نتراجع!» قبل أن يتفرقوا. ثم عاد الهدوء.",
            ["وصاح المتظاهرون «لن نتراجع!» قبل أن يتفرقوا.", "ثم عاد الهدوء."],
        ),
        # a long quotation that ends the sentence: the cut comes after the closing quote
        (
            "وقال الوزير: “سنواصل العمل مع شركائنا في المنطقة لتعزيز الاستقرار والتنمية.” وأضاف أن الزيارة ناجحة.",
            [
                "وقال الوزير: “سنواصل العمل مع شركائنا في المنطقة لتعزيز الاستقرار والتنمية.”",
                "وأضاف أن الزيارة ناجحة.",
            ],
        ),
        # the question mark inside a short quote does not split either
        ("سأل الصحفي «ماذا بعد؟» فلم يجب أحد.", ["سأل الصحفي «ماذا بعد؟» فلم يجب أحد."]),
        # paragraphs without final punctuation: a line break ends the sentence
        (
            "عين اليوم – الرياض\nأعلنت الوزارة نتائج الاختبارات\n\nوقالت إنها ستنشر التفاصيل.",
            ["عين اليوم – الرياض", "أعلنت الوزارة نتائج الاختبارات", "وقالت إنها ستنشر التفاصيل."],
        ),
        # semicolons join clauses, they do not end the sentence
        ("تختلف الألوان؛ وإذا كثرت الخلايا أصبحت باهتة.", ["تختلف الألوان؛ وإذا كثرت الخلايا أصبحت باهتة."]),
        # a full stop glued between two Arabic words still ends the sentence; a domain name does not
        (
            "تكون الزعانف فردية أو زوجية.تختلف ألوانها. راجع example.com للمزيد.",
            ["تكون الزعانف فردية أو زوجية.", "تختلف ألوانها.", "راجع example.com للمزيد."],
        ),
        # ... and so does one glued between a year and the next word; a decimal does not
        (
            "توفي في فيينا عام 1827.أتم دراسته في 3.5 سنوات.",
            ["توفي في فيينا عام 1827.", "أتم دراسته في 3.5 سنوات."],
        ),
        # runs of marks and ellipses; a double ".." is a pause
        ("انتظروا... المفاجأة قادمة!! حقا؟!", ["انتظروا...", "المفاجأة قادمة!!", "حقا؟!"]),
        (
            "دبي.. ارتفع المؤشر 1.7 في المئة. الكويت.. صعد المؤشر 0.2 في المئة.",
            ["دبي.. ارتفع المؤشر 1.7 في المئة.", "الكويت.. صعد المؤشر 0.2 في المئة."],
        ),
        # a bare list number is not a sentence
        ("1. خفض الفائدة\n2. دعم الصادرات", ["1. خفض الفائدة", "2. دعم الصادرات"]),
        ("", []),
        ("   \n\n  ", []),
    ],
)
def test_split_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_sentences_are_verbatim_and_cover_the_text() -> None:
    text = (
        "أكد الرئيس الإيراني أهمية التعاون، وقال: “تتمتع إيران وروسيا بالقدرات المناسبة”. "
        "وكان لافروف وصل إلى طهران، اليوم الثلاثاء.  وجاءت الزيارة بعد أيام!\n\n"
        "وفي وقت سابق قالت الخارجية إنّ لافروف سيزور إيران"
    )
    sentences = split_sentences(text)
    position = 0
    for sentence in sentences:
        assert sentence == sentence.strip()
        found = text.find(sentence, position)
        assert found >= 0
        position = found + len(sentence)
    assert "".join(sentences).replace(" ", "") == text.replace(" ", "").replace("\n", "")


# --- tokens ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("الحكومه", "حكومه"),
        ("والحكومه", "حكومه"),
        ("بالمدرسه", "مدرسه"),
        ("للطلاب", "طلاب"),
        ("فالقرار", "قرار"),
        ("كالعاده", "عاده"),
        ("وبالتالي", "تالي"),
        ("وروسيا", "روسيا"),
        ("فسوريا", "سوريا"),
        ("بسوريا", "سوريا"),
        ("لسوريا", "سوريا"),
        ("وبسوريا", "سوريا"),
        ("كمسوول", "مسوول"),
        # stems that would be too short are left whole
        ("وزير", "وزير"),
        ("بيت", "بيت"),
        ("لبنان", "لبنان"),
        ("الدم", "الدم"),
        ("لكن", "لكن"),
        ("ولد", "ولد"),
    ],
)
def test_strip_clitics(word: str, stem: str) -> None:
    assert strip_clitics(word) == stem


def test_tokens_normalise_and_strip() -> None:
    assert tokens("والحكومةُ الإيرانيّة وبالمدارس ٣٫٥ Iran") == ["حكومه", "ايرانيه", "مدارس", "3", "5", "iran"]
    assert tokens("") == []


@pytest.mark.parametrize(
    "forms",
    [
        ["الاتفاقية", "والاتفاقية", "بالاتفاقية", "للاتفاقية", "فالاتفاقية", "وللاتفاقية", "اتفاقية"],
        ["البريطانية", "بريطانية", "والبريطانية", "وبريطانية"],
        ["الوزارة", "وزارة", "والوزارة", "بالوزارة"],
        ["الوزير", "وزير", "والوزير", "للوزير"],
    ],
)
def test_same_word_with_and_without_clitics_matches(forms: list[str]) -> None:
    assert len({tuple(tokens(form)) for form in forms}) == 1


def test_content_tokens_drop_stop_words() -> None:
    text = "وقال الوزير إن الحكومة في لبنان قد أعلنت أنها لن تتراجع عن هذا القرار وفي ذلك"
    assert content_tokens(text) == ["وزير", "حكومه", "لبنان", "اعلنت", "تتراجع", "قرار"]


def test_stopwords_are_folded_like_tokens() -> None:
    stop = stopwords()
    assert {"في", "الي", "التي", "هذه", "ان"} <= stop
    assert is_stopword("وفي") and is_stopword("فان")
    assert not is_stopword("حكومه")
    assert stopwords() is stop  # loaded once


# --- per-word and per-paragraph caches -------------------------------------------------------------------

# Ligatures NFKC spells out (one with a space inside), a lone diacritic between spaces, tatweel, a NUL, a glued
# sentence end, Arabic-Indic digits and Latin words with punctuation glued on.
AWKWARD = (
    "وَلَكِنَّ الحُكُومَةَ ﻻ تعلم ﷺ ً الـــوزير (قال): «نعم»، نهاية.بداية عام ١٤٣٦هـ\x00والمدارس "
    "Apple's U.S. plan... وبالمستشفيات؟ لا!"
)


def _whole_text_tokens(text: str) -> list[str]:
    """`tokens` as the whole folded text gives them, word by word (the definition the caches must agree with)."""
    return [strip_clitics(w) if re.match("[\u0621-\u063a\u0641-\u064a\u0671-\u06d3]", w) else w for w in words(text)]


@pytest.mark.parametrize("text", [AWKWARD, AWKWARD.replace(" ", "\n  "), "ﷺ", "ً", "\x00", ""])
def test_tokens_word_by_word_are_those_of_the_whole_text(text: str) -> None:
    for _ in range(2):  # from the cache the second time
        assert tokens(text) == _whole_text_tokens(text)
        assert content_tokens(text) == [t for t in _whole_text_tokens(text) if len(t) > 1 and not is_stopword(t)]
    forms = word_forms(text.split())
    assert " ".join(filter(None, (f[0] for f in forms))) == normalize_arabic(text)


def test_word_cache_is_emptied_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = tokens(AWKWARD)
    monkeypatch.setattr(text_module, "_WORD_FORMS", {})
    monkeypatch.setattr(text_module, "_WORD_CACHE_SIZE", 4)
    assert tokens(AWKWARD) == expected  # more new words than fit: all are still tokenised
    assert tokens("الوزير قال") == [strip_clitics("الوزير"), "قال"]
    assert len(text_module._WORD_FORMS) <= 4


def test_paragraph_forms_are_its_sentences_and_tokens() -> None:
    found = paragraph_forms(AWKWARD)
    assert [sentence for sentence, _ in found] == split_sentences(AWKWARD)
    assert "نهاية." in [sentence.split()[-1] for sentence, _ in found]  # the glued end splits a word in two
    assert [t for _, forms in found for f in forms for t in f[1]] == tokens(AWKWARD)
    assert [len(forms) for _, forms in found] == [len(sentence.split()) for sentence in split_sentences(AWKWARD)]
    assert paragraph_forms(AWKWARD) is found  # remembered


def test_paragraph_cache_drops_its_oldest_half_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text_module, "_PARAGRAPHS", {})
    monkeypatch.setattr(text_module, "_PARAGRAPH_CACHE_SIZE", 4)
    paragraphs = ["الأول هنا.", "الثاني هنا.", "الثالث هنا.", "الرابع هنا.", "الخامس هنا."]
    for paragraph in paragraphs:
        assert [s for s, _ in paragraph_forms(paragraph)] == [paragraph]
    assert list(text_module._PARAGRAPHS) == paragraphs[2:]  # the last ones seen stay (an article's paragraphs)
