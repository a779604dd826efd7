"""The local Bot API server refuses what Telegram refuses, in Telegram's words, and the one
Telegram-HTML checker (`storage/telegram_html.py`) says where a text goes wrong."""

from __future__ import annotations

import json

import aiohttp
import pytest
from telegram import Bot, Message, MessageEntity
from telegram.error import BadRequest

from bot.local_api.server import LocalBotApi
from storage.broadcasts.listings import recent_broadcasts
from storage.broadcasts.status import TextTooLong, create_broadcast
from storage.telegram_html import TelegramHtmlError, plain_text, utf16_length, visible_length
from tests.builders import make_list, subscribe
from tests.conftest import invoke as terminal

TOKEN = "1:secret"


@pytest.fixture
async def server():
    api = LocalBotApi(token=TOKEN)
    await api.start()
    yield api
    await api.stop()


async def call(server: LocalBotApi, method: str, **params) -> dict:
    """One request as Telegram's HTTP API takes it; the answer's JSON body, whatever its status."""
    form = {k: json.dumps(v) if isinstance(v, dict | list) else str(v) for k, v in params.items()}
    async with aiohttp.ClientSession() as session, session.post(f"{server.url}/bot{TOKEN}/{method}",
                                                                data=form) as answer:
        body = await answer.json()
        assert (answer.status == 200) == body["ok"]
        return body


async def refusal(server: LocalBotApi, method: str, **params) -> str:
    body = await call(server, method, **params)
    assert not body["ok"], f"{method} {params} was accepted"
    assert body["error_code"] == 400
    return body["description"]


# ------------------------------------------------------------------ HTML parse mode on the server

