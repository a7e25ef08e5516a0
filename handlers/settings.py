"""/settings and its buttons: instant pushes or an hourly/daily digest, quiet hours, time zone, forum thread.

Buttons carry `s:<what>:<value>`: `m` mode, `h` daily digest hour, `q` quiet hours (`22-7` or `off`), `z` time
zone, `t` send to this forum thread, `v` show a sub-menu (`main`, `hour`, `quiet`, `zone`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from handlers.common import may_change_follows, remember_chat
from handlers.context import Context, forum_thread, language
from handlers.texts import t
from news.render import isolate
from storage import outbox, subscribers
from storage.subscribers import DAILY, HOURLY, INSTANT, MODES, Preferences

ZONES = (
    "Asia/Riyadh",
    "Asia/Dubai",
    "Asia/Baghdad",
    "Asia/Amman",
    "Asia/Beirut",
    "Africa/Cairo",
    "Africa/Tunis",
    "Africa/Casablanca",
    "Europe/London",
    "UTC",
)
QUIET_PRESETS = ((22, 7), (23, 6), (0, 8))
MODE_BUTTONS = ((INSTANT, "btn_instant"), (HOURLY, "btn_hourly"), (DAILY, "btn_daily"))

# ------------------------------------------------------------------------------------------- views (pure)


def _hour(hour: int) -> str:
    return isolate(f"{hour:02d}:00")


def _zone_label(zone: str, now: datetime) -> str:
    offset = now.astimezone(ZoneInfo(zone)).strftime("%z")
    return f"{zone} (UTC{offset[:3]}:{offset[3:]})"


def settings_text(preferences: Preferences, lang: str, zone: str, *, forum: bool) -> str:
    """The chat's delivery settings in words."""
    if preferences.mode == DAILY:
        mode = t("settings_daily", lang, time=_hour(preferences.digest_hour))
    else:
        mode = t("settings_hourly" if preferences.mode == HOURLY else "settings_instant", lang)
    if preferences.quiet_start is None or preferences.quiet_end is None:
        quiet = t("settings_quiet_off", lang)
    else:
        quiet = t("settings_quiet_on", lang, start=_hour(preferences.quiet_start), end=_hour(preferences.quiet_end))
    lines = [t("settings_title", lang), f"• {mode}", f"• {quiet}", f"• {t('settings_zone', lang, zone=isolate(zone))}"]
    if forum:
        lines.append("• " + t("settings_thread_set" if preferences.thread_id else "settings_thread_general", lang))
    return "\n".join(lines)


def _button(label: str, what: str, value: str, chosen: bool = False) -> InlineKeyboardButton:
    return InlineKeyboardButton(f"✅ {label}" if chosen else label, callback_data=f"s:{what}:{value}")


def main_keyboard(preferences: Preferences, lang: str, *, forum: bool) -> InlineKeyboardMarkup:
    """Mode buttons, then the sub-menus (digest hour only in daily mode; send-here only in forums)."""
    rows = [[_button(t(key, lang), "m", mode, preferences.mode == mode) for mode, key in MODE_BUTTONS]]
    if preferences.mode == DAILY:
        rows.append([_button(t("btn_digest_hour", lang), "v", "hour")])
    rows.append([_button(t("btn_quiet", lang), "v", "quiet"), _button(t("btn_zone", lang), "v", "zone")])
    if forum:
        rows.append([_button(t("btn_here", lang), "t", "here")])
    return InlineKeyboardMarkup(rows)


def submenu_keyboard(view: str, preferences: Preferences, lang: str, now: datetime) -> InlineKeyboardMarkup:
    """The choices of one sub-menu, then a back button."""
    if view == "hour":
        hours = [_button(f"{h:02d}:00", "h", str(h), preferences.digest_hour == h) for h in range(24)]
        rows = [hours[i : i + 6] for i in range(0, 24, 6)]
    elif view == "quiet":
        off = preferences.quiet_start is None
        chosen = (preferences.quiet_start, preferences.quiet_end)
        rows = [[_button(t("btn_off", lang), "q", "off", off)]] + [
            [_button(f"{start:02d}:00–{end:02d}:00", "q", f"{start}-{end}", (start, end) == chosen)]
            for start, end in QUIET_PRESETS
        ]
    else:
        rows = [[_button(_zone_label(zone, now), "z", zone, preferences.timezone == zone)] for zone in ZONES]
    return InlineKeyboardMarkup([*rows, [_button(t("btn_back", lang), "v", "main")]])


