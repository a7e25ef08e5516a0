"""news.topics: /follow parsing, clitics, traps, salience, pair relations, gazetteer validation, dev eval."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from pathlib import Path

import pytest

from news.normalize import words
from news.topics import (
    GazetteerError,
    Topic,
    _scan,
    candidate_keys,
    default_gazetteer,
    example_topics,
    find_mentions,
    keyword_index,
    keyword_topic,
    load_gazetteer,
    parse_topic,
    salient_entities,
    split_text,
    story_topic_keys,
    suggest,
    text_words,
    token_variants,
    topic_from_key,
    topic_matches,
)

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed-article.txt"
SEED_TITLE = "بزشكيان: إيران وروسيا لديهما وجهات نظر متقاربة بشأن القضايا الإقليمية"
ARAB_LEAGUE = [
    "algeria",
    "bahrain",
    "comoros",
    "djibouti",
    "egypt",
    "iraq",
    "jordan",
    "kuwait",
    "lebanon",
    "libya",
    "mauritania",
    "morocco",
    "oman",
    "palestine",
    "qatar",
    "saudi_arabia",
    "somalia",
    "sudan",
    "syria",
    "tunisia",
    "uae",
    "yemen",
]


def seed() -> tuple[str, str]:
    """The seed article (title, text), or skip when shared/ is absent."""
    if not SEED.is_file():
        pytest.skip(f"seed article not found at {SEED}")
    title, _, text = SEED.read_text(encoding="utf-8").partition("\n")
    return title, text


# --- parse_topic ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "Iran–Russia",
        "Iran-Russia",
        "Iran — Russia",
        "Iran and Russia",
        "Iran & Russia",
        "russia / iran",
        "إيران وروسيا",
        "إيران - روسيا",
        "ايران روسيا",
        "إيران و روسيا",
        "الإيرانية الروسية",
        "العلاقات الإيرانية الروسية",
        "روسيا وإيران",
        "طهران وموسكو",
        "Iranian–Russian relations",
    ],
)
def test_parse_pair_forms_are_canonical(query: str) -> None:
    topic = parse_topic(query)
    assert topic is not None
    assert topic.key == "iran+russia"
    assert topic.entities == ("iran", "russia")
    assert topic.name("ar") == "إيران وروسيا"
    assert topic.name("en-GB") == "Iran–Russia"


@pytest.mark.parametrize(
    ("query", "key"),
    [
        ("Iran", "iran"),
        ("إيران", "iran"),
        ("ايران", "iran"),
        ("طهران", "iran"),
        ("الإيرانية", "iran"),
        ("النفط", "oil"),
        ("oil", "oil"),
        ("نفط", "oil"),
        ("سوريا", "syria"),
        ("سورية", "syria"),
        ("Saudi Arabia", "saudi_arabia"),
        ("الكرملين", "russia"),
        ("البيت الأبيض", "usa"),
        ("US–Iran", "iran+usa"),
        ("U.S. and Iran", "iran+usa"),
        ("Gaza/Palestine", "palestine"),
        ("حزب الله", "hezbollah"),
        ("الحوثيين", "houthis"),
        ("مجلس الأمن", "unsc"),
        ("IAEA", "iaea"),
        ("النفط الإيراني", "iran+oil"),
    ],
)
def test_parse_single_subject_and_other_forms(query: str, key: str) -> None:
    topic = parse_topic(query)
    assert topic is not None and topic.key == key


@pytest.mark.parametrize(
    "query", ["", "   ", "blah", "Iran Russia Turkey", "روسيا البيضاء", "Iran news today please", "x" * 500]
)
def test_parse_unintelligible_is_none(query: str) -> None:
    assert parse_topic(query) is None


def test_topic_names_and_keys_round_trip() -> None:
    topic = parse_topic("Iran–Russia")
    assert topic is not None
    assert topic.name() == "إيران وروسيا" and topic.name("en") == "Iran–Russia"
    assert topic_from_key("iran+russia") == topic
    assert topic_from_key("russia+iran") == topic
    assert topic_from_key("iran+nowhere") is None
    assert topic_from_key("iran+russia+syria") is None
    assert topic_from_key("kw:طاقه شمسيه") == Topic("kw:طاقه شمسيه", (), "طاقه شمسيه", "طاقه شمسيه")


def test_keyword_topic_is_normalised_and_limited() -> None:
    topic = keyword_topic("  الطاقة   الشمسية ")
    assert topic is not None
    assert topic.key == "kw:طاقه شمسيه" and topic.name("ar") == "الطاقة الشمسية" and topic.entities == ()
    assert keyword_topic("والطاقة الشمسيّة") == Topic("kw:طاقه شمسيه", (), "والطاقة الشمسيّة", "والطاقة الشمسيّة")
    assert keyword_topic("") is None
    assert keyword_topic("?!") is None
    assert keyword_topic("التي") is None
    assert keyword_topic("والذين") is None
    assert keyword_topic("of the") is None
    assert keyword_topic("one two three four") is None
    assert keyword_topic("ا" * 41) is None


def test_suggest_typos() -> None:
    assert suggest("Iram")[0].key == "iran"
    assert suggest("روسي")[0].key == "russia"
    assert suggest("Rusia - Iram")[0].key == "iran+russia"
    assert len(suggest("Iram", limit=2)) <= 2
    assert suggest("zzzzqqq") == []


def test_example_topics_start_with_iran_russia() -> None:
    topics = example_topics()
    assert 2 <= len(topics) <= 3
    assert topics[0].key == "iran+russia"


# --- matching ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "stem"),
    [
        ("وبإيران", "ايران"),
        ("لروسيا", "روسيا"),
        ("والروسية", "روسيه"),
        ("وللروسية", "الروسيه"),
        ("لليمن", "اليمن"),
        ("فالعراق", "العراق"),
        ("كالسعودية", "السعوديه"),
        ("بالنفط", "النفط"),
    ],
)
def test_token_variants_strip_clitics(token: str, stem: str) -> None:
    assert stem in token_variants(token.replace("إ", "ا").replace("ة", "ه"))


@pytest.mark.parametrize(
    ("title", "entity"),
    [
        ("وصول وفد وبإيران", "iran"),
        ("صادرات لروسيا", "russia"),
        ("الخارجية والروسية", "russia"),
        ("وللروسية موقف", "russia"),
        ("مساعدات لليمن", "yemen"),
        ("فالعراق يرد", "iraq"),
        ("قمة الإيرانيين", "iran"),
        ("الرئيس الأميركي", "usa"),
        ("وفد أمريكي", "usa"),
        ("الأتراك", "turkey"),
        ("Tehran and Moscow talk", "iran"),
        ("TEHRAN", "iran"),
        ("Iran's oil", "iran"),
    ],
)
def test_clitics_and_forms_are_matched(title: str, entity: str) -> None:
    assert entity in salient_entities(title, "")


@pytest.mark.parametrize(
    ("title", "entity"),
    [
        ("رئيس روسيا البيضاء يزور الصين", "russia"),
        ("بوروسيا دورتموند يفوز", "russia"),
        ("ارتفاع الدولار الأمريكي", "usa"),
        ("دول أمريكا اللاتينية", "usa"),
        ("جنوب السودان يحتفل", "sudan"),
        ("الأمير تركي بن طلال", "turkey"),
        ("مجلس الأمن القومي الإسرائيلي", "unsc"),
        ("Iranian", "iraq"),
        ("Russiagate", "russia"),
    ],
)
def test_traps_do_not_match(title: str, entity: str) -> None:
    assert entity not in salient_entities(title, "")


def test_dated_aliases() -> None:
    assert "iran" in salient_entities("بزشكيان يستقبل وفدا", "")
    assert "iran" not in salient_entities("بزشكيان يستقبل وفدا", "", when=date(2015, 7, 1))
    assert "iran" in salient_entities("روحاني يستقبل وفدا", "", when=date(2015, 7, 1))
    assert "iran" not in salient_entities("روحاني يستقبل وفدا", "")
    assert "usa" in salient_entities("ترامب يستقبل وفدا", "", when=date(2018, 1, 1))
    assert "usa" not in salient_entities("ترامب يستقبل وفدا", "", when=date(2022, 1, 1))


def test_seed_article_is_about_iran_and_russia() -> None:
    title, text = seed()
    assert title == SEED_TITLE
    keys = story_topic_keys(title, text)
    assert {"iran", "russia", "iran+russia"} <= keys
    assert not {"syria", "yemen", "iran+syria", "iran+yemen", "russia+syria"} & keys
    assert salient_entities(title, text) >= {"iran", "russia"}
    assert not {"syria", "yemen"} & salient_entities(title, text)
    for query in ("Iran–Russia", "إيران", "Russia"):
        topic = parse_topic(query)
        assert topic is not None and topic_matches(topic, title, text)
    for query in ("Syria", "اليمن"):
        topic = parse_topic(query)
        assert topic is not None and not topic_matches(topic, title, text)
    mentioned = {m.entity for m in find_mentions(title, text)}
    assert {"syria", "yemen"} <= mentioned  # mentioned in passing, yet not salient


def test_passing_mention_is_not_salient() -> None:
    title = "وزير الخارجية السعودي يبحث مع نظيره الألماني تعزيز العلاقات"
    text = (
        "بحث وزير الخارجية السعودي مع نظيره الألماني في برلين أمس العلاقات الثنائية.\n\n"
        "وأكد الوزير السعودي أن المملكة حريصة على تطوير التعاون الاقتصادي مع ألمانيا. "
        "وتناول اللقاء ملفات إقليمية بما فيها سورية واليمن. "
        "وقال إن الرياض تدعم الاستثمارات المشتركة."
    )
    assert salient_entities(title, text) == {"saudi_arabia"}
    syria = parse_topic("سوريا")
    assert syria is not None and not topic_matches(syria, title, text)


def test_repeated_mentions_make_an_entity_salient() -> None:
    title = "قراءة في المشهد الإقليمي"
    text = "مقدمة عامة عن المنطقة.\n\n" + " ".join(["وتواصل تركيا عملياتها في الشمال."] * 8)
    assert "turkey" in salient_entities(title, text)


def test_pair_needs_both_or_an_explicit_relation() -> None:
    title = "لافروف: موسكو ماضية في خططها الاقتصادية"
    text = (
        "قال وزير الخارجية الروسي سيرغي لافروف إن روسيا ماضية في خططها. "
        "وكان لافروف قد التقى نظيره الإيراني في طهران أمس.\n\n"
        "وأضاف لافروف أن الاقتصاد الروسي يتعافى. وتابع أن روسيا تنتظر نموا أكبر."
    )
    assert salient_entities(title, text) == {"russia"}
    keys = story_topic_keys(title, text)
    assert "iran+russia" in keys and "iran" not in keys
    pair = parse_topic("Iran–Russia")
    assert pair is not None and topic_matches(pair, title, text)
    only_named = text.replace("نظيره الإيراني في طهران", "مسؤولين في إيران")
    assert "iran+russia" not in story_topic_keys(title, only_named)


def test_enumerated_names_are_passing_mentions_even_in_the_lead() -> None:
    title = "مباحثات في برلين حول القضايا الإقليمية"
    text = (
        "بحث وزير الخارجية الألماني مع ضيفه أمس أزمات المنطقة وعلى رأسها سوريا والعراق واليمن وليبيا.\n\n"
        "وقال الوزير إن بلاده حريصة على الشراكة الاقتصادية."
    )
    assert salient_entities(title, text) == frozenset()
    alone = text.replace("سوريا والعراق واليمن وليبيا", "سوريا")
    assert salient_entities(title, alone) == {"syria"}  # the same name outside an enumeration is a lead mention
    assert salient_entities("سوريا والعراق واليمن وليبيا", "") == {"syria", "iraq", "yemen", "libya"}  # titles


def test_an_entity_the_lead_keeps_returning_to_is_salient() -> None:
    title = "عدوان متزايد على الأراضي السورية"
    syria = " ".join(["وتتواصل المعارك في سوريا وفي ريف دمشق وحلب."] * 6)
    lead = "قال المعارض إنه يتطلع إلى تغيير المواقف الروسية، لإدراكه أهمية روسيا على المستوى الدولي."
    keys = story_topic_keys(title, f"{lead}\n\n{syria}")
    assert {"syria", "russia"} <= keys
    once = "قال المعارض إنه يتطلع إلى تغيير المواقف الروسية على المستوى الدولي."
    assert "russia" not in story_topic_keys(title, f"{once}\n\n{syria}")
    adjacent = "قال وزير الخارجية الروسي سيرغي لافروف إن المعارك مستمرة."  # one reference, not two
    assert "russia" not in story_topic_keys(title, f"{adjacent}\n\n{syria}")


def test_followed_keywords_are_the_only_keyword_keys_checked() -> None:
    title = "افتتاح محطة للطاقة الشمسية في الصحراء"
    text = "افتتحت الحكومة أمس محطة كبرى. وستنتج الكهرباء لآلاف المنازل.\n\nوقالت إن الكهرباء ستصل قريبا."
    every = story_topic_keys(title, text)
    keywords = {k for k in every if k.startswith("kw:")}
    assert {"kw:طاقه شمسيه", "kw:كهرباء"} <= keywords
    followed = {"kw:طاقه شمسيه", "kw:كهرباء", "kw:رياح", "kw:منازل", "kw:الف منازل", "not a keyword", "kw:"}
    entities = every - keywords
    assert story_topic_keys(title, text, keywords=followed) == entities | (keywords & followed)
    assert story_topic_keys(title, text, keywords=keyword_index(followed)) == entities | (keywords & followed)
    assert story_topic_keys(title, text, keywords=()) == entities
    assert story_topic_keys(title, text, keywords=keywords) == every


def test_followed_keywords_are_found_behind_proclitics() -> None:
    index = keyword_index({"kw:نفط", "kw:اسعار نفط", "kw:غاز"})
    assert {"نفط", "والنفط", "وللنفط", "بالنفط", "فالنفط"} <= index.starts
    assert "غاز" in index.starts and "نفطي" not in index.starts
    title = "اجتماع في فيينا"
    text = "بدأ الاجتماع أمس.\n\nوتحدث الوزراء عن الاستثمار وللنفط دور. وقالوا إن الاستثمار بالنفط مستمر."
    assert story_topic_keys(title, text, keywords=index) & {"kw:نفط", "kw:اسعار نفط", "kw:غاز"} == {"kw:نفط"}
    assert story_topic_keys("ارتفاع أسعار النفط", "", keywords=index) >= {"kw:نفط", "kw:اسعار نفط"}


def test_followed_keywords_give_the_keyword_keys_of_the_full_rule() -> None:
    title, text = seed()
    every = story_topic_keys(title, text)
    keywords = sorted(k for k in every if k.startswith("kw:"))
    absent = {"kw:" + " ".join(k[3:].split()[::-1]) for k in keywords} - set(keywords)
    for followed in (set(keywords), set(keywords[::3]) | absent):
        assert story_topic_keys(title, text, keywords=keyword_index(followed)) == (every - set(keywords)) | (
            set(keywords) & followed
        )


def test_story_text_is_folded_like_normalize() -> None:
    from news.normalize import fold_letters
    from news.topics import _fold

    every_char = "".join(map(chr, range(0x2FFF))) + "\n\nإيرانُ ـــ روسيّة ٢٠٢٤ İ"
    assert _fold(every_char) == fold_letters(unicodedata.normalize("NFKC", every_char)).lower()
    assert "iran" in salient_entities("إيـــرانُ تستقبلُ وفداً", "")


def _paragraph_split(text: str) -> tuple[list[tuple[str, ...]], int]:
    """The split rule spelled out: paragraphs at line breaks, sentences at a stop and a space, lead ≤ 2 sentences."""
    sentences, lead = [], 0
    paragraphs = [p for p in re.split(r"\n", unicodedata.normalize("NFKC", text)) if p.strip()]
    for index, paragraph in enumerate(paragraphs):
        for sentence in re.split(r"[.!?؟]\s+", paragraph):
            tokens = tuple(words(sentence))
            if tokens:
                lead += index == 0 and lead < 2
                sentences.append(tokens)
    return sentences, lead


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n\n  ",
        "إيران. روسيا! الصين؟ تركيا. مصر",
        "\n \n  . ، \n إيران وروسيا. قمة\n\nالصين.\n  تركيا 3.5 U.S.A. «مصر» ؟ليبيا",
        "— ، —\nإيران. روسيا",
        "إيران.\r\nروسيا؟\u2028الصين…  تركيا!!\tمصر.\n.\n",
    ],
)
def test_split_text_keeps_the_paragraph_and_sentence_rule_and_normalize_words(text: str) -> None:
    expected, lead = _paragraph_split(text)
    assert text_words(text) == words(text)  # not split yet: folded directly
    split = split_text(text)
    assert (list(split.sentences), split.lead_sentences) == (expected, lead)
    assert text_words(text) == words(text)  # now taken from the split


def test_undated_matches_equal_the_trie_walk() -> None:
    gaz = default_gazetteer()
    sentence = "وقال علي عبدالله صالح على هامش لقاء مع الرئيس الإيراني في طهران إن السعودية والولايات المتحدة"
    tokens = tuple(words(sentence))
    walked = _scan(tokens, gaz.starts, None)
    assert _scan(tokens, gaz.starts, None, gaz.undated) == walked
    assert [(start, end, alias.entity) for start, end, alias in walked] == [
        (9, 10, "iran"),
        (11, 12, "iran"),
        (13, 14, "saudi_arabia"),
        (14, 16, "usa"),  # a longer pattern, entered by a start form with a one-token one too ("الولايات")
    ]
    assert _scan(tokens, gaz.starts, date(2010, 1, 1))[0][:2] == (1, 4)  # dated: علي عبدالله صالح, walked
    assert gaz.undated["علي"][0] is None and gaz.undated["علي"][1]  # starts only dated patterns (and more)
    alias, following = gaz.undated["لطهران"]
    assert alias is not None and alias.entity == "iran" and not following
    assert gaz.undated["روحاني"][0] is None  # only dated aliases: no undated match


def test_candidate_keys_are_singles_and_sorted_pairs() -> None:
    assert candidate_keys(frozenset({"russia", "iran", "syria"})) == {
        "iran",
        "russia",
        "syria",
        "iran+russia",
        "iran+syria",
        "russia+syria",
    }
    assert candidate_keys(frozenset()) == set()


def test_keyword_topics_match_prominent_words() -> None:
    title = "افتتاح محطة للطاقة الشمسية في الصحراء"
    text = "افتتحت الحكومة أمس محطة كبرى. وستنتج الكهرباء لآلاف المنازل."
    topic = keyword_topic("الطاقة الشمسية")
    assert topic is not None and topic.key in story_topic_keys(title, text)
    assert topic_matches(topic, title, text)
    other = keyword_topic("الرياح")
    assert other is not None and not topic_matches(other, title, text)


# --- gazetteer --------------------------------------------------------------------------------------


def test_bundled_gazetteer_covers_the_region() -> None:
    ids = set(default_gazetteer().entities)
    assert set(ARAB_LEAGUE) <= ids
    more = "iran turkey israel russia usa china eu ukraine hezbollah hamas houthis opec unsc iaea un nato"
    assert set(more.split()) <= ids
    assert {"oil", "nuclear", "sanctions"} <= ids


GOOD = """
[[entity]]
id = "iran"
kind = "country"
ar = "إيران"
en = "Iran"
nisba = ["إيراني"]
people = [{ name = "بزشكيان", from = 2024-07-28 }]
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[[entity]]\nid = "Iran!"\nkind = "country"\nar = "x"\nen = "y"\n', "'Iran!'"),
        ('[[entity]]\nid = "iraq"\nkind = "planet"\nar = "العراق"\nen = "Iraq"\n', "'iraq'"),
        ('[[entity]]\nid = "iraq"\nkind = "country"\nar = "العراق"\n', "'iraq': missing display name 'en'"),
        (
            '[[entity]]\nid = "persia"\nkind = "country"\nar = "فارس"\nen = "Persia"\nnames = ["ايران"]\n',
            "'persia': alias 'ايران' already belongs to 'iran'",
        ),
        ('[[entity]]\nid = "iran"\nkind = "country"\nar = "x"\nen = "y"\n', "'iran': duplicate id"),
        (
            '[[entity]]\nid = "iraq"\nkind = "country"\nar = "العراق"\nen = "Iraq"\n'
            'people = [{ name = "x", from = 2020-01-01, until = 2019-01-01 }]\n',
            "'iraq'",
        ),
        (
            '[[entity]]\nid = "iraq"\nkind = "country"\nar = "العراق"\nen = "Iraq"\ncolour = "red"\n',
            "'iraq': unknown field",
        ),
        ('[[entity]]\nid = "iraq"\nkind = "country"\nar = "العراق"\nen = "Iraq"\nimplies = ["mars"]\n', "'mars'"),
        ('[[entity]]\nid = "iraq"\nkind = "country"\nar = "العراق"\nen = "Iraq"\nnisba = ["عراق"]\n', "'iraq': nisba"),
    ],
)
def test_gazetteer_validation_names_the_bad_entry(tmp_path: Path, extra: str, message: str) -> None:
    path = tmp_path / "gazetteer.toml"
    path.write_text(GOOD + extra, encoding="utf-8")
    with pytest.raises(GazetteerError, match=message.replace("(", r"\(")):
        load_gazetteer(path)