@pytest.mark.parametrize(("text", "description"), [
    ("<b>Demo</b> <div>x</div>", 'Unsupported start tag "div" at byte offset 12'),
    ("Caf\u00e9 <p>x</p>", 'Unsupported start tag "p" at byte offset 6'),  # bytes, not characters
    ("<b>bold <i>both</b></i>", 'Unmatched end tag at byte offset 15, expected "</i>", found "</b>"'),
    ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
    ("closed </b> never opened", "Unexpected end tag at byte offset 7"),
    ("<b>x</b", "Unclosed end tag at byte offset 4"),
    ("<b", "Unclosed start tag at byte offset 0"),
    ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
    ("Tom & Jerry", 'Character "&" must be written as "&amp;" at byte offset 4'),
    ("&nbsp;", 'Character "&" must be written as "&amp;" at byte offset 0'),
    ('<a href="">link</a>', 'Tag "a" must have a non-empty attribute "href" at byte offset 0'),
    ('<a href="javascript:alert(1)">link</a>', 'Tag "a" has an invalid URL "javascript:alert(1)" in its attribute '
                                               '"href" at byte offset 0'),
    ("<span>hidden</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ('<span class="spoiler">hidden</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("<tg-emoji>x</tg-emoji>", 'Tag "tg-emoji" must have a numeric attribute "emoji-id" at byte offset 0'),
    ("<blockquote folded>x</blockquote>",
     'Expected equal sign in declaration of an attribute of the tag "blockquote" at byte offset 0'),
    ('<b ="x">x</b>', 'Empty attribute name in the tag "b" at byte offset 0'),
    ('<a href="https://x.org>x</a>', 'Unclosed start tag "a" at byte offset 0'),
    ("<code>a <b>b</b></code>", 'Tag "b" can\'t be inside "code" at byte offset 8'),
    ("<pre>a <i>b</i></pre>", 'Tag "i" can\'t be inside "pre" at byte offset 7'),
    ('<pre><code class="language-py"><b>x</b></code></pre>', 'Tag "b" can\'t be inside "code" at byte offset 31'),
    ("<blockquote>a <blockquote>b</blockquote></blockquote>",
     'Tag "blockquote" can\'t be inside "blockquote" at byte offset 14'),
    ('<a href="https://x.org">a <a href="https://y.org">b</a></a>', 'Tag "a" can\'t be inside "a" at byte offset 26'),
])
async def test_html_telegram_refuses_is_refused_in_its_words(server, text, description):
    assert await refusal(server, "sendMessage", chat_id=5, text=text, parse_mode="HTML") == (
        f"Bad Request: can't parse entities: {description}")
    assert server.sent_to(5) == []


async def test_html_telegram_takes_is_taken(server):
    text = ('<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>i</ins><s>s</s><strike>s</strike><del>d</del>'
            '<span class="tg-spoiler">sp</span><tg-spoiler>sp</tg-spoiler><a href="https://example.org/?a=1&amp;b=2">a'
            '</a><a href=example.org?a=1&b=2>bare ampersand, as Telegram keeps it</a><a href="tg://user?id=42">m</a>'
            '<tg-emoji emoji-id="5368324170671202286">\U0001f44d</tg-emoji>'
            '<code>c</code><pre>p</pre><pre><code class="language-python">x = 1</code></pre>'
            '<blockquote>q</blockquote><blockquote expandable>long</blockquote><B>upper case</B>'
            '<b>bold <i>italic <u>under <s>struck <a href="https://x.org">link <tg-spoiler>hidden</tg-spoiler></a>'
            '</s></u></i></b><blockquote><b>bold</b> in a quote</blockquote><a href="https://x.org"><b>b</b></a>'
            ' &lt;&gt;&amp;&quot;&#33;&#x21;')
    body = await call(server, "sendMessage", chat_id=5, text=text, parse_mode="HTML")
    assert body["ok"], body
    # Without a parse mode nothing is markup: the same text is taken as it stands.
    assert (await call(server, "sendMessage", chat_id=5, text="1 < 2 & <div>"))["ok"]


async def test_python_telegram_bot_sees_a_bad_request(server):
    async with Bot(TOKEN, base_url=f"{server.url}/bot") as bot:
        with pytest.raises(BadRequest, match='(?i)unsupported start tag "div" at byte offset 0'):
            await bot.send_message(5, "<div>x</div>", parse_mode="HTML")


# ------------------------------------------------------------------ lengths, after parsing, in UTF-16

async def test_text_length_is_4096_utf16_units_after_parsing(server):
    # Tags and entities do not count: this is 4096 visible characters in many more of HTML.
    assert (await call(server, "sendMessage", chat_id=5, text="<b>" + "&amp;" * 4096 + "</b>",
                       parse_mode="HTML"))["ok"]
    assert await refusal(server, "sendMessage", chat_id=5, text="x" * 4097) == "Bad Request: message is too long"
    # An emoji beyond the Basic Multilingual Plane counts two: 2048 of them fill a message.
    assert (await call(server, "sendMessage", chat_id=5, text="\U0001f600" * 2048))["ok"]
    assert await refusal(server, "sendMessage", chat_id=5, text="\U0001f600" * 2048 + "x") == (
        "Bad Request: message is too long")


async def test_empty_text_after_parsing_is_refused(server):
    for text in ("", "<b></b>", "<i> </i>\n"):
        assert await refusal(server, "sendMessage", chat_id=5, text=text, parse_mode="HTML") == (
            "Bad Request: message text is empty")


async def test_caption_length_is_1024_after_parsing(server):
    assert (await call(server, "sendPhoto", chat_id=5, photo="file-1", caption="<i>" + "y" * 1024 + "</i>",
                       parse_mode="HTML"))["ok"]
    assert await refusal(server, "sendPhoto", chat_id=5, photo="file-1", caption="y" * 1025) == (
        "Bad Request: message caption is too long")
    assert await refusal(server, "sendDocument", chat_id=5, document="file-2", caption="<b>y",
                         parse_mode="HTML") == ("Bad Request: can't parse entities: Can't find end tag corresponding "
                                                'to start tag "b"')


async def test_edits_are_held_to_the_same_rules(server):
    sent = await call(server, "sendMessage", chat_id=5, text="first")
    assert await refusal(server, "editMessageText", chat_id=5, message_id=sent["result"]["message_id"],
                         text="<blink>x</blink>", parse_mode="HTML") == (
        "Bad Request: can't parse entities: Unsupported start tag \"blink\" at byte offset 0")
    assert server.sent_to(5)[0]["text"] == "first"


# ------------------------------------------------------------------ inline keyboards

def keyboard(*buttons: dict) -> dict:
    return {"inline_keyboard": [list(buttons)]}


@pytest.mark.parametrize(("button", "description"), [
    ({"text": "Go", "callback_data": "x" * 65}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "Go", "callback_data": "\u00e9" * 33}, "Bad Request: BUTTON_DATA_INVALID"),  # 66 bytes, 33 characters
    ({"text": "Go", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"text": "", "callback_data": "go"}, "Bad Request: BUTTON_TEXT_INVALID"),
    ({"text": "Go"}, "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline "
                     "keyboard"),
    ({"text": "Go", "url": "not a link"}, "Bad Request: BUTTON_URL_INVALID"),
])
async def test_buttons_telegram_refuses_are_refused(server, button, description):
    assert await refusal(server, "sendMessage", chat_id=5, text="x", reply_markup=keyboard(button)) == description


