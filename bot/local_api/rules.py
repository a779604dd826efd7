"""What Telegram refuses in a request before it sends anything, in Telegram's own words.

The project's Bot API server (`bot/local_api/server.py`) answers 400 with these descriptions, so a
template, keyboard or command menu Telegram would refuse fails the tests instead of passing
against a lenient server. The HTML rules are those of `storage/telegram_html.py`, the same
checker the bot runs before it queues a broadcast. Limits and wordings are those of the Bot API
documentation and of the answers Telegram's server gives (e.g. "Bad Request: BUTTON_DATA_INVALID").
"""

from __future__ import annotations

import functools
import re
from typing import Any

from storage.telegram_html import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, TelegramHtmlError, plain_text, utf16_length

# Methods whose `text` is a message text, and those whose `caption` is a caption.
TEXT_METHODS = frozenset({"sendMessage", "editMessageText"})
CAPTION_METHODS = frozenset({"sendPhoto", "sendDocument", "copyMessage", "editMessageCaption"})

MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100
MAX_COMMANDS = 100
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
MAX_COMMAND_DESCRIPTION = 256
MAX_INLINE_RESULTS = 50
_BUTTON_URL = re.compile(r"(?:https?|tg)://\S+", re.IGNORECASE)
# An inline button does exactly one of these when pressed; with none it is refused.
_BUTTON_ACTIONS = ("url", "callback_data", "web_app", "login_url", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
                   "callback_game", "pay")


def refusal_of(method: str, params: dict[str, Any]) -> str | None:
    """Telegram's description of the first rule the request breaks, or None if it breaks none."""
    if method in TEXT_METHODS:
        problem = _text_problem(params.get("text"), params.get("parse_mode"))
        if problem:
            return problem
    if method in CAPTION_METHODS and params.get("caption"):
        problem = _caption_problem(params["caption"], params.get("parse_mode"))
        if problem:
            return problem
    if "reply_markup" in params:
        problem = _keyboard_problem(params["reply_markup"])
        if problem:
            return problem
    if method == "setMyCommands":
        return _commands_problem(params.get("commands"))
    if method == "answerInlineQuery":
        return _inline_results_problem(params.get("results"))
    return None


def _shown_text(text: str, parse_mode: Any) -> tuple[str, str | None]:
    """The text as Telegram shows it, or Telegram's description of why it cannot parse it."""
    if isinstance(parse_mode, str) and parse_mode.lower() == "html":
        return _parsed_html(text)
    return text, None


@functools.lru_cache(maxsize=256)
def _parsed_html(text: str) -> tuple[str, str | None]:
    # A broadcast sends one text to every recipient: parsed once, the server keeps a benchmark's
    # pace (parsing a long, heavily tagged message takes milliseconds in pure Python).
    try:
        return plain_text(text), None
    except TelegramHtmlError as problem:
        return "", f"Bad Request: {problem.telegram_description}"


def _text_problem(text: Any, parse_mode: Any) -> str | None:
    if not isinstance(text, str):
        return "Bad Request: message text is empty"
    shown, unparsable = _shown_text(text, parse_mode)
    if unparsable:
        return unparsable
    if not shown.strip():
        return "Bad Request: message text is empty"
    if utf16_length(shown) > MAX_TEXT_LENGTH:
        return "Bad Request: message is too long"
    return None


def _caption_problem(caption: str, parse_mode: Any) -> str | None:
    shown, unparsable = _shown_text(caption, parse_mode)
    if unparsable:
        return unparsable
    if utf16_length(shown) > MAX_CAPTION_LENGTH:
        return "Bad Request: message caption is too long"
    return None


def _keyboard_problem(markup: Any) -> str | None:
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return None
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return "Bad Request: can't parse inline keyboard: field \"inline_keyboard\" must be an Array of Arrays"
    buttons = [button for row in rows for button in row]
    if len(buttons) > MAX_INLINE_BUTTONS:
        return "Bad Request: REPLY_MARKUP_TOO_LONG"
    for button in buttons:
        problem = _button_problem(button)
        if problem:
            return problem
    return None


def _button_problem(button: Any) -> str | None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        return "Bad Request: can't parse inline keyboard button: Can't find field \"text\""
    if not button["text"].strip():
        return "Bad Request: BUTTON_TEXT_INVALID"
    if not any(action in button for action in _BUTTON_ACTIONS):
        return "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            return "Bad Request: BUTTON_DATA_INVALID"
    if "url" in button and not (isinstance(button["url"], str) and _BUTTON_URL.fullmatch(button["url"])):
        return "Bad Request: BUTTON_URL_INVALID"
    return None


def _commands_problem(commands: Any) -> str | None:
    if not isinstance(commands, list):
        return "Bad Request: can't parse commands JSON object"
    if len(commands) > MAX_COMMANDS:
        return "Bad Request: BOT_COMMANDS_TOO_MUCH"
    for command in commands:
        if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
            return "Bad Request: BOT_COMMAND_INVALID"
        description = str(command.get("description", "")).strip()
        if not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION:
            return "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"
    return None


def _inline_results_problem(results: Any) -> str | None:
    """An inline answer: at most 50 results, each message it would send held to the message rules."""
    if not isinstance(results, list):
        return "Bad Request: can't parse inline query results JSON object"
    if len(results) > MAX_INLINE_RESULTS:
        return "Bad Request: RESULTS_TOO_MUCH"
    for result in results:
        content = result.get("input_message_content") if isinstance(result, dict) else None
        if isinstance(content, dict) and "message_text" in content:
            problem = _text_problem(content["message_text"], content.get("parse_mode"))
            if problem:
                return problem
        if isinstance(result, dict) and "reply_markup" in result:
            problem = _keyboard_problem(result["reply_markup"])
            if problem:
                return problem
    return None
