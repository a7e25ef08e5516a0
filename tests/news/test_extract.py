"""news.extract: boilerplate rules, repeated-paragraph collapse, whitespace/tatweel, html_to_text on real and broken HTML."""

from __future__ import annotations

from pathlib import Path

import pytest

from news.extract import boilerplate_rules, clean_text, html_to_text, match_boilerplate, strip_dateline

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages"
SEED = Path(__file__).resolve().parents[3] / "shared" / "seed-article.txt"

LEAD = (
    "أكد الرئيس الإيراني مسعود بزشكيان أهمية مواصلة عملية التفاعل الإقليمي البناء بين إيران وروسيا، "
    "وقال إن البلدين لديهما وجهات نظر متقاربة بشأن القضايا الإقليمية."
)
BODY = (
    "وخلال استقباله وزير الخارجية الروسي سيرغي لافروف في طهران اليوم الثلاثاء، وصف الرئيس العلاقات "
    "بين البلدين بأنها متنامية وأكد ضرورة تسريع تنفيذ الاتفاقيات."
)
OTHER = "وكان لافروف وصل إلى طهران اليوم وعقد محادثات مع مسؤولين إيرانيين على رأسهم وزير الخارجية عباس عراقجي."


def paragraphs(text: str) -> list[str]:
    """The paragraphs of a clean_text result."""
    return text.split("\n\n") if text else []


def seed_text() -> str:
    """The seed article, or skip when shared/ is absent."""
    if not SEED.is_file():
        pytest.skip(f"seed article not found at {SEED}")
    return SEED.read_text(encoding="utf-8")


# --- boilerplate rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "تابع ميدل ايست نيوز على التلغرام telegram",
        "تابعونا على قناتنا في تلغرام",
        "تابعوا آخر الأخبار عبر حسابنا على تويتر",
        "اشترك في النشرة البريدية",
        "مقالات ذات صلة",
        "أخبار ذات صلة:",
        "اقرأ أيضاً",
        "اقرأ أيضا: ارتفاع أسعار النفط مع تراجع المخزونات",
        "اترك تعليقاً",
        "أضف تعليق",
        "لن يتم نشر عنوان بريدك الإلكتروني. الحقول الإلزامية مشار إليها بـ *",
        "ستة عشر + 9 =",
        "ثلاثة × 4 =",
        "زر الذهاب إلى الأعلى",
        "العودة إلى الأعلى",
        "جميع الحقوق محفوظة © 2025",
        "© حقوق النشر محفوظة لصحيفة الخليج",
        "Copyright 2025 Example News. All rights reserved.",
        "شارك عبر:",
        "شارك هذا المقال على",
        "مشاركة عبر واتساب",
        "Facebook Twitter WhatsApp",
        "فيسبوك تويتر واتساب تلغرام طباعة",
        "...المزيد",
        "لقراءة الحوار كاملا أنقر هنــا",
        "// انتهى //",
        "737221 - Zain",
        "للتواصل مع الكاتب ارسل رسالة SMS",
        "m.althaidy@asharqalawsat.com",
        "رابط الخبر بصحيفة الوئام: الأمم المتحدة تحذر من المجاعة",
        "الكلمات المفتاحية: إيران، روسيا، لافروف",
        "إعلان",
    ],
)
def test_boilerplate_lines_match(line: str) -> None:
    assert match_boilerplate(line) is not None, line


@pytest.mark.parametrize(
    "line",
    [
        LEAD,
        BODY,
        "وقال الوزير إن جميع الحقوق محفوظة للمواطنين وفق الدستور الجديد الذي أقره البرلمان بعد نقاش طويل "
        "استمر أشهرا وشارك فيه ممثلون عن مختلف الكتل السياسية والنقابات المهنية والجمعيات الأهلية.",
        "وشارك في المؤتمر أكثر من 300 خبير من 40 دولة.",
        "تابع الوزير جولته في المنطقة الشرقية حيث زار عددا من المشاريع.",
        "وأضاف أن 2 + 2 = 4 ليست معادلة السياسة في المنطقة.",
        "ارتفع المؤشر 1.7 في المئة إلى 4165 نقطة.",
    ],
)
def test_article_lines_do_not_match(line: str) -> None:
    assert match_boilerplate(line) is None


def test_rules_load_once_and_are_well_formed() -> None:
    rules = boilerplate_rules()
    assert rules is boilerplate_rules()
    names = [rule.name for rule in rules]
    assert len(names) == len(set(names))
    assert {rule.kind for rule in rules} == {"drop", "list", "cut", "dateline", "prefix"}
    assert all(rule.max_words > 0 for rule in rules)


# --- clean_text -----------------------------------------------------------------------------------------


def test_clean_text_drops_boilerplate_lines() -> None:
    text = "\n".join([LEAD, "شارك عبر:", "Facebook Twitter WhatsApp", BODY, "جميع الحقوق محفوظة © 2025", OTHER])
    assert paragraphs(clean_text(text)) == [LEAD, BODY, OTHER]