async def test_buttons_telegram_takes_are_taken(server):
    markup = keyboard({"text": "Go", "callback_data": "x" * 64}, {"text": "Site", "url": "https://example.org"},
                      {"text": "\u00e9", "callback_data": "\u00e9" * 32})
    assert (await call(server, "sendMessage", chat_id=5, text="x", reply_markup=markup))["ok"]


async def test_at_most_100_buttons(server):
    rows = [[{"text": str(n), "callback_data": str(n)} for n in range(row * 10, row * 10 + 10)] for row in range(10)]
    assert (await call(server, "sendMessage", chat_id=5, text="x", reply_markup={"inline_keyboard": rows}))["ok"]
    rows.append([{"text": "one more", "callback_data": "more"}])
    assert await refusal(server, "sendMessage", chat_id=5, text="x", reply_markup={"inline_keyboard": rows}) == (
        "Bad Request: REPLY_MARKUP_TOO_LONG")


# ------------------------------------------------------------------ the command menu

@pytest.mark.parametrize(("commands", "description"), [
    ([{"command": "Start", "description": "Begin"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "/start", "description": "Begin"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "my-lists", "description": "Lists"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "x" * 33, "description": "Long"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "", "description": "Empty"}], "Bad Request: BOT_COMMAND_INVALID"),
    ([{"command": "start", "description": ""}], "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"),
    ([{"command": "start", "description": "d" * 257}], "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID"),
    ([{"command": f"c{n}", "description": "d"} for n in range(101)], "Bad Request: BOT_COMMANDS_TOO_MUCH"),
])
async def test_commands_telegram_refuses_are_refused(server, commands, description):
    assert await refusal(server, "setMyCommands", commands=commands) == description


async def test_commands_telegram_takes_are_taken(server):
    commands = [{"command": "x" * 32, "description": "d" * 256}] + [
        {"command": f"c_{n}", "description": "d"} for n in range(99)]
    assert (await call(server, "setMyCommands", commands=commands))["ok"]


async def test_the_bots_own_menu_is_taken(running_bot):
    # The menu is set at start-up; a refusal there would have been answered 400.
    calls = running_bot.server.calls("setMyCommands")
    assert calls and all(call.status == 200 for call in calls)


# ------------------------------------------------------------------ the checker's positions

def test_positions_are_characters_lines_and_columns():
    text = "Demo tomorrow\n<b>Meet at the caf\u00e9 <div>"
    with pytest.raises(TelegramHtmlError) as refused:
        plain_text(text)
    problem = refused.value
    assert problem.problem == 'Unsupported start tag "div"'
    assert (problem.position.offset, problem.position.line, problem.position.column) == (34, 2, 21)
    assert problem.position.line_text == "<b>Meet at the caf\u00e9 <div>"
    assert problem.position.byte_offset == 35  # the \u00e9 is two bytes of UTF-8
    assert str(problem) == 'Unsupported start tag "div" at line 2, column 21'


def test_an_unclosed_tag_is_found_where_it_was_opened():
    with pytest.raises(TelegramHtmlError) as refused:
        plain_text("<i>fine</i>\n\n<b>bold <u>underlined</u> and then nothing")
    assert refused.value.problem == 'Can\'t find end tag corresponding to start tag "b"'
    assert (refused.value.position.line, refused.value.position.column) == (3, 1)


def test_the_demo_text_of_the_issue_is_refused_at_its_ampersand():
    with pytest.raises(TelegramHtmlError) as refused:
        plain_text("<b>Demo & <div>")
    assert (refused.value.position.offset, refused.value.position.column) == (8, 9)


def test_plain_text_and_length_are_what_telegram_shows():
    assert plain_text('<a href="https://x.org">A &amp; B</a> &lt;3 &#x1F600;') == "A & B <3 \U0001f600"
    assert utf16_length("\U0001f600") == 2
    assert visible_length("<b>caf\u00e9</b> \U0001f600") == 7


def test_what_python_telegram_bot_makes_of_formatted_messages_passes():
    # /broadcast turns the organiser's formatted message into HTML with python-telegram-bot.
    text = "Bold link spoiler code pre quote emoji mention & <tags> \"quoted\" it's"
    entities = [
        MessageEntity("bold", 0, 4), MessageEntity("text_link", 5, 4, url="https://example.org/?a=1&b=<2>"),
        MessageEntity("spoiler", 10, 7), MessageEntity("code", 18, 4),
        MessageEntity("pre", 23, 3, language="python"), MessageEntity("expandable_blockquote", 27, 5),
        MessageEntity("custom_emoji", 33, 5, custom_emoji_id="5368324170671202286"),
        MessageEntity("text_mention", 39, 7, user=None), MessageEntity("underline", 47, 1),
        MessageEntity("strikethrough", 49, 6), MessageEntity("italic", 56, 8),
    ]
    message = Message.de_json({"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": text,
                               "entities": [e.to_dict() for e in entities]}, bot=None)
    converted = message.text_html
    assert plain_text(converted) == text


