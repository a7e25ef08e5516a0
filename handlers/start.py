"""/start and /help."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from handlers.context import Context, language
from handlers.texts import t
from news.topics import Topic, example_topics
from storage import subscribers


def topic_buttons(topics: list[Topic], lang: str, action: str = "f") -> InlineKeyboardMarkup | None:
    """One button per topic; pressing it follows ("f") or unfollows ("u") the topic."""
    rows = []
    for topic in topics:
        data = f"{action}:{topic.key}"
        if len(data.encode()) <= 64:  # Telegram's callback_data limit
            label = topic.name(lang) if action == "f" else f"✖️ {topic.name(lang)}"
            rows.append([InlineKeyboardButton(label, callback_data=data)])
    return InlineKeyboardMarkup(rows) if rows else None


async def remember_chat(update: Update, context: Context) -> None:
    """Create or reactivate the chat's subscriber row."""
    chat = update.effective_chat
    if chat is None:
        return
    user = update.effective_user
    async with context.bot_data.db.begin() as session:
        await subscribers.touch(session, chat.id, chat_type=chat.type, language=user.language_code if user else None)


async def start(update: Update, context: Context) -> None:
    """Welcome the user, say what the bot does and offer example topics."""
    await remember_chat(update, context)
    lang = language(update)
    message = update.effective_message
    if message is not None:
        await message.reply_text(t("welcome", lang), reply_markup=topic_buttons(example_topics(), lang))


async def help_command(update: Update, context: Context) -> None:
    """List the commands with examples."""
    message = update.effective_message
    if message is not None:
        await message.reply_text(t("help", language(update)))
