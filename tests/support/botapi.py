"""A fake Telegram Bot API server on loopback, for tests and benchmarks.

The server speaks enough of the Bot API (https://core.telegram.org/bots/api) that
python-telegram-bot really talks to it when built with
``ApplicationBuilder().base_url(server.base_url)``: PTB appends the token, so requests
arrive at ``/bot<TOKEN>/<method>``.

Three ways to use it:

1. In-process::

       async with BotApiServer(token="123:ABC") as server:
           app = ApplicationBuilder().token("123:ABC").base_url(server.base_url).build()
           server.user_sends("/start")
           sent = await server.wait_for_sent(1)

2. As a separate process: ``python -m tests.support.botapi --port N [--enforce-limits]``
   prints ``READY <port>`` once listening. A JSON control API under ``/_control/`` on the
   same port drives it (it also exists in mode 1).

3. :class:`BotApiControl`, a small synchronous httpx client for that control API, and
   :class:`BotApiProcess`, which starts the server as a subprocess.

How PTB 22 encodes requests (``telegram.request.HTTPXRequest.do_request``): every call is
a ``POST``; without files the body is ``application/x-www-form-urlencoded`` built from
``RequestData.json_parameters`` -- string values are sent as-is, everything else
(ints, bools, dicts, lists) is ``json.dumps``-ed, so ``chat_id=42`` arrives as ``"42"``,
``disable_notification=True`` as ``"true"`` and ``reply_markup`` as a JSON string. With
files the same fields go into a ``multipart/form-data`` body. The server accepts all of
those plus JSON bodies and query strings, and normalises values (see
:func:`coerce_params`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import dataclasses
import json
import math
import re
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
from aiohttp import web

JSONDict = dict[str, Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
DEFAULT_BOT_USERNAME = "khulasa_test_bot"
MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPDATES_LIMIT = 100
SUPERGROUP_ID_THRESHOLD = -1_000_000_000_000

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
POLL_CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: POLL_CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "commands",
        "scope",
        "link_preview_options",
        "reply_parameters",
        "allowed_updates",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "message_thread_id",
        "reply_to_message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "cache_time",
    }
)
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "show_alert",
        "drop_pending_updates",
        "allow_paid_broadcast",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
BUTTON_ACTIONS = frozenset(
    {
        "callback_data",
        "url",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "callback_game",
        "pay",
        "web_app",
        "copy_text",
    }
)

HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "span",
        "tg-spoiler",
        "code",
        "pre",
        "blockquote",
        "tg-emoji",
    }
)
TAG_ENTITY_TYPES: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
NAMED_HTML_ENTITIES: dict[str, str] = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

_HTML_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,10})|#[xX]([0-9a-fA-F]{1,8}));")
_PLAIN_RUN_RE = re.compile(r"[^&<]+")
_END_TAG_RE = re.compile(r"</([^\s>]*)\s*>")
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?")
_BOT_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")
_INT_RE = re.compile(r"-?[0-9]+")


# --------------------------------------------------------------------------- errors & records


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(self, status: int, description: str | None = None, parameters: JSONDict | None = None):
        self.status = status
        self.description = description or DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
        self.parameters = parameters
        super().__init__(f"{status} {self.description}")

    def payload(self) -> JSONDict:
        """The JSON body Telegram would send for this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class HtmlParseError(ValueError):
    """Telegram-HTML that Telegram would refuse (the text after ``can't parse entities:``)."""


@dataclass
class SentMessage:
    """One message the bot sent successfully (``sendMessage``)."""

    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: JSONDict | None
    message_thread_id: int | None
    disable_notification: bool
    time: float
    plain_text: str = ""
    entities: list[JSONDict] = field(default_factory=list)


@dataclass
class EditedMessage:
    """One successful ``editMessageText`` / ``editMessageReplyMarkup`` call."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None
    reply_markup: JSONDict | None
    time: float


@dataclass
class CallbackAnswer:
    """One successful ``answerCallbackQuery`` call."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    time: float


@dataclass
class RawRequest:
    """How a Bot API request arrived on the wire (before value normalisation)."""

    method: str
    http_method: str
    content_type: str
    params: JSONDict
    time: float


@dataclass
class ParsedText:
    """Message text after entity parsing: plain text plus Telegram MessageEntity dicts."""

    text: str
    entities: list[JSONDict] = field(default_factory=list)


@dataclass
class _Fault:
    """A queued fault injected with :meth:`BotApiServer.inject`."""

    method: str
    chat_id: int | str | None
    remaining: int | None
    status: int | None
    description: str | None
    retry_after: int | None
    migrate_to_chat_id: int | None
    delay: float | None


@dataclass
class _OpenTag:
    """An HTML start tag waiting for its end tag."""

    name: str
    attrs: dict[str, str]
    start: int
    byte_offset: int
    language: str | None = None


# --------------------------------------------------------------------------- small helpers


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit Telegram uses for offsets and limits."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def scope_key(scope: JSONDict | None) -> str:
    """Stable key of a BotCommandScope: ``default``, ``chat:42``, ``chat_member:42:7`` ..."""
    if not scope:
        return "default"
    kind = str(scope.get("type", "default"))
    parts = [kind]
    for name in ("chat_id", "user_id"):
        if name in scope:
            parts.append(str(scope[name]))
    return ":".join(parts)


def coerce_params(raw: JSONDict) -> JSONDict:
    """Normalise wire values: JSON fields decoded, ints and bools converted from strings."""
    params: JSONDict = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = _coerce_string(key, value)
        params[key] = value
    return params


def _coerce_string(key: str, value: str) -> Any:
    """Convert one string parameter according to its field type."""
    if key in JSON_FIELDS:
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError as exc:
            what = "reply keyboard markup" if key == "reply_markup" else key
            raise ApiError(400, f"Bad Request: can't parse {what} JSON object") from exc
    if key in INT_FIELDS and _INT_RE.fullmatch(value.strip()):
        return int(value)
    if key in BOOL_FIELDS:
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0", ""):
            return False
    return value


def _get_int(params: JSONDict, name: str, default: int | None = None) -> int | None:
    """An integer parameter, or ``default`` when absent; 400 when not an integer."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ApiError(400, f'Bad Request: field "{name}" must be of type Integer')
    try:
        return int(float(value)) if isinstance(value, str) else int(value)
    except ValueError as exc:
        raise ApiError(400, f'Bad Request: field "{name}" must be of type Integer') from exc


def _get_float(params: JSONDict, name: str, default: float) -> float:
    """A numeric parameter (getUpdates ``timeout``), or ``default``."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f'Bad Request: field "{name}" must be of type Integer') from exc


def _optional_str(value: Any) -> str | None:
    """``None`` stays ``None``; anything else becomes ``str``."""
    return None if value is None else str(value)


