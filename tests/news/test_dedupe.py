"""news.dedupe: fingerprints, pair decisions, time window, online vs batch grouping, dev eval."""

from __future__ import annotations

import pickle
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from benchmarks._evaldir import eval_dir
from news.dedupe import (
    LEAD_TOKENS,
    LEAD_WORDS,
    DocSig,
    Placement,
    StoryIndex,
    content_tokens,
    fingerprint,
    group_stories,
    idf_table,
    same_story,
    similarity,
)

T0 = datetime(2015, 8, 6, 9, 0, tzinfo=UTC)

WIRE = (
    "ماليزيا تؤكد أن الحطام يعود للطائرة المفقودة إم إتش 370",
    "أكد رئيس الوزراء الماليزي نجيب عبد الرزاق في وقت مبكر من صباح الخميس أن قطعة الحطام التي عثر عليها في "
    "جزيرة ريونيون الفرنسية بالمحيط الهندي تعود إلى طائرة بوينغ 777 التابعة للخطوط الجوية الماليزية في رحلتها "
    "إم إتش 370 التي اختفت في الثامن من مارس 2014 وعلى متنها 239 شخصا. "
    "وقال نجيب في مؤتمر صحفي في كوالالمبور إن خبراء فرنسيين وماليزيين فحصوا القطعة في مختبر بمدينة تولوز "
    "وأكدوا أنها جزء من جناح الطائرة. "
    "وأضاف أن هذا التأكيد يمثل أول دليل مادي على أن الطائرة أنهت رحلتها في جنوب المحيط الهندي. "
    "وعبر رئيس الوزراء عن تعاطفه مع أسر الركاب الذين انتظروا أكثر من خمسمئة يوم. "
    "وتواصل فرق البحث الأسترالية مسح قاع المحيط في منطقة تبلغ مساحتها 120 ألف كيلومتر مربع.",
)
# The same wire story, retitled and cut after its second sentence by another paper.
TRIMMED = (
    "رسميا: حطام ريونيون من الطائرة الماليزية",
    "أكد رئيس الوزراء الماليزي نجيب عبد الرزاق صباح يوم الخميس أن قطعة الحطام التي عثر عليها في جزيرة "
    "ريونيون الفرنسية بالمحيط الهندي تعود إلى طائرة بوينغ 777 التابعة للخطوط الجوية الماليزية في رحلتها "
    "إم إتش 370 التي اختفت في الثامن من مارس 2014 وعلى متنها 239 شخصا. "
    "وقال نجيب في مؤتمر صحفي في كوالالمبور إن خبراء فرنسيين وماليزيين فحصوا القطعة في مختبر بمدينة تولوز.",
)
# An independent rewrite: other words, same names, places and numbers.
REWRITE = (
    "نجيب عبد الرزاق: قطعة الجناح من الرحلة 370",
    "أعلن نجيب عبد الرزاق رئيس وزراء ماليزيا أن الخبراء في تولوز تأكدوا من أن الجزء المكتشف على شاطئ جزيرة "
    "ريونيون هو من جناح الطائرة بوينغ 777 المفقودة منذ مارس 2014. "
    "وكانت الطائرة تقل 239 راكبا من كوالالمبور إلى بكين عندما اختفت عن شاشات الرادار. "
    "وقال نجيب إن التأكيد يعني أن الطائرة سقطت في جنوب المحيط الهندي، معربا عن أمله في العثور على مزيد من الحطام.",
)
# One template, two market sessions: different events.
CLOSE_1 = (
    "الأسهم السعودية تغلق منخفضة 136 نقطة",
    "سجل مؤشر سوق الأسهم السعودية اليوم تراجعا بمقدار 136.12 نقطة بنسبة 1.55 في المئة ليغلق عند مستوى "
    "8654.64 نقطة، وبتداولات بلغت قيمتها 5.4 مليار ريال. "
    "وبلغت كمية الأسهم المتداولة 210 ملايين سهم تقاسمتها 98 ألف صفقة سجلت فيها أسهم 20 شركة ارتفاعا في "
    "قيمتها، فيما أغلقت أسهم 146 شركة على تراجع. "
    "وكانت أسهم شركات موبايلي وكيان والإنماء الأكثر نشاطا من حيث الكمية.",
)
CLOSE_2 = (
    "الأسهم السعودية تغلق مرتفعة 21 نقطة",
    "سجل مؤشر سوق الأسهم السعودية اليوم ارتفاعا بمقدار 21.29 نقطة بنسبة 0.24 في المئة ليغلق عند مستوى "
    "8790.77 نقطة، وبتداولات بلغت قيمتها 6.1 مليار ريال. "
    "وبلغت كمية الأسهم المتداولة 232 مليون سهم تقاسمتها 105 آلاف صفقة سجلت فيها أسهم 112 شركة ارتفاعا في "
    "قيمتها، فيما أغلقت أسهم 50 شركة على تراجع. "
    "وكانت أسهم شركات الإنماء وكيان وزين الأكثر نشاطا من حيث الكمية.",
)
# Same topic (customs seizures), same day, two different events.
BUST_1 = (
    "إحباط تهريب 320 ألف حبة كبتاغون في منفذ الحديثة",
    "أحبط رجال الجمارك في منفذ الحديثة محاولة تهريب 320 ألف حبة كبتاغون كانت مخبأة داخل ستة جوالين "
    "بلاستيكية في شاحنة قادمة إلى المملكة. "
    "وأوضح مدير جمرك الحديثة إبراهيم العنزي أنه جرى تسليم المضبوطات والسائق إلى المديرية العامة لمكافحة المخدرات.",
)
BUST_2 = (
    "إحباط تهريب 176 كبسولة هيروين وكوكايين في مطار جدة",
    "أحبط رجال الجمارك في مطار الملك عبدالعزيز الدولي بجدة محاولتي تهريب 87 كبسولة كوكايين و89 كبسولة "
    "هيروين كانت مخبأة داخل أحشاء مسافرين قادمين إلى المملكة. "
    "وأوضح مدير جمرك المطار أنه جرى تسليم المضبوطات والمسافرين إلى المديرية العامة لمكافحة المخدرات.",
)


