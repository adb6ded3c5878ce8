"""Recursive-descent parser: NOT binds tighter than AND, AND tighter than OR.

Grammar (keywords in any case)::

    expr    := and (OR and)*
    and     := unary (AND unary)*
    unary   := NOT unary | primary
    primary := '(' expr ')' | ALL | @name | term
    term    := name ('=' value | '!=' value | IN list | NOT IN list
                     | ('<' | '<=' | '>' | '>=') value | BETWEEN value AND value)
    list    := '(' value (',' value)* ')'
    name, value := bare word | "quoted string"

Names and values are NFC-normalised, as the loader normalises tag values.
"""

from __future__ import annotations

import datetime
import unicodedata

from dolphin.errors import QueryLimitError, QuerySyntaxError
from dolphin.query.ast import All, And, Between, Compare, Event, Expr, In, Not, NotIn, Or, Saved, Tag
from dolphin.query.lexer import Kind, Token, tokenize
from dolphin.query.limits import QueryLimits

_TEXT_KINDS = (Kind.WORD, Kind.STRING)
_COMPARE_KINDS = (Kind.LT, Kind.LE, Kind.GT, Kind.GE)


def _is_iso_day(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class _Parser:
    def __init__(self, tokens: list[Token], limits: QueryLimits) -> None:
        self.tokens = tokens
        self.index = 0
        self.limits = limits
        self.terms = 0
        self.depth = 0

    # -- token helpers -------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.current
        self.index += 1
        return tok

    def at(self, kind: Kind) -> bool:
        """True when the current token is of this kind."""
        return self.current.kind is kind

    def is_keyword(self, word: str, tok: Token | None = None) -> bool:
        tok = tok or self.current
        return tok.kind is Kind.WORD and tok.text.upper() == word

    def fail(self, expected: str) -> QuerySyntaxError:
        tok = self.current
        if self.index == 0:
            found = ", found end of expression" if tok.kind is Kind.END else f", found {tok.describe()}"
            return QuerySyntaxError(tok.position, expected, found)
        after = f" after {self.tokens[self.index - 1].describe()}"
        found = "" if tok.kind is Kind.END else f", found {tok.describe()}"
        return QuerySyntaxError(tok.position, expected, after + found)

    def count_terms(self, n: int) -> None:
        self.terms += n
        if self.terms > self.limits.max_terms:
            raise QueryLimitError("expression term count", self.terms, self.limits.max_terms, "max_terms")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise QueryLimitError("expression nesting depth", self.depth, self.limits.max_depth, "max_depth")

    # -- grammar ---------------------------------------------------------
    def parse_or(self) -> Expr:
        children = [self.parse_and()]
        while self.is_keyword("OR"):
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Expr:
        children = [self.parse_unary()]
        while self.is_keyword("AND"):
            self.take()
            children.append(self.parse_unary())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_unary(self) -> Expr:
        if self.is_keyword("NOT") and not self.starts_term():
            self.take()
            self.enter()
            child = self.parse_unary()
            self.depth -= 1
            return Not(child)
        return self.parse_primary()

    def starts_term(self) -> bool:
        """True when the current word is a dimension name (followed by =, !=, a comparison, IN or BETWEEN)."""
        nxt = self.peek()
        return (nxt.kind in (Kind.EQ, Kind.NE, *_COMPARE_KINDS) or self.is_keyword("IN", nxt)
                or self.is_keyword("BETWEEN", nxt))

    def parse_primary(self) -> Expr:
        tok = self.current
        if tok.kind is Kind.LPAREN:
            self.take()
            self.enter()
            inner = self.parse_or()
            self.depth -= 1
            if not self.at(Kind.RPAREN):
                raise self.fail("')'")
            self.take()
            return inner
        if tok.kind is Kind.SAVED:
            self.take()
            self.count_terms(1)
            return Saved(tok.text, tok.position)
        if tok.kind is Kind.WORD and tok.text.lower() == "event" and self.peek().kind is Kind.LPAREN:
            return self.parse_event()
        if self.is_keyword("ALL") and not self.starts_term():
            self.take()
            return All()
        if tok.kind in _TEXT_KINDS and not (tok.kind is Kind.WORD and tok.text.upper() in ("AND", "OR")):
            return self.parse_term()
        raise self.fail("a term such as gender=F, '(', NOT, ALL or @audience")

    def parse_term(self) -> Expr:
        name_tok = self.take()
        name = _nfc(name_tok.text)
        op = self.current
        if op.kind is Kind.EQ:
            self.take()
            self.count_terms(1)
            return Tag(name, self.parse_value(), name_tok.position)
        if op.kind is Kind.NE:
            self.take()
            self.count_terms(1)
            return NotIn(name, (self.parse_value(),), name_tok.position)
        if op.kind in _COMPARE_KINDS:
            self.take()
            self.count_terms(1)
            return Compare(name, op.text, self.parse_value(), name_tok.position)
        if self.is_keyword("BETWEEN"):
            self.take()
            self.count_terms(1)
            low = self.parse_value()
            if not self.is_keyword("AND"):
                raise self.fail("AND between the two ends of BETWEEN")
            self.take()
            return Between(name, low, self.parse_value(), name_tok.position)
        if self.is_keyword("IN"):
            self.take()
            return In(name, self.parse_list(), name_tok.position)
        if self.is_keyword("NOT") and self.is_keyword("IN", self.peek()):
            self.take()
            self.take()
            return NotIn(name, self.parse_list(), name_tok.position)
        raise self.fail("'=', '!=', IN, NOT IN, a comparison (< <= > >=) or BETWEEN")

    def parse_event(self) -> Expr:
        start_tok = self.take()
        self.take()  # '('
        self.count_terms(1)
        event = self.parse_value()
        args: dict[str, str] = {}
        while self.at(Kind.COMMA):
            self.take()
            name_tok = self.current
            if name_tok.kind is not Kind.WORD or name_tok.text.lower() not in ("campaign", "from", "to") \
                    or self.peek().kind is not Kind.EQ:
                raise self.fail("campaign=, from= or to=")
            self.take()
            self.take()
            value_tok = self.current
            args[name_tok.text.lower()] = self.parse_value()
            if name_tok.text.lower() != "campaign" and not _is_iso_day(args[name_tok.text.lower()]):
                raise QuerySyntaxError(value_tok.position, "an ISO date such as 2026-11-01",
                                       f', found "{args[name_tok.text.lower()]}"')
        if not self.at(Kind.RPAREN):
            raise self.fail("',' or ')' in event(...)")
        self.take()
        return Event(event, args.get("campaign"), args.get("from"), args.get("to"), start_tok.position)

    def parse_value(self) -> str:
        if self.current.kind not in _TEXT_KINDS:
            raise self.fail('a value (a bare word or a "quoted string")')
        return _nfc(self.take().text)

    def parse_list(self) -> tuple[str, ...]:
        if self.current.kind is not Kind.LPAREN:
            raise self.fail("'(' to start the value list")
        self.take()
        values = [self.parse_value()]
        self.count_terms(1)
        while self.at(Kind.COMMA):
            self.take()
            values.append(self.parse_value())
            self.count_terms(1)
        if not self.at(Kind.RPAREN):
            raise self.fail("',' or ')' in the value list")
        self.take()
        return tuple(values)


def parse(text: str, limits: QueryLimits | None = None) -> Expr:
    """Parse an audience expression.

    Raises:
        QuerySyntaxError: the text does not parse; the message has line:column and what was expected.
        QueryLimitError: the text is longer, has more terms or nests deeper than the limits.
    """
    limits = limits or QueryLimits()
    if len(text) > limits.max_length:
        raise QueryLimitError("expression length", len(text), limits.max_length, "max_expression_length")
    tokens = tokenize(text)
    parser = _Parser(tokens, limits)
    if tokens[0].kind is Kind.END:
        raise QuerySyntaxError(tokens[0].position, "an expression", ", found end of expression (it is empty)")
    expr = parser.parse_or()
    if parser.current.kind is not Kind.END:
        raise parser.fail("AND, OR or the end of the expression")
    return expr