def _ceil_seconds(seconds: float) -> int:
    """Integer seconds, at least 1, as Telegram's ``retry_after``."""
    return max(1, math.ceil(seconds))


def _chat_type_for_id(chat_id: int) -> str:
    """Guess a chat type from the id the way Telegram allocates them."""
    if chat_id > 0:
        return "private"
    if chat_id <= SUPERGROUP_ID_THRESHOLD:
        return "supergroup"
    return "group"


def _update_kind(update: JSONDict) -> str | None:
    """The update type (``message``, ``callback_query`` ...) of an Update dict."""
    return next((key for key in update if key != "update_id"), None)


def command_entities(text: str) -> list[JSONDict]:
    """A ``bot_command`` entity when ``text`` starts with ``/cmd`` or ``/cmd@botname``."""
    match = _COMMAND_RE.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


# --------------------------------------------------------------------------- Telegram HTML


def _valid_code_point(code_point: int) -> bool:
    """Whether a numeric character reference decodes to a usable character."""
    return 0 < code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF


def _decode_entity(match: re.Match[str]) -> str | None:
    """Character for an ``&...;`` match, or ``None`` if it is not a valid reference."""
    named, decimal, hexadecimal = match.groups()
    if named:
        return NAMED_HTML_ENTITIES[named]
    code_point = int(decimal) if decimal else int(hexadecimal, 16)
    return chr(code_point) if _valid_code_point(code_point) else None


def _decode_attribute(raw: str) -> str:
    """Decode character references in an attribute value (bare ``&`` is kept, like Telegram)."""

    def replace(match: re.Match[str]) -> str:
        decoded = _decode_entity(match)
        return match.group() if decoded is None else decoded

    return _HTML_ENTITY_RE.sub(replace, raw)


class _HtmlParser:
    """A port of the rules of tdlib's ``parse_html`` (plus a strict bare ``&`` check)."""

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.src = source
        self.strict_ampersand = strict_ampersand
        self.pos = 0
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def parse(self) -> ParsedText:
        """Parse the whole source or raise :class:`HtmlParseError`."""
        while self.pos < len(self.src):
            char = self.src[self.pos]
            if char == "&":
                self._reference()
            elif char == "<":
                if self.src.startswith("</", self.pos):
                    self._end_tag()
                else:
                    self._start_tag()
            else:
                run = _PLAIN_RUN_RE.match(self.src, self.pos)
                assert run is not None
                self._emit(run.group())
                self.pos = run.end()
        if self.stack:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return ParsedText("".join(self.out), self.entities)

    def _byte_offset(self, pos: int) -> int:
        """UTF-8 byte offset of a source position, as tdlib reports it."""
        return len(self.src[:pos].encode("utf-8", "surrogatepass"))

    def _emit(self, text: str) -> None:
        """Append plain text to the output."""
        self.out.append(text)
        self.utf16 += utf16_len(text)

    def _reference(self) -> None:
        """Handle ``&``: a character reference, or a bare ampersand."""
        match = _HTML_ENTITY_RE.match(self.src, self.pos)
        decoded = _decode_entity(match) if match else None
        if match and decoded is not None:
            self._emit(decoded)
            self.pos = match.end()
            return
        if self.strict_ampersand:
            raise HtmlParseError(
                f'Character "&" must be escaped as "&amp;" at byte offset {self._byte_offset(self.pos)}'
            )
        self._emit("&")
        self.pos += 1

    def _start_tag(self) -> None:
        """Handle ``<name attr=...>``."""
        begin = self.pos
        end = begin + 1
        while end < len(self.src) and not self.src[end].isspace() and self.src[end] != ">":
            end += 1
        if end >= len(self.src):
            raise HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        name = self.src[begin + 1 : end].lower()
        if name not in HTML_TAGS:
            raise HtmlParseError(f'Unsupported start tag "{name}" at byte offset {self._byte_offset(begin)}')
        attrs, close = self._attributes(name, end, begin)
        tag = _OpenTag(name, attrs, self.utf16, self._byte_offset(begin))
        self._check_tag(tag)
        self.stack.append(tag)
        self.pos = close + 1

    def _skip_spaces(self, pos: int) -> int:
        """First non-space position at or after ``pos``."""
        while pos < len(self.src) and self.src[pos].isspace():
            pos += 1
        return pos

    def _attributes(self, name: str, pos: int, begin: int) -> tuple[dict[str, str], int]:
        """Parse attributes up to ``>``; returns them and the position of ``>``."""
        attrs: dict[str, str] = {}
        unclosed = HtmlParseError(f"Unclosed start tag at byte offset {self._byte_offset(begin)}")
        while True:
            pos = self._skip_spaces(pos)
            if pos >= len(self.src):
                raise unclosed
            if self.src[pos] == ">":
                return attrs, pos
            end = pos
            while end < len(self.src) and not self.src[end].isspace() and self.src[end] not in "=>":
                end += 1
            attr = self.src[pos:end].lower()
            if not attr:
                raise HtmlParseError(
                    f'Empty attribute name in the tag "{name}" at byte offset {self._byte_offset(pos)}'
                )
            pos = self._skip_spaces(end)
            if pos >= len(self.src) or self.src[pos] != "=":
                attrs[attr] = ""
                continue
            value, pos = self._attribute_value(self._skip_spaces(pos + 1), unclosed)
            attrs[attr] = _decode_attribute(value)

    def _attribute_value(self, pos: int, unclosed: HtmlParseError) -> tuple[str, int]:
        """Read a quoted or unquoted attribute value starting at ``pos``."""
        if pos >= len(self.src):
            raise unclosed
        quote = self.src[pos]
        if quote in "\"'":
            close = self.src.find(quote, pos + 1)
            if close == -1:
                raise unclosed
            return self.src[pos + 1 : close], close + 1
        end = pos
        while end < len(self.src) and not self.src[end].isspace() and self.src[end] != ">":
            end += 1
        return self.src[pos:end], end

    def _check_tag(self, tag: _OpenTag) -> None:
        """Tag-specific attribute rules."""
        where = f"at byte offset {tag.byte_offset}"
        if tag.name == "span" and tag.attrs.get("class") != "tg-spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" {where}')
        if tag.name == "tg-emoji" and not tag.attrs.get("emoji-id", "").isdigit():
            raise HtmlParseError(f'Tag "tg-emoji" must have attribute "emoji-id" {where}')
        css_class = tag.attrs.get("class", "")
        inside_pre = tag.name == "code" and bool(self.stack) and self.stack[-1].name == "pre"
        if inside_pre and css_class.startswith("language-") and len(css_class) > len("language-"):
            tag.language = css_class[len("language-") :]

    def _end_tag(self) -> None:
        """Handle ``</name>``."""
        begin = self.pos
        match = _END_TAG_RE.match(self.src, begin)
        if not match:
            raise HtmlParseError(f"Unclosed end tag at byte offset {self._byte_offset(begin)}")
        name = match.group(1).lower()
        if not self.stack:
            raise HtmlParseError(f"Unexpected end tag at byte offset {self._byte_offset(begin)}")
        top = self.stack[-1]
        if name != top.name:
            raise HtmlParseError(
                f"Unmatched end tag at byte offset {self._byte_offset(begin)}, "
                f'expected "</{top.name}>", found "</{name}>"'
            )
        self.stack.pop()
        self._close(top)
        self.pos = match.end()

    def _close(self, tag: _OpenTag) -> None:
        """Turn a closed tag into a MessageEntity (empty entities are dropped, like Telegram)."""
        if tag.name == "code" and tag.language is not None:
            self.stack[-1].language = tag.language  # <pre><code class="language-x"> -> pre.language
        length = self.utf16 - tag.start
        if length <= 0:
            return
        entity: JSONDict = {"type": TAG_ENTITY_TYPES[tag.name], "offset": tag.start, "length": length}
        if tag.name == "a":
            if not tag.attrs.get("href"):
                return
            entity["url"] = tag.attrs["href"]
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "code" and tag.language is not None:
            return
        self.entities.append(entity)