def sig(article: tuple[str, str], source: str, hours: float = 0) -> DocSig:
    """A fingerprint published `hours` after T0."""
    title, text = article
    return fingerprint(title, text, source=source, published=T0 + timedelta(hours=hours))


def corpus() -> list[tuple[str, DocSig]]:
    """One three-article story and four articles that each stand alone."""
    return [
        ("wire", sig(WIRE, "okaz")),
        ("trimmed", sig(TRIMMED, "alriyadh", 3)),
        ("rewrite", sig(REWRITE, "aawsat", 6)),
        ("close-1", sig(CLOSE_1, "okaz", 1)),
        ("close-2", sig(CLOSE_2, "alyaum", 25)),
        ("bust-1", sig(BUST_1, "okaz", 2)),
        ("bust-2", sig(BUST_2, "alwatan", 4)),
    ]


def idf() -> dict[str, float]:
    """The IDF of the small corpus."""
    return dict(idf_table(s for _, s in corpus()))


# --- fingerprints -----------------------------------------------------------------------------------


def test_content_tokens_fold_strip_clitics_and_drop_stop_words() -> None:
    assert content_tokens("وقال إنّ الرئيسَ والوزراء في بالرياض") == ["رييس", "وزراء", "رياض"]


@pytest.mark.parametrize(
    ("word", "token"),
    [
        ("والدولة", "دوله"),  # "وال" leaves 4 letters
        ("وبالتالي", "تالي"),  # "وبال" comes before "و"
        ("للبيت", "بيت"),  # "لل" leaves 3
        ("والده", "الده"),  # "وال" would leave 2; "و" leaves 4
        ("وزراء", "زراء"),
        ("والد", "والد"),  # "وال" would leave 1, "و" 3
        ("ولد", "ولد"),
    ],
)
def test_clitic_stripping_takes_the_first_prefix_that_leaves_enough_letters(word: str, token: str) -> None:
    assert content_tokens(word) == [token]


def test_fingerprint_keeps_numbers_but_not_years_and_makes_times_utc() -> None:
    riyadh = timezone(timedelta(hours=3))
    s = fingerprint("عنوان", "بلغ العدد ٢٣٩ شخصا في 2014 و1436", published=datetime(2015, 8, 6, 12, tzinfo=riyadh))
    assert s.numbers == frozenset({"239"})
    assert s.published == datetime(2015, 8, 6, 9, tzinfo=UTC)
    naive = fingerprint("عنوان", "نص", published=datetime(2015, 8, 6, 9))
    assert naive.published == datetime(2015, 8, 6, 9, tzinfo=UTC)


