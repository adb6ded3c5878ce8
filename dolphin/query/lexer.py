"""Tokens of the audience language, each with its line:column."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dolphin.errors import Position, QuerySyntaxError
from dolphin.query.ast import is_bare_char

ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r"}


class Kind(enum.Enum):
    """Token kinds."""

    WORD = "word"
    STRING = "quoted string"
    SAVED = "@name"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    EQ = "'='"
    NE = "'!='"
    LT = "'<'"
    LE = "'<='"
    GT = "'>'"
    GE = "'>='"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text (unescaped for strings) and where it starts."""

    kind: Kind
    text: str
    position: Position

    def describe(self) -> str:
        """Return how an error message names this token."""
        if self.kind is Kind.END:
            return "end of expression"
        if self.kind is Kind.STRING:
            return f'"{self.text}"'
        if self.kind is Kind.SAVED:
            return f'"@{self.text}"'
        return f'"{self.text}"'


class _Cursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        self.line = 1
        self.column = 1

    def position(self) -> Position:
        return Position(self.line, self.column)

    def peek(self, ahead: int = 0) -> str:
        i = self.index + ahead
        return self.text[i] if i < len(self.text) else ""

    def advance(self) -> str:
        ch = self.text[self.index]
        self.index += 1
        if ch == "\n":
            self.line += 1
            self.column = 1
        else:
            self.column += 1
        return ch


def _read_bare(cur: _Cursor) -> str:
    start = cur.index
    while cur.peek() and is_bare_char(cur.peek()):
        cur.advance()
    return cur.text[start : cur.index]


def _read_escape(cur: _Cursor) -> str:
    pos = cur.position()
    cur.advance()  # the backslash
    ch = cur.peek()
    if not ch:
        raise QuerySyntaxError(pos, 'an escaped character after "\\"', ", found end of expression")
    if ch in ESCAPES:
        cur.advance()
        return ESCAPES[ch]
    if ch == "u":
        return _read_unicode_escape(cur, pos)
    shown = ch if ch.isprintable() and not "\ud800" <= ch <= "\udfff" else f"U+{ord(ch):04X}"
    raise QuerySyntaxError(pos, 'one of the escapes \\" \\\\ \\n \\t \\r \\uXXXX', f', found "\\{shown}"')


def _read_hex4(cur: _Cursor, pos: Position) -> int:
    cur.advance()  # the u
    digits = cur.text[cur.index : cur.index + 4]
    if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
        for _ in range(4):
            cur.advance()
        return int(digits, 16)
    raise QuerySyntaxError(pos, "4 hex digits after \\u", f', found "{digits}"')


def _read_unicode_escape(cur: _Cursor, pos: Position) -> str:
    """Read \\uXXXX (the backslash already read); a surrogate pair \\uD83D\\uDE00 makes one character."""
    code = _read_hex4(cur, pos)
    if 0xDC00 <= code <= 0xDFFF:
        raise QuerySyntaxError(pos, "a character, not a lone low surrogate", f', found "\\u{code:04X}"')
    if 0xD800 <= code <= 0xDBFF:
        if cur.peek() == "\\" and cur.peek(1) == "u":
            low_pos = cur.position()
            cur.advance()
            low = _read_hex4(cur, low_pos)
            if 0xDC00 <= low <= 0xDFFF:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
        raise QuerySyntaxError(pos, f"a low surrogate \\uDC00-\\uDFFF after \\u{code:04X}",
                               " (a lone high surrogate is not a character)")
    return chr(code)


def _lone_surrogate(pos: Position, ch: str) -> QuerySyntaxError:
    """The error for a raw surrogate code point (not UTF-8 encodable: no answer could carry it back)."""
    return QuerySyntaxError(pos, "a character, not a lone surrogate", f", found U+{ord(ch):04X}")


def _read_string(cur: _Cursor) -> str:
    start = cur.position()
    cur.advance()  # opening quote
    parts: list[str] = []
    while True:
        ch = cur.peek()
        if not ch:
            raise QuerySyntaxError(start, "a closing '\"' for the string started here", "")
        if ch == '"':
            cur.advance()
            return "".join(parts)
        if ch == "\\":
            parts.append(_read_escape(cur))
        elif "\ud800" <= ch <= "\udfff":
            raise _lone_surrogate(cur.position(), ch)
        else:
            parts.append(cur.advance())


_SINGLE = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA, "=": Kind.EQ}


def _next_token(cur: _Cursor) -> Token:
    pos = cur.position()
    ch = cur.peek()
    if ch in _SINGLE:
        cur.advance()
        return Token(_SINGLE[ch], ch, pos)
    if ch == "!" and cur.peek(1) == "=":
        cur.advance()
        cur.advance()
        return Token(Kind.NE, "!=", pos)
    if ch in "<>":
        cur.advance()
        if cur.peek() == "=":
            cur.advance()
            return Token(Kind.LE if ch == "<" else Kind.GE, ch + "=", pos)
        return Token(Kind.LT if ch == "<" else Kind.GT, ch, pos)
    if ch == '"':
        return Token(Kind.STRING, _read_string(cur), pos)
    if ch == "@":
        cur.advance()
        name = _read_bare(cur)
        if not name:
            raise QuerySyntaxError(pos, "a saved audience name after '@'", "")
        return Token(Kind.SAVED, name, pos)
    if is_bare_char(ch):
        return Token(Kind.WORD, _read_bare(cur), pos)
    if "\ud800" <= ch <= "\udfff":
        raise _lone_surrogate(pos, ch)
    shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
    raise QuerySyntaxError(pos, "a name, a value, an operator or a parenthesis", f', found "{shown}"')


def tokenize(text: str) -> list[Token]:
    """Return the tokens of text, ending with an END token."""
    cur = _Cursor(text)
    tokens: list[Token] = []
    while True:
        while cur.peek() and cur.peek().isspace():
            cur.advance()
        if not cur.peek():
            tokens.append(Token(Kind.END, "", cur.position()))
            return tokens
        tokens.append(_next_token(cur))