def parse_telegram_html(text: str, *, strict_ampersand: bool = True) -> ParsedText:
    """Parse Telegram-HTML into plain text and entities, raising :class:`HtmlParseError`.

    Telegram itself tolerates a bare ``&`` that starts no character reference; with
    ``strict_ampersand`` (the default) it is an error so unescaped user text is caught.
    """
    return _HtmlParser(text, strict_ampersand=strict_ampersand).parse()


def strip_parsed(parsed: ParsedText) -> ParsedText:
    """Strip surrounding whitespace the way Telegram does, shifting and clipping entities."""
    lead = len(parsed.text) - len(parsed.text.lstrip())
    stripped = parsed.text.strip()
    shift, total = utf16_len(parsed.text[:lead]), utf16_len(stripped)
    entities = []
    for entity in parsed.entities:
        start = max(int(entity.get("offset", 0)) - shift, 0)
        end = min(int(entity.get("offset", 0)) + int(entity.get("length", 0)) - shift, total)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return ParsedText(stripped, entities)


# --------------------------------------------------------------------------- reply markup


def validate_reply_markup(markup: Any) -> JSONDict | None:
    """Validate a reply_markup object like Telegram; returns it (or ``None``)."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(
                400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                _validate_inline_button(button)
    return markup


def _validate_inline_button(button: Any) -> None:
    """One InlineKeyboardButton: text, exactly one action, callback_data of 1-64 bytes."""
    if not isinstance(button, dict):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object")
    if not isinstance(button.get("text"), str) or not button["text"]:
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
    if not any(action in button for action in BUTTON_ACTIONS):
        raise ApiError(
            400, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if "callback_data" in button:
        data = str(button["callback_data"]).encode()
        if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    if "url" in button and not str(button["url"]).startswith(("http://", "https://", "tg://")):
        raise ApiError(400, f"Bad Request: inline keyboard button URL '{button['url']}' is invalid: Wrong HTTP URL")


def _callback_datas(markup: JSONDict | None) -> set[str]:
    """All callback_data values of an inline keyboard."""
    rows = (markup or {}).get("inline_keyboard") or []
    return {str(button["callback_data"]) for row in rows for button in row if "callback_data" in button}


def _inline_only(markup: JSONDict | None) -> JSONDict | None:
    """Messages only carry inline keyboards; reply keyboards are not echoed back."""
    return markup if markup and "inline_keyboard" in markup else None


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Sliding-window flood limits: global per second, per chat per second, per group per minute."""

    def __init__(self, global_per_s: int, per_chat_per_s: int, per_group_per_min: int) -> None:
        self.global_per_s = global_per_s
        self.per_chat_per_s = per_chat_per_s
        self.per_group_per_min = per_group_per_min
        self._global: deque[float] = deque()
        self._chat: dict[int, deque[float]] = {}
        self._group: dict[int, deque[float]] = {}

    @staticmethod
    def _wait(window: deque[float], limit: int, span: float, now: float) -> float:
        """Seconds until ``window`` has room for one more event (0 when it has room now)."""
        while window and window[0] <= now - span:
            window.popleft()
        if len(window) < limit:
            return 0.0
        return window[len(window) - limit] + span - now

    def retry_after(self, chat_id: int, now: float) -> int | None:
        """``retry_after`` seconds if a send to ``chat_id`` now exceeds a limit, else ``None``."""
        waits = [
            self._wait(self._global, self.global_per_s, 1.0, now),
            self._wait(self._chat.setdefault(chat_id, deque()), self.per_chat_per_s, 1.0, now),
        ]
        if chat_id < 0:
            waits.append(self._wait(self._group.setdefault(chat_id, deque()), self.per_group_per_min, 60.0, now))
        worst = max(waits)
        return _ceil_seconds(worst) if worst > 0 else None

    def record(self, chat_id: int, now: float) -> None:
        """Account one accepted send."""
        self._global.append(now)
        self._chat.setdefault(chat_id, deque()).append(now)
        if chat_id < 0:
            self._group.setdefault(chat_id, deque()).append(now)

    def reset(self) -> None:
        """Forget all history."""
        self._global.clear()
        self._chat.clear()
        self._group.clear()


# --------------------------------------------------------------------------- the server


def _pulse(event: asyncio.Event) -> asyncio.Event:
    """Wake everybody waiting on ``event`` and return a fresh one for the next round."""
    event.set()
    return asyncio.Event()


async def _wait_event(event: asyncio.Event, seconds: float) -> bool:
    """Wait for ``event`` up to ``seconds``; ``True`` when it was set."""
    if seconds <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