def test_fingerprint_numbers_are_digit_runs_of_words_and_lead_numbers_stop_after_the_lead() -> None:
    text = "ارتفع العدد إلى 12 و89 في المادة3ب " + "كلمة " * LEAD_WORDS + "وبلغ 777 في 1436"
    s = fingerprint("عنوان 45", text)
    assert s.numbers == frozenset({"45", "12", "89", "3", "777"})
    assert s.lead_numbers == frozenset({"45", "12", "89", "3"})


def test_fingerprint_term_counts_are_those_of_the_content_tokens_sorted_by_term() -> None:
    title, text = WIRE
    s = fingerprint(title, text)
    tokens = content_tokens(title) + content_tokens(text)
    assert [term for term, _ in s.tf] == sorted(set(tokens))
    assert dict(s.tf) == {term: tokens.count(term) for term in tokens}
    assert s.lead == tuple(tokens[: len(content_tokens(title)) + LEAD_TOKENS])


def test_idf_table_weighs_many_terms_like_one_by_one_and_like_a_plain_mapping() -> None:
    a, b = sig(WIRE, "okaz"), sig(TRIMMED, "alriyadh", 3)
    table = idf_table(s for _, s in corpus())
    terms = [*sorted(a.terms | b.terms), "غير_موجود"]
    assert table.weights(terms) == [table[t] for t in terms]
    assert table["غير_موجود"] > table[terms[0]]  # unseen terms weigh as rare
    plain = {t: table[t] for t in terms}
    assert similarity(a, b, table) == similarity(a, b, plain)
    assert similarity(a, b, table) != similarity(a, b)  # the IDF does change the score


def test_fingerprint_is_pure_and_hashable() -> None:
    assert sig(WIRE, "okaz") == sig(WIRE, "okaz")
    assert len({sig(WIRE, "okaz"), sig(WIRE, "okaz")}) == 1