def test_gazetteer_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "gazetteer.toml"
    path.write_text(GOOD, encoding="utf-8")
    gazetteer = load_gazetteer(path)
    assert list(gazetteer.entities) == ["iran"]
    assert salient_entities("الإيرانيون يصوتون", "", gazetteer=gazetteer) == {"iran"}
    assert parse_topic("Russia", gazetteer=gazetteer) is None
    with pytest.raises(GazetteerError, match="cannot read"):
        load_gazetteer(tmp_path / "missing.toml")
    (tmp_path / "broken.toml").write_text("[[entity]\n", encoding="utf-8")
    with pytest.raises(GazetteerError, match="broken.toml"):
        load_gazetteer(tmp_path / "broken.toml")


# --- eval dev data ----------------------------------------------------------------------------------


def test_dev_eval_scores(eval_path: Path) -> None:
    labelled = eval_path / "topics-dev.jsonl"
    if not labelled.is_file():
        pytest.skip(f"no topic labels at {labelled}")
    texts = {}
    for name in ("articles.jsonl", "summaries.jsonl"):
        for line in (eval_path / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            texts[record["id"]] = record
    counts: dict[str, list[int]] = {}
    for line in labelled.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        record = texts[row["id"]]
        when = datetime.fromisoformat(record["date"]).date() if record.get("date") else None
        keys = story_topic_keys(record.get("title") or "", record["text"], when)
        for label in ("Iran–Russia", "Iran", "Russia", "Syria", "Saudi Arabia", "oil"):
            if label in row["borderline"]:
                continue
            topic = parse_topic(label)
            assert topic is not None
            gold, guess = label in row["topics"], topic.key in keys
            tp_fp_fn = counts.setdefault(label, [0, 0, 0])
            tp_fp_fn[0] += gold and guess
            tp_fp_fn[1] += guess and not gold
            tp_fp_fn[2] += gold and not guess
    f1 = {label: 2 * tp / (2 * tp + fp + fn) for label, (tp, fp, fn) in counts.items()}
    assert f1["Iran–Russia"] >= 0.9, f1
    assert f1["Iran"] >= 0.9, f1
    assert f1["Russia"] >= 0.9, f1
    assert sum(f1.values()) / len(f1) >= 0.85, f1