def _quiet(value: str) -> tuple[int | None, int | None] | None:
    if value == "off":
        return None, None
    start, _, end = value.partition("-")
    if not (start.isdigit() and end.isdigit()):
        return None
    hours = int(start), int(end)
    return hours if all(0 <= h < 24 for h in hours) and hours[0] != hours[1] else None


def apply_choice(preferences: Preferences, what: str, value: str, *, thread_id: int | None) -> Preferences | None:
    """The preferences after a button press; None when the button is not a valid choice."""
    if what == "m" and value in MODES:
        return replace(preferences, mode=value)
    if what == "h" and value.isdigit() and 0 <= int(value) < 24:
        return replace(preferences, mode=DAILY, digest_hour=int(value))
    if what == "q" and (quiet := _quiet(value)) is not None:
        return replace(preferences, quiet_start=quiet[0], quiet_end=quiet[1])
    if what == "z" and value in ZONES:
        return replace(preferences, timezone=value)
    if what == "t" and value == "here":
        return replace(preferences, thread_id=thread_id)
    return None


# ------------------------------------------------------------------------------------------- handlers


async def settings(update: Update, context: Context) -> None:
    """Show the chat's delivery settings with buttons."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    lang = language(update)
    if not await may_change_follows(update, context):
        await message.reply_text(t("settings_admins_only", lang))
        return
    await remember_chat(update, context)
    async with context.bot_data.db() as session:
        preferences = await subscribers.preferences_of(session, chat.id)
    zone = preferences.timezone or context.bot_data.config.default_timezone
    forum = bool(chat.is_forum)
    await message.reply_text(
        settings_text(preferences, lang, zone, forum=forum), reply_markup=main_keyboard(preferences, lang, forum=forum)
    )


async def on_button(update: Update, context: Context) -> None:
    """Apply a settings button (or open a sub-menu) and redraw the settings message."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    lang = language(update)
    parts = (query.data or "").split(":", 2)
    what, value = (parts[1], parts[2]) if len(parts) == 3 else ("", "")
    if not await may_change_follows(update, context):
        await query.answer(t("settings_admins_only", lang), show_alert=True)
        return
    await remember_chat(update, context)
    async with context.bot_data.db.begin() as session:
        preferences = await subscribers.preferences_of(session, chat.id)
        changed = apply_choice(preferences, what, value, thread_id=forum_thread(query.message))
        if changed is not None and changed != preferences:
            await subscribers.save_preferences(session, chat.id, changed)
            await outbox.reschedule_chat(session, chat.id)
    if changed is None and what != "v":
        await query.answer(t("button_stale", lang))
        return
    await query.answer(t("settings_saved", lang) if changed is not None else None)
    shown = changed if changed is not None else preferences
    await _redraw(query.message, shown, lang, value if what == "v" else "main", context)


async def _redraw(message: object, preferences: Preferences, lang: str, view: str, context: Context) -> None:
    """Edit the settings message to show the current settings and the chosen menu."""
    if not isinstance(message, Message):
        return
    zone = preferences.timezone or context.bot_data.config.default_timezone
    forum = bool(message.chat.is_forum)
    text = settings_text(preferences, lang, zone, forum=forum)
    if view in ("hour", "quiet", "zone"):
        text += "\n\n" + t(f"settings_pick_{view}", lang, zone=isolate(zone))
        markup = submenu_keyboard(view, preferences, lang, message.date)
    else:
        markup = main_keyboard(preferences, lang, forum=forum)
    try:
        await message.edit_text(text, reply_markup=markup)
    except BadRequest as error:
        if "not modified" not in error.message.lower():
            raise