class BotApiServer:
    """The fake Bot API. See the module docstring for usage."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = DEFAULT_BOT_USERNAME,
        bot_first_name: str = "Khulasa Test",
        admin_ids: Iterable[int] = (),
        enforce_limits: bool = False,
        global_per_s: int = 30,
        per_chat_per_s: int = 1,
        per_group_per_min: int = 20,
        strict_html: bool = True,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        self.strict_html = strict_html
        self.enforce_limits = enforce_limits
        self.limiter = RateLimiter(global_per_s, per_chat_per_s, per_group_per_min)
        self.admin_ids: set[int] = set(admin_ids)
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self._methods = self._method_table()
        self._runner: web.AppRunner | None = None
        self._update_counter = 0
        self._query_counter = 0
        self._next_message_ids: dict[int, int] = {}
        self._poll_generation = 0
        self._closing = False
        self._closed_event = asyncio.Event()
        self._updates_event = asyncio.Event()
        self._sent_event = asyncio.Event()
        self._init_state()

    def _init_state(self) -> None:
        """(Re)create everything :meth:`reset` clears."""
        self.requests: list[tuple[str, JSONDict, float]] = []
        self.raw_requests: list[RawRequest] = []
        self.sent: list[SentMessage] = []
        self.edits: list[EditedMessage] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.deleted: list[tuple[int, int, float]] = []
        self.chat_actions: list[tuple[int, str, float]] = []
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.blocked: set[int] = set()
        self.http_429 = 0
        self._faults: list[_Fault] = []
        self._updates: list[JSONDict] = []
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._open_queries: set[str] = set()
        self.limiter.reset()

    def reset(self) -> None:
        """Clear recordings, queued updates, faults, blocks and limits.

        Update, message and query ids keep increasing, and a pending long poll keeps waiting,
        so a running bot is not disturbed.
        """
        self._init_state()
        self._updates_event = _pulse(self._updates_event)
        self._sent_event = _pulse(self._sent_event)

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What to pass to ``ApplicationBuilder().base_url(...)`` / ``Bot(base_url=...)``."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def root_url(self) -> str:
        """``http://host:port`` (the control API lives under ``/_control/``)."""
        return f"http://{self.host}:{self.port}"

    def make_app(self) -> web.Application:
        """The aiohttp application: the Bot API plus the control API."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        add_control_routes(app, self)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        return app

    async def start(self) -> None:
        """Start listening; with ``port=0`` a free port is picked and stored in :attr:`port`."""
        self._closing = False
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Wake pending long polls and delayed answers, then stop listening."""
        self._closing = True
        self._closed_event.set()
        self._updates_event = _pulse(self._updates_event)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- assertions helpers

    def sent_to(self, chat_id: int | None = None) -> list[SentMessage]:
        """Messages sent so far, optionally only to ``chat_id``."""
        return [msg for msg in self.sent if chat_id is None or msg.chat_id == chat_id]

    async def wait_for_sent(
        self,
        n: int,
        chat_id: int | None = None,
        timeout: float = 10.0,
    ) -> list[SentMessage]:
        """Wait until at least ``n`` messages (to ``chat_id``) were sent; returns all of them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matching = self.sent_to(chat_id)
            if len(matching) >= n:
                return matching
            remaining = deadline - loop.time()
            if remaining <= 0:
                texts = [msg.text[:80] for msg in matching]
                where = "" if chat_id is None else f" to chat {chat_id}"
                raise TimeoutError(f"expected {n} sent messages{where} within {timeout}s, got {len(matching)}: {texts}")
            await _wait_event(self._sent_event, remaining)

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """Current state (after edits) of a message, or ``None`` if unknown/deleted."""
        return self._messages.get((chat_id, message_id))

    def requests_for(self, method: str) -> list[JSONDict]:
        """Parameters of every recorded call of ``method`` (case-insensitive)."""
        return [params for name, params, _ in self.requests if name.lower() == method.lower()]

    def stats(self) -> JSONDict:
        """Counters for benchmarks."""
        return {
            "http_429": self.http_429,
            "sent": len(self.sent),
            "edits": len(self.edits),
            "requests": len(self.requests),
            "pending_updates": len(self._updates),
        }

    # ----------------------------------------------------------------- simulating users

    def _user(self, user_id: int, first_name: str | None, language_code: str | None, username: str | None) -> JSONDict:
        """Build (and remember) a User dict."""
        user = dict(self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        if first_name:
            user["first_name"] = first_name
        if language_code:
            user["language_code"] = language_code
        if username:
            user["username"] = username
        self._users[user_id] = user
        return user

    def _chat(self, chat_id: int) -> JSONDict:
        """The known Chat dict for ``chat_id``, synthesised (and remembered) if unknown."""
        if chat_id not in self._chats:
            kind = _chat_type_for_id(chat_id)
            chat: JSONDict = {"id": chat_id, "type": kind}
            if kind == "private":
                chat["first_name"] = self._users.get(chat_id, {}).get("first_name", f"User {chat_id}")
            else:
                chat["title"] = f"Chat {chat_id}"
            self._chats[chat_id] = chat
        return self._chats[chat_id]

    def add_chat(self, chat: JSONDict) -> None:
        """Register a Chat dict (e.g. a channel with a ``username`` reachable as ``@name``)."""
        self._chats[int(chat["id"])] = dict(chat)

    def _allocate_message_id(self, chat_id: int) -> int:
        """Next message id in a chat (per chat, starting at 1, shared by users and the bot)."""
        self._next_message_ids[chat_id] = self._next_message_ids.get(chat_id, 0) + 1
        return self._next_message_ids[chat_id]

    def add_raw_update(self, update: JSONDict) -> JSONDict:
        """Queue an Update dict; assigns ``update_id`` unless given. Returns the update."""
        update = dict(update)
        if "update_id" in update:
            self._update_counter = max(self._update_counter, int(update["update_id"]))
        else:
            self._update_counter += 1
            update["update_id"] = self._update_counter
        self._updates.append(update)
        self._updates_event = _pulse(self._updates_event)
        return update

    def user_sends(
        self,
        text: str,
        *,
        user_id: int = 1001,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "ar",
        first_name: str = "مستخدم",
        username: str | None = None,
        chat_title: str | None = None,
        message_thread_id: int | None = None,
    ) -> JSONDict:
        """Queue an Update with a text Message from a user; ``/cmd`` gets a bot_command entity."""
        if chat_id is None:
            if chat_type != "private":
                raise ValueError("chat_id is required for non-private chats")
            chat_id = user_id
        user = self._user(user_id, first_name, language_code, username)
        chat = self._register_chat(chat_id, chat_type, user, chat_title)
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat_id),
            "date": int(time.time()),
            "chat": chat,
            "text": text,
        }
        if chat_type != "channel":
            message["from"] = user
        if message_thread_id is not None:
            message["message_thread_id"] = message_thread_id
            message["is_topic_message"] = True
        entities = command_entities(text)
        if entities:
            message["entities"] = entities
        self._messages[(chat_id, message["message_id"])] = message
        kind = "channel_post" if chat_type == "channel" else "message"
        return self.add_raw_update({kind: copy.deepcopy(message)})

    def _register_chat(self, chat_id: int, chat_type: str, user: JSONDict, title: str | None) -> JSONDict:
        """Create or refresh the Chat a simulated message arrives in."""
        chat: JSONDict = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        else:
            chat["title"] = title or self._chats.get(chat_id, {}).get("title") or f"Chat {chat_id}"
        self._chats[chat_id] = {**self._chats.get(chat_id, {}), **chat}
        return dict(self._chats[chat_id])

    def user_clicks(
        self,
        data: str,
        *,
        message: SentMessage | None = None,
        chat_id: int | None = None,
        message_id: int | None = None,
        user_id: int | None = None,
        language_code: str | None = "ar",
        first_name: str = "مستخدم",
        strict: bool = True,
    ) -> JSONDict:
        """Queue an Update with a CallbackQuery on a bot message (``message`` or chat/message id).

        With ``strict`` the current keyboard of the message must contain ``data``.
        """
        key = (message.chat_id, message.message_id) if message else (chat_id, message_id)
        if key[0] is None or key[1] is None:
            raise ValueError("pass message= or chat_id= and message_id=")
        stored = self._messages.get((int(key[0]), int(key[1])))
        if stored is None:
            raise ValueError(f"message {key} was never sent or has been deleted")
        if strict and data not in _callback_datas(stored.get("reply_markup")):
            raise ValueError(f"message {key} has no inline button with callback_data {data!r}")
        clicker_id = user_id if user_id is not None else (key[0] if int(key[0]) > 0 else 1001)
        self._query_counter += 1
        query_id = f"{self._query_counter}{abs(int(key[0])) % 10**6:06d}"
        self._open_queries.add(query_id)
        query = {
            "id": query_id,
            "from": self._user(int(clicker_id), first_name, language_code, None),
            "chat_instance": str(abs(int(key[0])) * 7919 % 10**15),
            "message": copy.deepcopy(stored),
            "data": data,
        }
        return self.add_raw_update({"callback_query": query})

    # ----------------------------------------------------------------- faults

    def inject(
        self,
        method: str,
        *,
        chat_id: int | str | None = None,
        times: int | None = 1,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any; to ``chat_id``) fail.

        ``status`` defaults to 400 with ``migrate_to_chat_id``, 429 with ``retry_after``,
        no error with only ``delay`` (answer normally after sleeping) and 500 otherwise.
        ``times=None`` never expires.
        """
        if status is None and delay is None and migrate_to_chat_id is None:
            status = 429 if retry_after is not None else 500
        self._faults.append(
            _Fault(method.lower(), chat_id, times, status, description, retry_after, migrate_to_chat_id, delay)
        )

    def block(self, chat_id: int) -> None:
        """Every later send to ``chat_id`` answers 403 (user blocked the bot / bot kicked)."""
        self.blocked.add(int(chat_id))

    def unblock(self, chat_id: int) -> None:
        """Undo :meth:`block`."""
        self.blocked.discard(int(chat_id))

    def _take_fault(self, method: str, params: JSONDict) -> _Fault | None:
        """Consume the first queued fault matching this call."""
        for fault in self._faults:
            if fault.method not in ("*", method.lower()):
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(params.get("chat_id")):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None

    async def _apply_fault(self, fault: _Fault) -> None:
        """Sleep for the fault's delay, then raise its error (if it has one)."""
        if fault.delay:
            await _wait_event(self._closed_event, fault.delay)
        status = fault.status
        if status is None and fault.migrate_to_chat_id is not None:
            status = 400
        if status is None:
            return
        if fault.migrate_to_chat_id is not None:
            raise ApiError(status, fault.description or MIGRATED, {"migrate_to_chat_id": fault.migrate_to_chat_id})
        if status == 429:
            seconds = fault.retry_after or 1
            description = fault.description or f"Too Many Requests: retry after {seconds}"
            raise ApiError(429, description, {"retry_after": seconds})
        raise ApiError(status, fault.description)

    def _check_blocked(self, chat_id: int) -> None:
        """403 like Telegram when the chat blocked/kicked the bot."""
        if chat_id not in self.blocked:
            return
        kind = self._chat(chat_id)["type"]
        descriptions = {
            "private": "Forbidden: bot was blocked by the user",
            "group": "Forbidden: bot was kicked from the group chat",
            "supergroup": "Forbidden: bot was kicked from the supergroup chat",
            "channel": "Forbidden: bot is not a member of the channel chat",
        }
        raise ApiError(403, descriptions.get(kind, descriptions["private"]))

    def _check_rate_limits(self, chat_id: int) -> None:
        """429 when enforcing limits and this send would exceed one."""
        if not self.enforce_limits:
            return
        seconds = self.limiter.retry_after(chat_id, time.monotonic())
        if seconds is not None:
            raise ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})

    # ----------------------------------------------------------------- HTTP plumbing

    def _method_table(self) -> dict[str, tuple[str, Any]]:
        """Lower-case method name -> (canonical name, coroutine handler)."""
        handlers = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendChatAction": self._send_chat_action,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "close": self._true,
            "logOut": self._true,
        }
        return {name.lower(): (name, handler) for name, handler in handlers.items()}

    def _error_response(self, error: ApiError) -> web.Response:
        """Serialise an :class:`ApiError` (and count 429s)."""
        if error.status == 429:
            self.http_429 += 1
        return web.json_response(error.payload(), status=error.status)

    async def _handle_api(self, request: web.Request) -> web.Response:
        """Entry point for ``/bot<token>/<method>``."""
        raw_method = request.match_info["method"]
        canonical, handler = self._methods.get(raw_method.lower(), (raw_method, None))
        try:
            raw, content_type = await read_raw_params(request)
            params = coerce_params(raw)
        except ApiError as error:
            return self._error_response(error)
        now = time.monotonic()
        self.requests.append((canonical, params, now))
        self.raw_requests.append(RawRequest(canonical, request.method, content_type, raw, now))
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if handler is None:
                raise ApiError(404, "Not Found")
            fault = self._take_fault(canonical, params)
            if fault is not None:
                await self._apply_fault(fault)
            result = await handler(params)
        except ApiError as error:
            return self._error_response(error)
        return web.json_response({"ok": True, "result": result})

    def _resolve_chat_id(self, params: JSONDict, name: str = "chat_id") -> int:
        """The integer chat id of a ``chat_id`` parameter (``@username`` looked up)."""
        value = params.get(name)
        if value is None or value == "":
            raise ApiError(400, f"Bad Request: {name} is empty")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(value)
        if _INT_RE.fullmatch(text):
            return int(text)
        if text.startswith("@"):
            for chat_id, chat in self._chats.items():
                if str(chat.get("username", "")).lower() == text[1:].lower():
                    return chat_id
        raise ApiError(400, "Bad Request: chat not found")

    def _require_message_id(self, params: JSONDict) -> int:
        """The ``message_id`` parameter (400 when missing)."""
        message_id = _get_int(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        return message_id

    def _parse_text(self, params: JSONDict) -> ParsedText:
        """Validate ``text``/``parse_mode``/``entities`` like Telegram; returns the parsed text."""
        text = params.get("text")
        if text is None or text == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text = str(text)
        parse_mode = params.get("parse_mode")
        if isinstance(params.get("entities"), list):
            parsed = ParsedText(text, [e for e in params["entities"] if isinstance(e, dict)])
        elif not parse_mode:
            parsed = ParsedText(text)
        elif str(parse_mode).lower() == "html":
            try:
                parsed = parse_telegram_html(text, strict_ampersand=self.strict_html)
            except HtmlParseError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from exc
        elif str(parse_mode).lower() in ("markdown", "markdownv2"):
            parsed = ParsedText(text)
        else:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        parsed = strip_parsed(parsed)
        if not parsed.text:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(parsed.text) > MAX_MESSAGE_LENGTH:
            raise ApiError(400, "Bad Request: message is too long")
        return parsed

    # ----------------------------------------------------------------- Bot API methods

    async def _true(self, params: JSONDict) -> bool:
        """Methods that just succeed (close, logOut)."""
        return True

    async def _get_me(self, params: JSONDict) -> JSONDict:
        """getMe."""
        return dict(self.bot_user)

    def _confirm_updates(self, offset: int) -> None:
        """Forget confirmed (and not allowed) updates, per the getUpdates offset rules."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._updates = [u for u in self._updates if _update_kind(u) in self._allowed_updates]

    async def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        """getUpdates with long polling; a newer call ends an older pending one with 409."""
        offset = _get_int(params, "offset", 0) or 0
        limit = min(max(_get_int(params, "limit", MAX_UPDATES_LIMIT) or MAX_UPDATES_LIMIT, 1), MAX_UPDATES_LIMIT)
        timeout = max(_get_float(params, "timeout", 0.0), 0.0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_event = _pulse(self._updates_event)
        self._confirm_updates(offset)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0 or not await _wait_event(self._updates_event, remaining):
                break
            if generation != self._poll_generation:
                raise ApiError(409, POLL_CONFLICT)
            self._confirm_updates(0)
        return copy.deepcopy(self._updates[:limit])

    async def _delete_webhook(self, params: JSONDict) -> bool:
        """deleteWebhook (``drop_pending_updates`` clears the queue)."""
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: JSONDict) -> JSONDict:
        """getWebhookInfo: never a webhook."""
        return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        """(scope key, language code) of a *MyCommands call."""
        scope = params.get("scope")
        return scope_key(scope if isinstance(scope, dict) else None), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: JSONDict) -> bool:
        """setMyCommands with Telegram's command/description validation."""
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > MAX_UPDATES_LIMIT:
            raise ApiError(400, "Bad Request: too many commands")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_NAME_RE.fullmatch(str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: command description is empty or too long")
        self.commands[self._commands_key(params)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        """getMyCommands for exactly that scope/language."""
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: JSONDict) -> bool:
        """deleteMyCommands."""
        self.commands.pop(self._commands_key(params), None)
        return True

    def _reply_target(self, chat_id: int, params: JSONDict) -> JSONDict | None:
        """The message a send replies to (reply_parameters / reply_to_message_id), if any."""
        reply = params.get("reply_parameters")
        reply = reply if isinstance(reply, dict) else {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target = self._messages.get((int(reply.get("chat_id", chat_id)), int(message_id)))
        allow = reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply"))
        if target is None and not allow:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _bot_message(self, chat_id: int, parsed: ParsedText, markup: JSONDict | None, params: JSONDict) -> JSONDict:
        """A Message dict sent by the bot."""
        message: JSONDict = {
            "message_id": self._allocate_message_id(chat_id),
            "from": dict(self.bot_user),
            "date": int(time.time()),
            "chat": dict(self._chat(chat_id)),
            "text": parsed.text,
        }
        if parsed.entities:
            message["entities"] = parsed.entities
        if _inline_only(markup):
            message["reply_markup"] = markup
        thread_id = _get_int(params, "message_thread_id")
        if thread_id is not None:
            message["message_thread_id"] = thread_id
        return message

    async def _send_message(self, params: JSONDict) -> JSONDict:
        """sendMessage: validate, rate-limit, store, record."""
        chat_id = self._resolve_chat_id(params)
        self._check_blocked(chat_id)
        parsed = self._parse_text(params)
        markup = validate_reply_markup(params.get("reply_markup"))
        reply_to = self._reply_target(chat_id, params)
        self._check_rate_limits(chat_id)
        message = self._bot_message(chat_id, parsed, markup, params)
        if reply_to is not None:
            message["reply_to_message"] = copy.deepcopy(reply_to)
        self._messages[(chat_id, message["message_id"])] = message
        now = time.monotonic()
        if self.enforce_limits:
            self.limiter.record(chat_id, now)
        self.sent.append(
            SentMessage(
                chat_id=chat_id,
                message_id=message["message_id"],
                text=str(params["text"]),
                parse_mode=_optional_str(params.get("parse_mode")),
                reply_markup=markup,
                message_thread_id=message.get("message_thread_id"),
                disable_notification=params.get("disable_notification") is True,
                time=now,
                plain_text=parsed.text,
                entities=parsed.entities,
            )
        )
        self._sent_event = _pulse(self._sent_event)
        return copy.deepcopy(message)

    def _editable_message(self, params: JSONDict) -> tuple[int, JSONDict]:
        """The stored bot message an edit targets (400 when missing or not the bot's)."""
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = self._resolve_chat_id(params)
        self._check_blocked(chat_id)
        message = self._messages.get((chat_id, self._require_message_id(params)))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return chat_id, message

    def _record_edit(self, method: str, chat_id: int, message: JSONDict, params: JSONDict) -> JSONDict:
        """Mark a message edited, record the edit, return the new Message."""
        message["edit_date"] = int(time.time())
        self.edits.append(
            EditedMessage(
                method=method,
                chat_id=chat_id,
                message_id=message["message_id"],
                text=_optional_str(params.get("text")),
                parse_mode=_optional_str(params.get("parse_mode")),
                reply_markup=message.get("reply_markup"),
                time=time.monotonic(),
            )
        )
        return copy.deepcopy(message)

    async def _edit_message_text(self, params: JSONDict) -> JSONDict:
        """editMessageText (an omitted reply_markup removes the keyboard, like Telegram)."""
        chat_id, message = self._editable_message(params)
        parsed = self._parse_text(params)
        markup = _inline_only(validate_reply_markup(params.get("reply_markup")))
        old = (message.get("text"), message.get("entities", []), message.get("reply_markup"))
        if old == (parsed.text, parsed.entities, markup):
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = parsed.text
        message.pop("entities", None)
        if parsed.entities:
            message["entities"] = parsed.entities
        self._set_markup(message, markup)
        return self._record_edit("editMessageText", chat_id, message, params)

    async def _edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        """editMessageReplyMarkup."""
        chat_id, message = self._editable_message(params)
        markup = _inline_only(validate_reply_markup(params.get("reply_markup")))
        if message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        self._set_markup(message, markup)
        return self._record_edit("editMessageReplyMarkup", chat_id, message, params)

    @staticmethod
    def _set_markup(message: JSONDict, markup: JSONDict | None) -> None:
        """Replace or remove a message's inline keyboard."""
        message.pop("reply_markup", None)
        if markup:
            message["reply_markup"] = markup

    async def _delete_message(self, params: JSONDict) -> bool:
        """deleteMessage."""
        chat_id = self._resolve_chat_id(params)
        message_id = self._require_message_id(params)
        if self._messages.pop((chat_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        self.deleted.append((chat_id, message_id, time.monotonic()))
        return True

    async def _answer_callback_query(self, params: JSONDict) -> bool:
        """answerCallbackQuery (each query can be answered once)."""
        query_id = str(params.get("callback_query_id") or "")
        if query_id not in self._open_queries:
            raise ApiError(400, QUERY_INVALID)
        self._open_queries.discard(query_id)
        self.callback_answers.append(
            CallbackAnswer(
                callback_query_id=query_id,
                text=_optional_str(params.get("text")),
                show_alert=params.get("show_alert") is True,
                url=_optional_str(params.get("url")),
                cache_time=_get_int(params, "cache_time"),
                time=time.monotonic(),
            )
        )
        return True

    async def _send_chat_action(self, params: JSONDict) -> bool:
        """sendChatAction."""
        chat_id = self._resolve_chat_id(params)
        self._check_blocked(chat_id)
        action = str(params.get("action") or "")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        self.chat_actions.append((chat_id, action, time.monotonic()))
        return True

    async def _get_chat(self, params: JSONDict) -> JSONDict:
        """getChat -> ChatFullInfo."""
        chat = dict(self._chat(self._resolve_chat_id(params)))
        gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
        chat.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types=dict.fromkeys(gifts, False),
        )
        return chat

    def _member(self, user_id: int) -> JSONDict:
        """ChatMember dict: administrator for :attr:`admin_ids`, member otherwise."""
        user = self.bot_user if user_id == self.bot_user["id"] else self._users.get(user_id)
        user = dict(user or {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
        if user_id not in self.admin_ids:
            return {"status": "member", "user": user}
        rights = (
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
        )
        return {
            "status": "administrator",
            "user": user,
            "can_be_edited": False,
            "is_anonymous": False,
            "can_promote_members": False,
            **dict.fromkeys(rights, True),
        }

    async def _get_chat_member(self, params: JSONDict) -> JSONDict:
        """getChatMember."""
        self._resolve_chat_id(params)
        user_id = _get_int(params, "user_id")
        if user_id is None:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        return self._member(user_id)

    async def _get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        """getChatAdministrators."""
        self._resolve_chat_id(params)
        return [self._member(user_id) for user_id in sorted(self.admin_ids)]


async def read_raw_params(request: web.Request) -> tuple[JSONDict, str]:
    """Collect parameters from query string and JSON / urlencoded / multipart body."""
    params: JSONDict = dict(request.query)
    content_type = request.content_type if request.body_exists else ""
    if not request.body_exists:
        return params, content_type
    if content_type == "application/json":
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError as exc:
            raise ApiError(400, "Bad Request: can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON object expected")
        params.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                size = len(value.file.read())
                params[key] = {"filename": value.filename, "content_type": value.content_type, "size": size}
            else:
                params[key] = value
    return params, content_type


# --------------------------------------------------------------------------- control API


def _jsonable(items: Iterable[Any]) -> list[JSONDict]:
    """Dataclasses -> dicts."""
    return [dataclasses.asdict(item) for item in items]


async def _json_body(request: web.Request) -> JSONDict:
    """The JSON object body of a control request (empty body -> ``{}``)."""
    if not request.body_exists:
        return {}
    body = await request.json()
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"error": "JSON object expected"}), content_type="application/json")
    return body


def _optional_query_int(request: web.Request, name: str) -> int | None:
    """An optional integer query parameter of a control request."""
    value = request.query.get(name)
    return int(value) if value not in (None, "") else None


def add_control_routes(app: web.Application, server: BotApiServer) -> None:
    """Mount the JSON control API (``/_control/...``) for ``server`` on ``app``."""

    def guarded(action: Any) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                return web.json_response(await action(request))
            except (TypeError, ValueError, KeyError) as exc:
                return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)

        return handler

    async def user_sends(request: web.Request) -> Any:
        body = await _json_body(request)
        return server.user_sends(body.pop("text"), **body)

    async def user_clicks(request: web.Request) -> Any:
        body = await _json_body(request)
        return server.user_clicks(body.pop("data"), **body)

    async def raw_update(request: web.Request) -> Any:
        return server.add_raw_update(await _json_body(request))

    async def inject(request: web.Request) -> Any:
        body = await _json_body(request)
        server.inject(body.pop("method"), **body)
        return {"ok": True}

    async def block(request: web.Request) -> Any:
        server.block(int((await _json_body(request))["chat_id"]))
        return {"ok": True}

    async def unblock(request: web.Request) -> Any:
        server.unblock(int((await _json_body(request))["chat_id"]))
        return {"ok": True}

    async def admins(request: web.Request) -> Any:
        server.admin_ids = {int(uid) for uid in (await _json_body(request))["user_ids"]}
        return {"ok": True}

    async def sent(request: web.Request) -> Any:
        return _jsonable(server.sent_to(_optional_query_int(request, "chat_id")))

    async def wait_sent(request: web.Request) -> Any:
        n = _optional_query_int(request, "n") or 1
        timeout = float(request.query.get("timeout", "10"))
        try:
            return _jsonable(await server.wait_for_sent(n, _optional_query_int(request, "chat_id"), timeout))
        except TimeoutError as exc:
            raise ValueError(str(exc)) from exc

    async def requests(request: web.Request) -> Any:
        method = request.query.get("method")
        return [
            {"method": name, "params": params, "time": when}
            for name, params, when in server.requests
            if method is None or name.lower() == method.lower()
        ]

    async def commands(request: web.Request) -> Any:
        return [
            {"scope": scope, "language_code": lang, "commands": cmds} for (scope, lang), cmds in server.commands.items()
        ]

    async def reset(request: web.Request) -> Any:
        server.reset()
        return {"ok": True}

    routes = {
        ("POST", "user_sends"): user_sends,
        ("POST", "user_clicks"): user_clicks,
        ("POST", "raw_update"): raw_update,
        ("POST", "inject"): inject,
        ("POST", "block"): block,
        ("POST", "unblock"): unblock,
        ("POST", "admins"): admins,
        ("POST", "reset"): reset,
        ("GET", "sent"): sent,
        ("GET", "wait_sent"): wait_sent,
        ("GET", "requests"): requests,
        ("GET", "commands"): commands,
        ("GET", "edits"): lambda _r: _async_value(_jsonable(server.edits)),
        ("GET", "callback_answers"): lambda _r: _async_value(_jsonable(server.callback_answers)),
        ("GET", "stats"): lambda _r: _async_value(server.stats()),
    }
    for (http_method, name), action in routes.items():
        app.router.add_route(http_method, f"/_control/{name}", guarded(action))


async def _async_value(value: Any) -> Any:
    """Wrap a ready value for the control API's async actions."""
    return value


# --------------------------------------------------------------------------- sync client & process


class BotApiControl:
    """Synchronous httpx client for the control API of a (possibly out-of-process) server."""

    def __init__(self, base: str, *, timeout: float = 30.0) -> None:
        root = base.rstrip("/")
        root = root.removesuffix("/bot")
        self.root = root
        self._client = httpx.Client(base_url=f"{root}/_control", timeout=timeout)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(self, http_method: str, path: str, **kwargs: Any) -> Any:
        """Issue a control request; raise ``RuntimeError`` with the server's error on failure."""
        response = self._client.request(http_method, f"/{path}", **kwargs)
        if response.status_code != 200:
            raise RuntimeError(f"control {path} failed ({response.status_code}): {response.text}")
        return response.json()

    def user_sends(self, text: str, **kwargs: Any) -> JSONDict:
        """See :meth:`BotApiServer.user_sends`."""
        return self._call("POST", "user_sends", json={"text": text, **kwargs})

    def user_clicks(self, data: str, *, chat_id: int, message_id: int, **kwargs: Any) -> JSONDict:
        """See :meth:`BotApiServer.user_clicks` (the message is given by chat and message id)."""
        body = {"data": data, "chat_id": chat_id, "message_id": message_id, **kwargs}
        return self._call("POST", "user_clicks", json=body)

    def add_raw_update(self, update: JSONDict) -> JSONDict:
        """See :meth:`BotApiServer.add_raw_update`."""
        return self._call("POST", "raw_update", json=update)

    def inject(self, method: str, **kwargs: Any) -> None:
        """See :meth:`BotApiServer.inject`."""
        self._call("POST", "inject", json={"method": method, **kwargs})

    def block(self, chat_id: int) -> None:
        """See :meth:`BotApiServer.block`."""
        self._call("POST", "block", json={"chat_id": chat_id})

    def unblock(self, chat_id: int) -> None:
        """See :meth:`BotApiServer.unblock`."""
        self._call("POST", "unblock", json={"chat_id": chat_id})

    def set_admins(self, user_ids: Iterable[int]) -> None:
        """Replace :attr:`BotApiServer.admin_ids`."""
        self._call("POST", "admins", json={"user_ids": list(user_ids)})

    def sent(self, chat_id: int | None = None) -> list[JSONDict]:
        """Sent messages as dicts (fields of :class:`SentMessage`)."""
        return self._call("GET", "sent", params={} if chat_id is None else {"chat_id": chat_id})

    def wait_for_sent(self, n: int, chat_id: int | None = None, timeout: float = 10.0) -> list[JSONDict]:
        """Block until at least ``n`` messages (to ``chat_id``) were sent; ``TimeoutError`` if not."""
        params: JSONDict = {"n": n, "timeout": timeout}
        if chat_id is not None:
            params["chat_id"] = chat_id
        response = self._client.get("/wait_sent", params=params, timeout=timeout + 10)
        if response.status_code != 200:
            raise TimeoutError(response.json().get("error", response.text))
        return response.json()

    def requests(self, method: str | None = None) -> list[JSONDict]:
        """Recorded Bot API requests ``{"method", "params", "time"}``."""
        return self._call("GET", "requests", params={} if method is None else {"method": method})

    def edits(self) -> list[JSONDict]:
        """Recorded edits."""
        return self._call("GET", "edits")

    def callback_answers(self) -> list[JSONDict]:
        """Recorded answerCallbackQuery calls."""
        return self._call("GET", "callback_answers")

    def commands(self) -> list[JSONDict]:
        """Current command lists ``{"scope", "language_code", "commands"}``."""
        return self._call("GET", "commands")

    def stats(self) -> JSONDict:
        """``{"http_429", "sent", "edits", "requests", "pending_updates"}``."""
        return self._call("GET", "stats")

    def reset(self) -> None:
        """See :meth:`BotApiServer.reset`."""
        self._call("POST", "reset")


class BotApiProcess:
    """Run the fake server as a subprocess (``python -m tests.support.botapi``).

    Use as a context manager; exposes :attr:`port`, :attr:`base_url` and :attr:`control`.
    """

    def __init__(self, *args: str, port: int = 0, token: str = DEFAULT_TOKEN, startup_timeout: float = 15.0) -> None:
        self._argv = [sys.executable, "-m", "tests.support.botapi", "--port", str(port), "--token", token, *args]
        self._startup_timeout = startup_timeout
        self.token = token
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.control: BotApiControl | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot``."""
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> None:
        """Start the subprocess and wait for its ``READY <port>`` line."""
        repo_root = Path(__file__).resolve().parents[2]
        self.process = subprocess.Popen(self._argv, cwd=repo_root, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        line = ""
        while time.monotonic() < deadline and not line.startswith("READY"):
            line = self.process.stdout.readline()
            if not line and self.process.poll() is not None:
                break
        if not line.startswith("READY"):
            self.stop()
            raise RuntimeError(f"fake Bot API did not start: {line!r}")
        self.port = int(line.split()[1])
        self.control = BotApiControl(self.base_url)

    def stop(self) -> None:
        """Terminate the subprocess (SIGTERM, then SIGKILL)."""
        if self.control is not None:
            self.control.close()
            self.control = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of ``python -m tests.support.botapi``."""
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--bot-username", default=DEFAULT_BOT_USERNAME)
    parser.add_argument("--admin", type=int, action="append", default=[], help="user id reported as administrator")
    parser.add_argument("--enforce-limits", action="store_true")
    parser.add_argument("--global-per-s", type=int, default=30)
    parser.add_argument("--per-chat-per-s", type=int, default=1)
    parser.add_argument("--per-group-per-min", type=int, default=20)
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    """Run until SIGINT/SIGTERM."""
    server = BotApiServer(
        args.token,
        host=args.host,
        port=args.port,
        bot_username=args.bot_username,
        admin_ids=args.admin,
        enforce_limits=args.enforce_limits,
        global_per_s=args.global_per_s,
        per_chat_per_s=args.per_chat_per_s,
        per_group_per_min=args.per_group_per_min,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(f"READY {server.port}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m tests.support.botapi``."""
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()
