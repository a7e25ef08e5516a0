"""Every user-facing sentence, Arabic first, English for users whose Telegram language is English."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "welcome": {
        "ar": (
            "أهلاً بك في <b>خلاصة</b> 📰\n"
            "أتابع مواقع الأخبار العربية وأرسل لك خلاصة قصيرة لكل خبر، بجمل منقولة حرفياً من مصادرها، "
            "مع روابط المصادر.\n\n"
            "اختر موضوعاً لتتابعه، أو اكتب مثلاً:\n<code>/follow إيران روسيا</code>"
        ),
        "en": (
            "Welcome to <b>Khulasa</b> 📰\n"
            "I follow Arabic news sites and send you a short digest of each story, quoting only what the sources "
            "wrote, with links to them.\n\n"
            "Pick a topic to follow, or type for example:\n<code>/follow Iran–Russia</code>"
        ),
    },
    "help": {
        "ar": (
            "<b>الأوامر</b>\n"
            "/follow موضوع — تابع موضوعاً، مثل <code>/follow إيران روسيا</code> أو <code>/follow النفط</code>\n"
            "/unfollow موضوع — أوقف متابعة موضوع\n"
            "/topics — مواضيعك، مع أزرار لإلغاء المتابعة\n"
            "/latest — آخر الأخبار في مواضيعك (أو كل الأخبار إن لم تتابع شيئاً)\n"
            "/settings — متى تصلك الأخبار: فوراً أو في ملخص كل ساعة أو ملخص يومي، وساعات الهدوء\n"
            "/help — هذه الرسالة\n\n"
            "يمكن كتابة الموضوع بالعربية أو بالإنجليزية: <code>إيران وروسيا</code> و<code>Iran–Russia</code> "
            "موضوع واحد."
        ),
        "en": (
            "<b>Commands</b>\n"
            "/follow topic — follow a topic, e.g. <code>/follow Iran–Russia</code> or <code>/follow oil</code>\n"
            "/unfollow topic — stop following a topic\n"
            "/topics — your topics, with buttons to unfollow\n"
            "/latest — the latest stories on your topics (or all stories if you follow none)\n"
            "/settings — when stories arrive: instantly, as an hourly or a daily digest; quiet hours\n"
            "/help — this message\n\n"
            "Topics can be written in Arabic or English: <code>Iran–Russia</code> and <code>إيران وروسيا</code> "
            "are the same topic."
        ),
    },
    "follow_empty": {
        "ar": "اكتب الموضوع بعد الأمر، مثل:\n<code>/follow إيران روسيا</code>\nأو اختر أحد هذه المواضيع:",
        "en": "Write the topic after the command, e.g.:\n<code>/follow Iran–Russia</code>\nor pick one of these:",
    },
    "follow_unknown": {
        "ar": "لا أعرف «<code>{query}</code>» اسماً لبلد أو جهة أو موضوع.",
        "en": "“<code>{query}</code>” is not a country, organisation or subject I know.",
    },
    "follow_examples": {
        "ar": "جرّب اسم بلد أو جهة، مثل <code>/follow إيران روسيا</code>.",
        "en": "Try a country or organisation, e.g. <code>/follow Iran–Russia</code>.",
    },
    "did_you_mean": {"ar": "هل تقصد أحد هذه المواضيع؟", "en": "Did you mean one of these?"},
    "follow_as_keyword": {
        "ar": "أو تابعه ككلمة مفتاحية: أرسل لك الأخبار التي تبرز فيها هذه الكلمات (في العنوان أو المقدمة أو تتكرر).",
        "en": "Or follow it as a keyword: I'll send you stories where these words stand out (headline, lead or "
        "repeated).",
    },
    "keyword_button": {"ar": "🔑 تابع «{query}» ككلمة مفتاحية", "en": "🔑 Follow “{query}” as a keyword"},
    "keyword_too_long": {
        "ar": "الكلمة المفتاحية تكون {words} كلمات على الأكثر و{chars} حرفاً على الأكثر.",
        "en": "A keyword has at most {words} words and {chars} characters.",
    },
    "followed_keyword": {
        "ar": "✅ تتابع الآن الكلمة المفتاحية: <b>{name}</b>\nسأرسل لك كل خبر تبرز فيه. آخر الأخبار: /latest",
        "en": "✅ You now follow the keyword: <b>{name}</b>\nI'll send you each story where it stands out. "
        "Latest: /latest",
    },
    "suggestions_legend": {
        "ar": "⭐ الأكثر متابعة · 🔥 الأنشط هذا الأسبوع",
        "en": "⭐ most followed · 🔥 most active this week",
    },
    "followed": {
        "ar": "✅ تتابع الآن: <b>{name}</b>\nسأرسل لك كل خبر جديد عنه. آخر الأخبار: /latest",
        "en": "✅ You now follow: <b>{name}</b>\nI'll send you each new story about it. Latest: /latest",
    },
    "already_following": {"ar": "أنت تتابع <b>{name}</b> من قبل.", "en": "You already follow <b>{name}</b>."},
    "too_many_topics": {
        "ar": "وصلت إلى الحد الأقصى ({limit} موضوعاً). ألغِ متابعة موضوع أولاً: /topics",
        "en": "You have reached the limit of {limit} topics. Unfollow one first: /topics",
    },
    "topic_too_long": {
        "ar": "الموضوع طويل جداً (الحد {limit} حرفاً).",
        "en": "That topic is too long (at most {limit} characters).",
    },
    "unfollow_empty": {
        "ar": "اكتب الموضوع بعد الأمر، مثل <code>/unfollow إيران روسيا</code>، أو استخدم الأزرار في /topics",
        "en": "Write the topic after the command, e.g. <code>/unfollow Iran–Russia</code>, or use the buttons in "
        "/topics",
    },
    "unfollowed": {"ar": "تم إلغاء متابعة <b>{name}</b>.", "en": "You no longer follow <b>{name}</b>."},
    "not_following": {"ar": "أنت لا تتابع <b>{name}</b>.", "en": "You don't follow <b>{name}</b>."},
    "topics_none": {
        "ar": "لا تتابع أي موضوع بعد. جرّب <code>/follow إيران روسيا</code>",
        "en": "You don't follow any topic yet. Try <code>/follow Iran–Russia</code>",
    },
    "topics_list": {"ar": "<b>مواضيعك</b> (اضغط لإلغاء المتابعة):", "en": "<b>Your topics</b> (tap to unfollow):"},
    "latest_none": {
        "ar": "لا توجد أخبار بعد في مواضيعك. سأرسلها لك فور وصولها.",
        "en": "No stories on your topics yet. I'll send them as soon as they arrive.",
    },
    "latest_header": {"ar": "🗞 آخر الأخبار", "en": "🗞 Latest stories"},
    "unknown_command": {
        "ar": "لا أعرف هذا الأمر. الأوامر المتاحة: /help",
        "en": "I don't know that command. See /help",
    },
    "free_text": {
        "ar": "لمتابعة موضوع اكتب مثلاً <code>/follow {text}</code>، ولرؤية الأوامر: /help",
        "en": "To follow a topic, type e.g. <code>/follow {text}</code>. All commands: /help",
    },
    "admins_only": {
        "ar": "هذا الأمر لمشرفي البوت فقط.",
        "en": "This command is for the bot's admins only.",
    },
    "group_admins_only": {
        "ar": "في المجموعات، يغيّر المشرفون فقط المواضيع المتابعة.",
        "en": "In groups, only admins can change the followed topics.",
    },
    "error": {
        "ar": "عذراً، حدث خطأ غير متوقع. حاول مرة أخرى بعد قليل.",
        "en": "Sorry, something went wrong. Please try again in a moment.",
    },
    "button_stale": {"ar": "هذا الزر لم يعد صالحاً.", "en": "This button is no longer valid."},
    # delivery and /settings
    "digest_header": {"ar": "🗞 أخبار مواضيعك", "en": "🗞 News on your topics"},
    "settings_title": {"ar": "⚙️ <b>متى تصلك الأخبار</b>", "en": "⚙️ <b>When stories arrive</b>"},
    "settings_instant": {"ar": "فوراً: كل خبر عند وصوله", "en": "Instantly: each story as it arrives"},
    "settings_hourly": {"ar": "ملخص كل ساعة", "en": "An hourly digest"},
    "settings_daily": {"ar": "ملخص يومي الساعة {time}", "en": "A daily digest at {time}"},
    "settings_quiet_off": {"ar": "ساعات الهدوء: متوقفة", "en": "Quiet hours: off"},
    "settings_quiet_on": {
        "ar": "ساعات الهدوء: من {start} إلى {end} (تنتظر الأخبار حتى نهايتها)",
        "en": "Quiet hours: {start} to {end} (stories wait until they end)",
    },
    "settings_zone": {"ar": "المنطقة الزمنية: {zone}", "en": "Time zone: {zone}"},
    "settings_thread_general": {
        "ar": "تصل الأخبار إلى الموضوع العام في المنتدى.",
        "en": "Stories go to the forum's General topic.",
    },
    "settings_thread_set": {
        "ar": "تصل الأخبار إلى الموضوع الذي اختير بزر «أرسل الأخبار هنا».",
        "en": "Stories go to the topic where “Send stories here” was pressed.",
    },
    "settings_pick_hour": {
        "ar": "اختر ساعة الملخص اليومي (بتوقيت {zone}):",
        "en": "Pick the hour of the daily digest ({zone} time):",
    },
    "settings_pick_quiet": {
        "ar": "اختر ساعات الهدوء (بتوقيت {zone}):",
        "en": "Pick quiet hours ({zone} time):",
    },
    "settings_pick_zone": {"ar": "اختر المنطقة الزمنية:", "en": "Pick a time zone:"},
    "settings_saved": {"ar": "تم الحفظ ✅", "en": "Saved ✅"},
    "settings_admins_only": {
        "ar": "في المجموعات والقنوات، يغيّر المشرفون فقط إعدادات الإرسال.",
        "en": "In groups and channels, only admins can change the delivery settings.",
    },
    "btn_instant": {"ar": "⚡ فوراً", "en": "⚡ Instant"},
    "btn_hourly": {"ar": "🕐 كل ساعة", "en": "🕐 Hourly"},
    "btn_daily": {"ar": "📅 يومياً", "en": "📅 Daily"},
    "btn_digest_hour": {"ar": "🕗 ساعة الملخص اليومي", "en": "🕗 Daily digest hour"},
    "btn_quiet": {"ar": "🌙 ساعات الهدوء", "en": "🌙 Quiet hours"},
    "btn_zone": {"ar": "🌍 المنطقة الزمنية", "en": "🌍 Time zone"},
    "btn_here": {"ar": "📍 أرسل الأخبار هنا", "en": "📍 Send stories here"},
    "btn_off": {"ar": "بلا ساعات هدوء", "en": "No quiet hours"},
    "btn_back": {"ar": "↩️ رجوع", "en": "↩️ Back"},
}

COMMANDS: dict[str, list[tuple[str, str]]] = {
    "ar": [
        ("follow", "تابع موضوعاً: /follow إيران روسيا"),
        ("latest", "آخر الأخبار في مواضيعك"),
        ("topics", "مواضيعك"),
        ("settings", "متى تصلك الأخبار"),
        ("unfollow", "ألغِ متابعة موضوع"),
        ("help", "المساعدة"),
        ("start", "البداية"),
    ],
    "en": [
        ("follow", "Follow a topic: /follow Iran–Russia"),
        ("latest", "Latest stories on your topics"),
        ("topics", "Your topics"),
        ("settings", "When stories arrive"),
        ("unfollow", "Unfollow a topic"),
        ("help", "Help"),
        ("start", "Start"),
    ],
}


def t(key: str, lang: str, **values: object) -> str:
    """The text for a key in a language (Arabic when the language is not English), formatted with values."""
    text = TEXTS[key]["en" if lang == "en" else "ar"]
    return text.format(**values) if values else text
