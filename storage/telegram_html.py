"""Telegram's HTML parse mode, checked before a text is sent rather than learnt from 400s.

One checker for everything that speaks Telegram HTML: the bot refuses a broadcast with it before
queueing it, and the project's Bot API server (`bot/local_api/server.py`) refuses sends with it, so a
template or a typed alert that Telegram would refuse fails in the tests and at the organiser's
keyboard, not at ten thousand recipients.

The rules are those of the Bot API documentation ("Formatting options", HTML style):
- only these tags: b/strong, i/em, u/ins, s/strike/del, tg-spoiler, span class="tg-spoiler",
  a href, tg-emoji emoji-id, code, pre (with an optional code class="language-..." inside),
  blockquote and blockquote expandable; tag names are case-insensitive;
- every tag closed, and closed in the reverse order of opening; nothing inside code or pre, no
  blockquote in a blockquote, no link in a link (the documented nesting rules);
- `<` and `&` that are not markup written as `&lt;` and `&amp;` (a lone `>` is taken as text, as
  Telegram takes it); the named entities `&lt; &gt; &amp; &quot;` and numeric ones (`&#38;`,
  `&#x26;`) are decoded, in attribute values too, where a lone `&` stays (links are full of them).

Where Telegram's server has an error message of its own, a problem carries that wording
(`Unsupported start tag "div"`), and `telegram_description` adds the byte offset as Telegram
reports it. A few rules are documented but not enforced by Telegram's parser, which keeps a lone
`&` or an `<a>` without a link as text and drops formatting nested against the rules; this checker
refuses them anyway, in wording of its own, because a text that relies on the leniency loses its
formatting silently or breaks the day Telegram stops being lenient.

Lengths (`utf16_length`) are what Telegram counts: UTF-16 code units of the text after parsing.
Pure Python: it knows nothing of `telegram`, so `storage/` and the server can both use it.
"""

from __future__ import annotations

import dataclasses
import re

# Telegram's limits, counted on the text after entity parsing, in UTF-16 code units.
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024