def test_related_list_is_dropped_with_its_headlines() -> None:
    text = "\n\n".join(
        [LEAD, "اقرأ أيضاً", "ارتفاع أسعار النفط مع تراجع المخزونات", "البنك المركزي يبقي الفائدة دون تغيير", BODY]
    )
    assert paragraphs(clean_text(text)) == [LEAD, BODY]


def test_comment_form_cuts_the_tail_only_late_in_the_text() -> None:
    late = "\n".join([LEAD, BODY, OTHER, "اترك تعليقاً", "محمد: مقال رائع", "الاسم *"])
    assert paragraphs(clean_text(late)) == [LEAD, BODY, OTHER]
    early = "\n".join(["اترك تعليقاً", LEAD, BODY])
    assert paragraphs(clean_text(early)) == [LEAD, BODY]


def test_exact_repeats_collapse() -> None:
    text = "\n".join([LEAD, BODY, LEAD, "  " + BODY.replace(" ", "  ") + " "])
    assert paragraphs(clean_text(text)) == [LEAD, BODY]


def test_fuller_version_with_dateline_replaces_the_lead_in_place() -> None:
    fuller = "ميدل ايست نيوز: " + LEAD[:-1] + " ويسعيان إلى تعزيز تعاونهما الإقليمي والدولي."
    assert paragraphs(clean_text("\n".join([LEAD, fuller, BODY]))) == [fuller, BODY]


def test_paraphrased_repeat_is_dropped() -> None:
    repeat = (
        "وأكد أهمية مواصلة عملية التفاعل الإقليمي البناء بين البلدين، وأضاف: إن إيران وروسيا لديهما "
        "وجهات نظر متقاربة بشأن القضايا الإقليمية."
    )
    assert paragraphs(clean_text("\n".join([LEAD, BODY, repeat, OTHER]))) == [LEAD, BODY, OTHER]


def test_similar_but_different_lines_are_kept() -> None:
    lines = [
        "دبي.. ارتفع المؤشر 1.7 في المئة إلى 4165 نقطة.",
        "أبوظبي.. صعد المؤشر 0.6 في المئة إلى 4843 نقطة.",
        "قطر.. زاد المؤشر 0.2 في المئة إلى 11837 نقطة.",
    ]
    assert paragraphs(clean_text("\n".join(lines))) == lines


def test_whitespace_tatweel_and_invisible_marks() -> None:
    text = "أعلنت\u00a0الوزارة   الـــيوم\u200f عن الخطة\u200b.\r\n\r\n\tوقالت إن الموعد 1436هـ \ufeffبـ *"
    assert clean_text(text) == "أعلنت الوزارة اليوم عن الخطة.\n\nوقالت إن الموعد 1436هـ بـ *"


def test_arabic_text_is_not_folded() -> None:
    text = "أكَّد الرئيسُ أنّ إيران مستعدة، وأن المشفى والمدرسة ٣٫٥ ستُفتح؟"
    assert clean_text(text) == text


def test_clean_text_is_idempotent_and_handles_empty_input() -> None:
    text = "\n".join([LEAD, "مقالات ذات صلة", "عنوان مقال", BODY, BODY, "زر الذهاب إلى الأعلى"])
    once = clean_text(text)
    assert clean_text(once) == once
    assert clean_text("") == ""
    assert clean_text(" \n\u200f\n ") == ""


def test_seed_article_loses_boilerplate_and_repeated_lead() -> None:
    cleaned = clean_text(seed_text())
    for junk in ("تابع ميدل ايست نيوز", "مقالات ذات صلة", "اترك تعليقاً", "لن يتم نشر", "ستة عشر", "زر الذهاب"):
        assert junk not in cleaned
    kept = paragraphs(cleaned)
    lead_like = [p for p in kept if "وجهات نظر متقاربة بشأن القضايا الإقليمية" in p]
    assert len(lead_like) == 1  # said once, in its fullest form
    assert lead_like[0].startswith("ميدل ايست نيوز: أكد الرئيس الإيراني") and kept.index(lead_like[0]) == 0
    assert "وأضاف: إن إيران وروسيا" not in cleaned
    assert kept[-1].startswith("وتأتي زيارة لافروف")


# --- datelines ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sentence", "stripped"),
    [
        ("ميدل ايست نيوز: أكد الرئيس الإيراني أهمية مواصلة التفاعل", "أكد الرئيس الإيراني أهمية مواصلة التفاعل"),
        ("عبدالله البرقاوي- سبق- الرياض: تمكّن البنك السعودي من استعادة حسابه", "تمكّن البنك السعودي من استعادة حسابه"),
        ("واس - عمان :صدر اليوم بيان مشترك بمناسبة زيارة ولي العهد", "صدر اليوم بيان مشترك بمناسبة زيارة ولي العهد"),
        # headlines and quotes with a colon are not datelines
        ("بزشكيان: إيران وروسيا لديهما وجهات نظر متقاربة", "بزشكيان: إيران وروسيا لديهما وجهات نظر متقاربة"),
        ("وقال الوزير: إن البلدين لديهما وجهات نظر متقاربة", "وقال الوزير: إن البلدين لديهما وجهات نظر متقاربة"),
        # too little would be left
        ("رويترز: انتهى الاجتماع", "رويترز: انتهى الاجتماع"),
    ],
)
def test_strip_dateline(sentence: str, stripped: str) -> None:
    assert strip_dateline(sentence) == stripped