@pytest.mark.parametrize(
    ("title", "text", "published"),
    [
        (*WIRE, T0),
        ("", "", None),
        ("Tokyo 東京 talks ☺", "東京 東京 " * 300 + "النفط 2015", datetime(2016, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
    ],
)
def test_signatures_survive_pickling_equal_and_place_alike(title: str, text: str, published: datetime | None) -> None:
    original = fingerprint(title, text, source="okaz", published=published)
    copy = pickle.loads(pickle.dumps(original))
    assert copy == original and hash(copy) == hash(original)
    assert (copy.tf, copy.title, copy.lead, copy.published) == (original.tf, original.title, original.lead, published)
    assert copy.terms == original.terms and copy.counts == original.counts
    placements = []
    for s in (original, copy):
        index = StoryIndex()
        index.place("wire", sig(WIRE, "okaz"))
        index.place("trimmed", sig(TRIMMED, "watan"))
        placements.append((index.place("doc", s), index.stories()))
    assert placements[0] == placements[1]
    trimmed = pickle.loads(pickle.dumps(sig(TRIMMED, "watan")))
    assert similarity(sig(WIRE, "okaz"), trimmed) == similarity(sig(WIRE, "okaz"), sig(TRIMMED, "watan"))


def test_a_fingerprint_is_the_signature_its_fields_make() -> None:
    """fingerprint builds its signature from term columns (tf paired up when read): the same as one made by __init__."""
    made = fingerprint(*WIRE, source="okaz", published=T0)
    tokens = content_tokens(WIRE[0]) + content_tokens(WIRE[1])
    assert made.tf == tuple(sorted(Counter(tokens).items()))
    fields = {name: getattr(made, name) for name in DocSig.__dataclass_fields__}
    assert DocSig(**fields) == made and hash(DocSig(**fields)) == hash(made)
    assert pickle.dumps(DocSig(**fields)) == pickle.dumps(fingerprint(*WIRE, source="okaz", published=T0))


def test_pickled_signatures_are_smaller_than_their_fields() -> None:
    original = sig(WIRE, "okaz")
    fields = (original.title, original.lead, original.tf, original.numbers, original.lead_numbers, original.published)
    assert len(pickle.dumps(original)) < len(pickle.dumps(fields)) / 1.5


# --- pair decisions ---------------------------------------------------------------------------------


def test_wire_copy_and_trimmed_copy_are_one_story() -> None:
    assert same_story(sig(WIRE, "okaz"), sig(TRIMMED, "alriyadh", 3), idf())
    assert same_story(sig(WIRE, "okaz"), sig(TRIMMED, "alriyadh", 3))  # without IDF too


def test_rewrite_sharing_names_and_numbers_is_one_story() -> None:
    assert similarity(sig(WIRE, "okaz"), sig(REWRITE, "aawsat", 6), idf()) > 0.8
    assert same_story(sig(TRIMMED, "alriyadh", 3), sig(REWRITE, "aawsat", 6), idf())


def test_same_template_other_session_is_not_one_story() -> None:
    assert not same_story(sig(CLOSE_1, "okaz"), sig(CLOSE_2, "alyaum", 24), idf())


def test_same_topic_different_event_is_not_one_story() -> None:
    assert not same_story(sig(BUST_1, "okaz"), sig(BUST_2, "alwatan", 2), idf())
    assert similarity(sig(WIRE, "okaz"), sig(BUST_1, "alwatan")) < 0.1


# --- grouping ---------------------------------------------------------------------------------------


def test_group_stories_forms_the_story_and_leaves_the_rest_alone() -> None:
    groups = group_stories(corpus())
    assert groups == {
        "wire": "wire",
        "trimmed": "wire",
        "rewrite": "wire",
        "close-1": "close-1",
        "close-2": "close-2",
        "bust-1": "bust-1",
        "bust-2": "bust-2",
    }


def test_group_stories_is_deterministic_and_names_stories_after_their_first_article() -> None:
    docs = corpus()
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    assert group_stories(shuffled) == group_stories(docs)
    late_wire = [(doc_id, s) for doc_id, s in docs if doc_id != "wire"] + [("wire", sig(WIRE, "okaz", 9))]
    assert group_stories(late_wire)["wire"] == "trimmed"


def test_one_outlet_is_not_linked_to_itself_but_unknown_outlets_are() -> None:
    assert group_stories([("a", sig(WIRE, "okaz")), ("b", sig(TRIMMED, "okaz", 1))]) == {"a": "a", "b": "b"}
    assert group_stories([("a", sig(WIRE, "")), ("b", sig(TRIMMED, "", 1))]) == {"a": "a", "b": "a"}


def test_time_window_is_respected_in_batch() -> None:
    docs = [("old", sig(WIRE, "okaz")), ("new", sig(TRIMMED, "alriyadh", 5 * 24))]
    assert group_stories(docs) == {"old": "old", "new": "new"}
    assert group_stories(docs, window=timedelta(days=6)) == {"old": "old", "new": "old"}


def test_story_index_evicts_documents_older_than_the_window() -> None:
    index = StoryIndex(window=timedelta(hours=72))
    assert index.add("wire", sig(WIRE, "okaz")) == "wire"
    assert index.add("trimmed", sig(TRIMMED, "alriyadh", 3)) == "wire"
    before = index.idf["ريونيون"]
    assert index.add("bust", sig(BUST_1, "alwatan", 80)) == "bust"
    assert "wire" not in index and "trimmed" not in index
    assert len(index) == 1
    assert index.add("rewrite", sig(REWRITE, "aawsat", 80)) == "rewrite"
    assert index.idf["ريونيون"] > before  # document frequencies follow the window
    assert "ماليزيه" not in index.idf


def test_story_index_incremental_equals_batch() -> None:
    docs = corpus()
    index = StoryIndex()
    online = {doc_id: index.add(doc_id, s) for doc_id, s in sorted(docs, key=lambda d: d[1].published or T0)}
    assert online == group_stories(docs)
    rebuilt = StoryIndex.from_iterable(reversed(docs))
    assert rebuilt.stories() == {
        "wire": ("wire", "trimmed", "rewrite"),
        "close-1": ("close-1",),
        "bust-1": ("bust-1",),
        "bust-2": ("bust-2",),
        "close-2": ("close-2",),
    }


def test_story_index_add_is_idempotent_and_works_without_times() -> None:
    index = StoryIndex()
    assert index.add("a", fingerprint(*WIRE, source="okaz")) == "a"
    assert index.add("b", fingerprint(*TRIMMED, source="alriyadh")) == "a"
    assert index.add("b", fingerprint(*BUST_1, source="alriyadh")) == "a"
    assert index.story_of("b") == "a" and len(index) == 2


# A wire story cut in two by two outlets (its confirmation, then the search that goes on): alike enough to be
# linked through the full wire copy, not enough to be linked directly.
CONFIRMED = (WIRE[0], "أكد رئيس الوزراء الماليزي نجيب عبد الرزاق في وقت مبكر من صباح الخميس أن قطعة الحطام التي عثر "
             "عليها في جزيرة ريونيون الفرنسية بالمحيط الهندي تعود إلى طائرة بوينغ 777 التابعة للخطوط الجوية "
             "الماليزية في رحلتها إم إتش 370 التي اختفت في الثامن من مارس 2014 وعلى متنها 239 شخصا. "
             "وقال نجيب في مؤتمر صحفي في كوالالمبور إن خبراء فرنسيين وماليزيين فحصوا القطعة في مختبر بمدينة "
             "تولوز وأكدوا أنها جزء من جناح الطائرة.")  # fmt: skip
SEARCH = (
    "ماليزيا: فرق البحث تواصل مسح المحيط الهندي بحثا عن الطائرة المفقودة",
    "وأضاف أن هذا التأكيد يمثل أول دليل مادي على أن الطائرة أنهت رحلتها في جنوب المحيط الهندي. "
    "وعبر رئيس الوزراء عن تعاطفه مع أسر الركاب الذين انتظروا أكثر من خمسمئة يوم. "
    "وتواصل فرق البحث الأسترالية مسح قاع المحيط في منطقة تبلغ مساحتها 120 ألف كيلومتر مربع.",
)


def bridged() -> list[tuple[str, DocSig]]:
    """Two halves of one story from two outlets, then the full wire copy from a third."""
    return [("confirmed", sig(CONFIRMED, "okaz")), ("search", sig(SEARCH, "alriyadh", 1)),
            ("wire", sig(WIRE, "aawsat", 2))]  # fmt: skip


def test_halves_are_not_one_story_on_their_own_but_the_wire_copy_matches_both() -> None:
    (_, confirmed), (_, search), (_, wire) = bridged()
    assert not same_story(confirmed, search)
    assert same_story(wire, confirmed) and same_story(wire, search)


def test_story_index_merges_two_stories_a_bridge_article_links_and_reports_the_merge() -> None:
    index = StoryIndex()
    placements = [index.place(doc_id, s) for doc_id, s in bridged()]
    assert placements == [Placement("confirmed"), Placement("search"), Placement("confirmed", ("search",))]
    assert index.stories() == {"confirmed": ("confirmed", "wire", "search")}
    assert index.story_of("search") == "confirmed"
    assert group_stories(bridged()) == dict.fromkeys(("confirmed", "search", "wire"), "confirmed")


def test_a_settled_story_keeps_its_id_when_merged_and_two_settled_stories_never_merge() -> None:
    index = StoryIndex()
    (c_id, c), (s_id, s), (w_id, w) = bridged()
    index.place(c_id, c)
    index.place(s_id, s)
    index.settle("search")  # pushed: the unpushed story is merged into it, under its id
    assert index.place(w_id, w) == Placement("search", ("confirmed",))
    assert index.stories() == {"search": ("search", "confirmed", "wire")}

    both = StoryIndex()
    for doc_id, doc in bridged()[:2]:
        both.settle(both.add(doc_id, doc))
    assert both.place(w_id, w) == Placement("confirmed")
    assert both.stories() == {"confirmed": ("confirmed", "wire"), "search": ("search",)}


def test_merged_story_links_leave_with_evicted_documents() -> None:
    index = StoryIndex(window=timedelta(hours=72))
    for doc_id, doc in bridged():
        index.place(doc_id, doc)
    assert index.place("later", sig(BUST_1, "alwatan", 80)) == Placement("later")
    assert index.stories() == {"later": ("later",)}
    # the same three again, a week on: grouped afresh, nothing left over from the evicted copies
    week = timedelta(days=7)
    again = [(f"{doc_id}-2", replace(doc, published=(doc.published or T0) + week)) for doc_id, doc in bridged()]
    assert [index.place(doc_id, doc).story for doc_id, doc in again] == ["confirmed-2", "search-2", "confirmed-2"]


# --- eval dev data ----------------------------------------------------------------------------------


def test_dev_pairs_precision_and_f1() -> None:
    folder = eval_dir()
    if folder is None or not (folder / "stories-dev.jsonl").is_file():
        pytest.skip("no story eval data (shared/eval/stories-*.jsonl, or set KHULASA_EVAL_DIR)")
    from benchmarks.stories import load, ours, ours_online, score

    articles, pairs = load(folder)
    result = score(ours(articles), pairs)
    assert result.precision >= 0.93, result
    assert result.f1 >= 0.88, result
    online = score(ours_online(articles), pairs)  # what the bot uses: the index, with merges
    assert online.precision >= 0.95, online
    assert online.f1 >= 0.9, online
