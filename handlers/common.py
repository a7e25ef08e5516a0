"""Helpers the handler modules share (topic buttons, callback data, chat rows, who may change follows).

Handler modules import this module, never each other.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Iterable, Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from handlers.context import Context
from handlers.texts import t
from news.topics import Topic, topic_from_key
from storage import subscribers

CALLBACK_MAX_BYTES = 64  # Telegram's callback_data limit
DIGEST_PREFIX = "#"  # "u:#<digest>": a key too long for callback_data, found again among the chat's topics


def key_digest(key: str) -> str:
    """A short stand-in for a topic key in callback data (16 hex digits of its SHA-1)."""
    return DIGEST_PREFIX + hashlib.sha1(key.encode()).hexdigest()[:16]


def callback_data(action: str, key: str) -> str:
    """`<action>:<key>`, or `<action>:#<digest>` when that would pass Telegram's 64-byte limit."""
    data = f"{action}:{key}"
    return data if len(data.encode()) <= CALLBACK_MAX_BYTES else f"{action}:{key_digest(key)}"


def key_from_callback(key: str, candidates: Iterable[str]) -> str | None:
    """The topic key a button stands for: itself, or the candidate whose digest it carries."""
    if not key.startswith(DIGEST_PREFIX):
        return key
    return next((found for found in candidates if key_digest(found) == key), None)


def topic_buttons(
    topics: list[Topic], lang: str, action: str = "f", marks: Mapping[str, str] | None = None
) -> InlineKeyboardMarkup | None:
    """One button per topic; pressing it follows ("f") or unfollows ("u") the topic; marks prefix a label."""
    rows = []
    for topic in topics:
        label = topic.name(lang) if action == "f" else f"✖️ {topic.name(lang)}"
        mark = (marks or {}).get(topic.key)
        text = f"{mark} {label}" if mark else label
        rows.append([InlineKeyboardButton(text, callback_data=callback_data(action, topic.key))])
    return InlineKeyboardMarkup(rows) if rows else None


def followed_topics(rows: Iterable[tuple[str, str | None]]) -> list[Topic]:
    """Topics from stored (key, label) rows; keyword topics are named by their label; unknown keys are skipped."""
    return [topic for key, label in rows if (topic := topic_from_key(key, label=label)) is not None]


def topics_listing(topics: list[Topic], lang: str) -> tuple[str, InlineKeyboardMarkup | None]:
    """The /topics message: one line per topic (keywords marked 🔑) and a button to unfollow each."""
    if not topics:
        return t("topics_none", lang), None
    lines = [t("topics_list", lang)]
    for topic in topics:
        mark = "🔑 " if not topic.entities else ""
        lines.append(f"• {mark}{html.escape(topic.name(lang), quote=False)}")
    return "\n".join(lines), topic_buttons(topics, lang, "u")


async def remember_chat(update: Update, context: Context) -> None:
    """Create or reactivate the chat's subscriber row."""
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user
    async with context.bot_data.db.begin() as session:
        await subscribers.touch(session, chat.id, chat_type=chat.type, language=user.language_code if user else None)


async def may_change_follows(update: Update, context: Context) -> bool:
    """Whether this update may change the chat's follows (and delivery settings).

    Private chats always may; groups only through admins (an anonymous admin writes as the group itself; a
    message sent on behalf of another channel may not); in channels commands come from admins, but every
    reader can press a button, so a button press needs an admin.
    """
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE:
        return True
    if chat.type == ChatType.CHANNEL and update.callback_query is None:
        return True
    message = update.effective_message
    if update.callback_query is None and message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id  # an anonymous admin posts as the group itself
    if user is None:
        return False
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in ("creator", "administrator")
