"""news.normalize: Arabic folding for matching, letter-only folding, words, canonical URLs, content hashes."""

from __future__ import annotations

import pytest

from news.normalize import canonical_url, content_hash, fold_letters, normalize_arabic, words


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("مُحَمَّدٌ", "محمد"),  # harakat, shadda, tanween
        ("الـــيـوم", "اليوم"),  # tatweel
        ("أحمد إبراهيم آمال ٱلله", "احمد ابراهيم امال الله"),  # hamza and wasla alef forms
        ("مؤتمر رئيس", "موتمر رييس"),  # hamza on waw and yeh
        ("مستشفى على", "مستشفي علي"),  # alef maqsura
        ("مدرسة الجامعة", "مدرسه الجامعه"),  # taa marbuta
        ("عام ٢٠٢٥ و۱۴۰۳", "عام 2025 و1403"),  # Arabic-Indic and Persian digits
        ("کتاب ی", "كتاب ي"),  # Persian kaf and yeh
        ("ﻻ ﷲ", "لا الله"),  # presentation forms (NFKC)
        ("  Iran\u00a0وروسيا\n\tNEWS  ", "iran وروسيا news"),  # spaces collapsed, Latin lower-cased
        ("القرآنِ ٰ", "القران"),  # superscript alef
    ],
)
def test_normalize_arabic_folds(raw: str, folded: str) -> None:
    assert normalize_arabic(raw) == folded


def test_normalize_arabic_is_idempotent() -> None:
    text = "أكَّدَ الرئيسُ الإيرانيّ — في طهران — أنّ «العلاقات» متنامية ٣٫٥٪"
    once = normalize_arabic(text)
    assert normalize_arabic(once) == once


def test_fold_letters_keeps_everything_but_letters() -> None:
    text = "Iran  أكَّدَ:\n«الـمدرسة» ٣"
    assert fold_letters(text) == "Iran  اكد:\n«المدرسه» 3"


def test_words_are_normalised_tokens() -> None:
    assert words("قال: «إنّ الاتفاق، سيُوقَّع!» عام ٢٠٢٥") == ["قال", "ان", "الاتفاق", "سيوقع", "عام", "2025"]
    assert words("") == []


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://Example.COM/a/b?utm_source=x&id=7#top", "https://example.com/a/b?id=7"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/x?fbclid=abc", "http://example.com:8080/x"),
        ("  https://aawsat.com/home/article/427266?ref=rss&page=2  ", "https://aawsat.com/home/article/427266?page=2"),
        ("not a url", "not a url"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


def test_content_hash_ignores_spacing_and_diacritics_only() -> None:
    base = content_hash("أكد الرئيس أهمية التعاون")
    assert content_hash("  أَكَّدَ   الرئيسُ\nأهميةَ التعاون. ") == base
    assert content_hash("أكد الرئيس أهمية التعاون الإقليمي") != base
    assert len(base) == 64