# ------------------------------------------------------------------ refused before a broadcast is queued

@pytest.fixture
def protests_in_terminal(cli_env):
    terminal("lists", "create", "protests", "--title", "Protests and demos")


def test_the_terminal_refuses_html_telegram_would_refuse_and_says_where(protests_in_terminal):
    refused = terminal("broadcast", "send", "--list", "protests", "--text", "<b>Demo & <div>")
    assert refused.exit_code == 1, refused.output
    assert ('Character "&" must be written as "&amp;", at line 1, column 9 (character 9):\n'
            '  <b>Demo & <div>\n'
            '          ^\n') in refused.output
    second_line = terminal("broadcast", "send", "--list", "protests", "--text",
                           "<b>Demo</b> tomorrow\nMeet at the <div>gate</div>")
    assert second_line.exit_code == 1
    assert 'Unsupported start tag "div", at line 2, column 13 (character 34)' in second_line.output
    assert "No broadcasts yet" in terminal("broadcast", "status").output
    fine = terminal("broadcast", "send", "--list", "protests", "--text", "<b>Demo &amp; vigil</b>")
    assert fine.exit_code == 0, fine.output


async def test_broadcast_refuses_a_message_telegram_would_refuse(running_bot, organiser):
    await make_list(running_bot.db, "protests", "Protests")
    await subscribe(running_bot.db, 101, "protests")
    await organiser.say("/broadcast protests")
    # A link Telegram would not take, as python-telegram-bot turns it into HTML.
    link = {"entities": [{"type": "text_link", "offset": 5, "length": 4, "url": "javascript:alert(1)"}]}
    [refused] = await organiser.send("Demo here tomorrow", **link)
    # The bot sends HTML; what the organiser reads is the text Telegram shows.
    assert plain_text(refused["text"]) == (
        'Telegram would refuse this message, so nothing was sent: Tag "a" has an invalid URL '
        '"javascript:alert(1)" in its attribute "href", at line 1, column 6 (character 6). Send it again with '
        "that part changed, or /broadcast to start again.")
    async with running_bot.db.transaction() as session:
        assert await recent_broadcasts(session) == []
    # Still waiting for the text: the next one is previewed.
    [preview, _confirm] = await organiser.send("Demo here tomorrow")
    assert preview["text"].startswith("Demo here tomorrow")


async def test_inline_answers_are_held_to_the_message_rules(server):
    def article(n: int, text: str) -> dict:
        return {"type": "article", "id": str(n), "title": "t",
                "input_message_content": {"message_text": text, "parse_mode": "HTML"}}

    assert (await call(server, "answerInlineQuery", inline_query_id="1",
                       results=[article(n, "<b>fine</b>") for n in range(50)]))["ok"]
    assert await refusal(server, "answerInlineQuery", inline_query_id="1",
                         results=[article(n, "x") for n in range(51)]) == "Bad Request: RESULTS_TOO_MUCH"
    assert await refusal(server, "answerInlineQuery", inline_query_id="1",
                         results=[article(1, "KINGSTON DRUG & ALCOHOL")]) == (
        'Bad Request: can\'t parse entities: Character "&" must be written as "&amp;" at byte offset 14')


async def test_queueing_a_broadcast_refuses_html_telegram_would_refuse(database):
    # The one place every way in (Telegram, the terminal, reminders) queues through.
    mailing_list = await make_list(database, "protests", "Protests")
    async with database.transaction() as session:
        with pytest.raises(TelegramHtmlError) as refused:
            await create_broadcast(session, list_id=mailing_list.id, text="<b>Demo</b>\n<div>x</div>",
                                   created_by=None)
        assert (refused.value.position.line, refused.value.position.column) == (2, 1)
        # Counted after parsing, in UTF-16: 2048 emoji are 4096 units, one more is too many.
        assert await create_broadcast(session, list_id=mailing_list.id, created_by=None,
                                      text="<b>" + "\U0001f600" * 2048 + "</b>")
        with pytest.raises(TextTooLong):
            await create_broadcast(session, list_id=mailing_list.id, created_by=None,
                                   text="\U0001f600" * 2048 + "&amp;")