# --- html_to_text ---------------------------------------------------------------------------------------


def test_html_page_to_clean_text() -> None:
    html = (PAGES / "gulf-desalination.html").read_text(encoding="utf-8")
    text = html_to_text(html)
    assert "نص من سكربت" not in text and "لا تظهر" not in text and "dataLayer" not in text
    assert "الرئيسية" not in text.split("\n") and "اقتصاد" not in text  # navigation
    assert '"يخفض استهلاك الوقود' in text  # entities decoded
    assert "2,000 فلس قبل عشر سنوات.\nوأوضح" in text  # <br> is a line break
    cleaned = clean_text(text)
    for junk in ("شارك عبر", "Facebook", "تلغرام", "اقرأ أيضاً", "ارتفاع أسعار النفط", "اترك تعليقاً", "الاسم *",
                 "ثلاثة × 4", "جميع الحقوق", "زر الذهاب", "احفظ اسمي"):  # fmt: skip
        assert junk not in cleaned, junk
    kept = paragraphs(cleaned)
    assert kept[0] == "افتتاح أكبر محطة لتحلية المياه بالطاقة الشمسية في الخليج"
    assert kept[1].startswith("وكالة الخليج نيوز: افتتح وزير الطاقة")  # the fuller lead, in the lead's place
    assert sum("أكبر مشروع من نوعه" in p for p in kept) == 1
    assert "الذين تفقدوا" in cleaned  # tatweel removed


def test_broken_html_fragment() -> None:
    html = (PAGES / "broken-fragment.html").read_text(encoding="utf-8")
    assert html_to_text(html) == (
        "أعلنت الهيئة العامة للأرصاد عن موجة حر تبدأ غداً\nوتستمر حتى نهاية الأسبوع\n\n"
        'وقالت الهيئة في بيان إن درجات الحرارة "قد تتجاوز 48 درجة" في المناطق الداخلية & الساحلية. '
        "ونصحت المواطنين بتجنب التعرض المباشر لأشعة الشمس\n\n"
        "شرب كميات كافية من الماء\n\nتجنب الخروج وقت الظهيرة\n\n"
        "آخر سطر بلا إغلاق المطر &bogus; < 5 درجات"
    )


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("", ""),
        ("   \n ", ""),
        ("<p></p><div> </div>", ""),
        ("<!-- only a comment -->", ""),
        ("نص عادي بلا وسوم", "نص عادي بلا وسوم"),
        ("سطر أول\nسطر <b>ثان</b>\n\nفقرة", "سطر أول\nسطر ثان\n\nفقرة"),  # no block tags: line breaks kept
        ("<p>سطر\nفي فقرة</p>", "سطر في فقرة"),  # in HTML, a source line break is a space
        ("<p>أ</p><p>ب</p>", "أ\n\nب"),
        ("<ul><li>أول<li>ثان</ul>", "أول\n\nثان"),
        ("سطر<br>سطر<br/><br/>ثالث", "سطر\nسطر\n\nثالث"),
        ("<?xml version='1.0' encoding='utf-8'?><p>x</p>", "x"),
        ("<p>a &amp;quot;b&amp;quot; &#x627;&#1604; &nbsp;c</p>", 'a "b" ال c'),
        ("<style>p{}</style><script>x<y</script><p>نص</p>", "نص"),
        ("<table><tr><td>أ</td><td>ب</td></tr></table>", "أ ب"),
        ("\ufeffنص\u200f  عادي\u2028ثان\xa0x\n \n\nفقرة", "نص عادي ثان x\n\nفقرة"),  # plain text, odd spaces
        ("<p>أ</p>قبل<nav>قائمة</nav>ب", "أ\n\nقبل\n\nب"),  # a skipped block still ends a paragraph
        ("<p>\ue000أ\n</p><p>ب&#xe000;\ue001</p>", "\ue000أ\n\nب\ue000\ue001"),  # private-use characters stay
    ],
)
def test_html_to_text_cases(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize(
    "garbage",
    [
        "<",
        ">>>><<<<",
        "\x00\x01\x02<p>\x00</p>",
        "<div>" * 5000 + "عميق",
        "<" * 10000,
        "<p attr='unterminated>text",
        "<![CDATA[ <p>x</p>",
        "&#xFFFFFFFF; &#0; &#55296;",
        "<html><body></html></body><p>بعد",
        "\ufffe\uffff<b>ok</b>",
    ],
)
def test_html_to_text_never_raises(garbage: str) -> None:
    text = html_to_text(garbage)
    assert isinstance(text, str)
    assert "\x00" not in text