SUPPORTED_TAGS = frozenset({
    "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "tg-spoiler", "span", "tg-emoji", "code",
    "pre", "blockquote",
})
NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
# An entity at an ampersand: numeric (decimal or hex) or named, always ending in ';'.
_ENTITY = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|([a-zA-Z]+));")
_MARKUP = re.compile(r"[<&]")
_EMOJI_ID = re.compile(r"\d{1,20}")
# What Telegram takes as a link: a web, tg:// or mailto: address, or a bare domain with a path.
_LINK = re.compile(r"(?:https?://|tg://|mailto:)\S+|[a-z0-9.-]+\.[a-z]{2,}(?:[/?#]\S*)?", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Position:
    """Where in a text something is: `offset` counts characters from 0; line and column from 1.
    `byte_offset` is what Telegram reports (UTF-8 bytes before it); `line_text` is that whole line."""

    offset: int
    byte_offset: int
    line: int
    column: int
    line_text: str

    @classmethod
    def in_text(cls, text: str, offset: int) -> Position:
        before = text[:offset]
        line_start = before.rfind("\n") + 1
        line_end = text.find("\n", offset)
        return cls(offset=offset, byte_offset=len(before.encode("utf-8")), line=before.count("\n") + 1,
                   column=offset - line_start + 1, line_text=text[line_start:None if line_end < 0 else line_end])


class TelegramHtmlError(ValueError):
    """A text Telegram would refuse in HTML parse mode: what is wrong (`problem`) and where."""

    def __init__(self, problem: str, position: Position, *, telegram_wording: str | None = None) -> None:
        super().__init__(f"{problem} at line {position.line}, column {position.column}")
        self.problem = problem
        self.position = position
        # For the few problems Telegram words otherwise than "<problem> at byte offset <n>".
        self._telegram_wording = telegram_wording

    @property
    def telegram_description(self) -> str:
        """The description Telegram's 400 carries after "Bad Request: "."""
        wording = self._telegram_wording or f"{self.problem} at byte offset {self.position.byte_offset}"
        return f"can't parse entities: {wording}"


@dataclasses.dataclass
class _OpenTag:
    name: str
    offset: int


def utf16_length(text: str) -> int:
    """Telegram's length of a text: UTF-16 code units (a character beyond U+FFFF counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def plain_text(telegram_html: str) -> str:
    """The text Telegram shows for `telegram_html`: tags removed, entities decoded.

    Raises TelegramHtmlError at the first thing Telegram would refuse.
    """
    return _Parser(telegram_html).run()


def visible_length(telegram_html: str) -> int:
    """The length Telegram counts for a message in HTML; raises TelegramHtmlError."""
    return utf16_length(plain_text(telegram_html))


def _decoded(entity: re.Match[str]) -> str | None:
    """The character an entity stands for, or None if Telegram does not know it."""
    decimal, hexadecimal, name = entity.groups()
    if name is not None:
        return NAMED_ENTITIES.get(name)
    code = int(decimal) if decimal is not None else int(hexadecimal, 16)
    # Telegram decodes code points of Unicode except NUL and the surrogate halves.
    if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.output: list[str] = []
        self.open_tags: list[_OpenTag] = []
        self.at = 0

    def fail(self, problem: str, offset: int, *, telegram_wording: str | None = None) -> TelegramHtmlError:
        return TelegramHtmlError(problem, Position.in_text(self.source, offset), telegram_wording=telegram_wording)

    def run(self) -> str:
        source = self.source
        while self.at < len(source):
            found = _MARKUP.search(source, self.at)
            next_markup = found.start() if found is not None else len(source)
            self.output.append(source[self.at:next_markup])
            self.at = next_markup
            if self.at == len(source):
                break
            if source[self.at] == "&":
                self.output.append(self.entity())
            elif source.startswith("</", self.at):
                self.end_tag()
            else:
                self.start_tag()
        if self.open_tags:
            innermost = self.open_tags[-1]
            # Telegram names the innermost tag left open, without an offset.
            problem = f'Can\'t find end tag corresponding to start tag "{innermost.name}"'
            raise self.fail(problem, innermost.offset, telegram_wording=problem)
        return "".join(self.output)

    def entity(self) -> str:
        """The character of the entity at an ampersand, moving past it."""
        found = _ENTITY.match(self.source, self.at)
        decoded = _decoded(found) if found is not None else None
        if decoded is None:
            raise self.fail('Character "&" must be written as "&amp;"', self.at)
        self.at = found.end()
        return decoded

    def end_tag(self) -> None:
        begin = self.at
        close = self.source.find(">", begin)
        if close < 0:
            raise self.fail("Unclosed end tag", begin)
        name = self.source[begin + 2:close].strip().lower()
        if not self.open_tags:
            raise self.fail("Unexpected end tag", begin)
        expected = self.open_tags[-1].name
        if name != expected:
            byte_offset = Position.in_text(self.source, begin).byte_offset
            raise self.fail(f'Unmatched end tag: expected "</{expected}>", found "</{name}>"', begin,
                            telegram_wording=f'Unmatched end tag at byte offset {byte_offset}, '
                                             f'expected "</{expected}>", found "</{name}>"')
        self.open_tags.pop()
        self.at = close + 1

    def start_tag(self) -> None:
        source = self.source
        begin = self.at
        cursor = begin + 1
        while cursor < len(source) and not source[cursor].isspace() and source[cursor] != ">":
            cursor += 1
        if cursor == len(source):
            raise self.fail("Unclosed start tag", begin)
        name = source[begin + 1:cursor].lower()
        if name not in SUPPORTED_TAGS:
            raise self.fail(f'Unsupported start tag "{name}"', begin)
        attributes, self.at = self.attributes(name, cursor, begin)
        self.check_attributes(name, attributes, begin)
        self.check_nesting(name, begin)
        self.open_tags.append(_OpenTag(name, begin))

    def check_nesting(self, tag: str, begin: int) -> None:
        """Telegram's documented nesting rules: nothing inside code or pre (but the code that names a
        pre's language), no blockquote in a blockquote, no link in a link, no block inside a link.
        Telegram drops what breaks them without a word; refusing says which formatting would be lost."""
        open_names = [open_tag.name for open_tag in self.open_tags]
        literal = next((name for name in reversed(open_names) if name in ("code", "pre")), None)
        if literal is not None and not (tag == "code" and open_names[-1] == "pre"):
            raise self.fail(f'Tag "{tag}" can\'t be inside "{literal}"', begin)
        if tag == "blockquote" and "blockquote" in open_names:
            raise self.fail('Tag "blockquote" can\'t be inside "blockquote"', begin)
        if tag in ("a", "code", "pre", "blockquote") and "a" in open_names:
            raise self.fail(f'Tag "{tag}" can\'t be inside "a"', begin)

    def attributes(self, tag: str, cursor: int, begin: int) -> tuple[dict[str, str], int]:
        """The attributes of the start tag `tag` from `cursor`, and where the tag ends."""
        source = self.source
        found: dict[str, str] = {}
        while True:
            while cursor < len(source) and source[cursor].isspace():
                cursor += 1
            if cursor == len(source):
                raise self.fail("Unclosed start tag", begin)
            if source[cursor] == ">":
                return found, cursor + 1
            name_start = cursor
            while cursor < len(source) and not source[cursor].isspace() and source[cursor] not in "=>":
                cursor += 1
            name = source[name_start:cursor].lower()
            if not name:
                raise self.fail(f'Empty attribute name in the tag "{tag}"', begin)
            while cursor < len(source) and source[cursor].isspace():
                cursor += 1
            if cursor == len(source) or source[cursor] != "=":
                if tag == "blockquote" and name == "expandable":
                    # The one attribute Telegram takes without a value.
                    found[name] = ""
                    continue
                raise self.fail(f'Expected equal sign in declaration of an attribute of the tag "{tag}"', begin)
            cursor += 1
            while cursor < len(source) and source[cursor].isspace():
                cursor += 1
            if cursor == len(source):
                raise self.fail(f'Unclosed start tag "{tag}"', begin)
            if source[cursor] in "\"'":
                quote = source[cursor]
                value_end = source.find(quote, cursor + 1)
                if value_end < 0:
                    raise self.fail(f'Unclosed start tag "{tag}"', begin)
                raw_value = source[cursor + 1:value_end]
                cursor = value_end + 1
            else:
                value_start = cursor
                while cursor < len(source) and not source[cursor].isspace() and source[cursor] != ">":
                    cursor += 1
                raw_value = source[value_start:cursor]
            found[name] = self.attribute_value(raw_value)

    @staticmethod
    def attribute_value(raw: str) -> str:
        """Entities in a value are decoded; an ampersand that starts none stays as it is, as Telegram
        keeps it (links are written with bare ones, python-telegram-bot's among them)."""
        return _ENTITY.sub(lambda found: _decoded(found) or found.group(0), raw)

    def check_attributes(self, tag: str, attributes: dict[str, str], begin: int) -> None:
        if tag == "a":
            href = attributes.get("href", "").strip()
            if not href:
                raise self.fail('Tag "a" must have a non-empty attribute "href"', begin)
            if not _LINK.fullmatch(href):
                raise self.fail(f'Tag "a" has an invalid URL "{href}" in its attribute "href"', begin)
        elif tag == "span" and attributes.get("class") != "tg-spoiler":
            raise self.fail('Tag "span" must have class "tg-spoiler"', begin)
        elif tag == "tg-emoji" and not _EMOJI_ID.fullmatch(attributes.get("emoji-id", "")):
            raise self.fail('Tag "tg-emoji" must have a numeric attribute "emoji-id"', begin)
