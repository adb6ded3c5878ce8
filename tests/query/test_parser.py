"""Parser: grammar, precedence, quoting, errors with positions, limits, round trip, fuzz."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dolphin.errors import QueryLimitError, QuerySyntaxError
from dolphin.query import All, And, In, Not, NotIn, Or, QueryLimits, Saved, Tag, format_expr, parse
from tests.strategies import expressions


def test_issue_example() -> None:
    expr = parse('gender=F AND city IN ("杭州", "San Francisco", "Xi\'an") AND interest=tennis AND NOT vip=true')
    assert expr == And((
        Tag("gender", "F"),
        In("city", ("杭州", "San Francisco", "Xi'an")),
        Tag("interest", "tennis"),
        Not(Tag("vip", "true")),
    ))


def test_precedence_not_over_and_over_or() -> None:
    assert parse("a=1 OR b=2 AND NOT c=3") == Or((Tag("a", "1"), And((Tag("b", "2"), Not(Tag("c", "3"))))))
    assert parse("(a=1 OR b=2) AND c=3") == And((Or((Tag("a", "1"), Tag("b", "2"))), Tag("c", "3")))


def test_keywords_any_case_and_as_values() -> None:
    assert parse("gender=F and not city=x or all") == Or((And((Tag("gender", "F"), Not(Tag("city", "x")))), All()))
    assert parse("city=AND") == Tag("city", "AND")
    assert parse('city="AND"') == Tag("city", "AND")


def test_not_equal_and_not_in() -> None:
    assert parse("gender!=F") == NotIn("gender", ("F",))
    assert parse("city NOT IN (a, b)") == NotIn("city", ("a", "b"))


def test_saved_and_bare_characters() -> None:
    assert parse("@vip_hz.v2 AND age=25-34 AND t=12:30") == And(
        (Saved("vip_hz.v2"), Tag("age", "25-34"), Tag("t", "12:30")))


def test_escapes_and_unicode() -> None:
    assert parse(r'v="a\"b\\c\n\u00e9"') == Tag("v", 'a"b\\c\né')
    assert parse('v="\u202e\x00"') == Tag("v", "\u202e\x00")


def test_nfc_normalisation() -> None:
    assert parse('v="e\u0301"') == parse('v="\u00e9"')


@pytest.mark.parametrize(("text", "message"), [
    ("(gender=F AND interest=tennis", "1:30: expected ')' after \"tennis\""),
    ("", "1:1: expected an expression"),
    ("   ", "1:4: expected an expression"),
    ("gender=", "1:8: expected a value"),
    ("=F", "1:1: expected a term"),
    ("gender==F", "1:8: expected a value"),
    ("gender=F AND", "1:13: expected a term"),
    ("AND", "1:1: expected a term"),
    ("NOT", "1:4: expected a term"),
    ("gender=F OR OR city=x", "1:13: expected a term"),
    ("city IN ()", "1:10: expected a value"),
    ("city IN (", "1:10: expected a value"),
    ('city IN ("a",)', "1:14: expected a value"),
    ("city IN (a b)", "1:12: expected ',' or ')'"),
    ("city NOT IN", "1:12: expected '(' to start the value list"),
    ('city="abc', "1:6: expected a closing '\"'"),
    ('city="\\q"', "1:7: expected one of the escapes"),
    ('city="\\', "1:7: expected an escaped character"),
    ("gender＝F", "1:7: expected a name, a value, an operator or a parenthesis, found \"＝\""),
    ("a=\x00", "1:3: expected a name"),
    ("gender=F city=x", "1:10: expected AND, OR or the end of the expression after \"F\", found \"city\""),
    ("@", "1:1: expected a saved audience name"),
    ("a=1\n  AND (b=2", "2:11: expected ')'"),
])
def test_syntax_errors_have_position_and_expectation(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert str(info.value).startswith(message)


def test_limits() -> None:
    with pytest.raises(QueryLimitError, match="nesting depth is 33; the limit is 32"):
        parse("(" * 10_000 + "a=1" + ")" * 10_000, QueryLimits(max_length=100_000))
    with pytest.raises(QueryLimitError, match="term count is 501; the limit is 500"):
        parse(" OR ".join(f"a={i}" for i in range(600)), QueryLimits(max_length=100_000))
    with pytest.raises(QueryLimitError, match="length is 1048576"):
        parse("a" * (1 << 20))
    with pytest.raises(QueryLimitError, match="nesting depth"):
        parse("NOT " * 40 + "a=1")
    assert parse("a IN (1, 2, 3)", QueryLimits(max_terms=3)) == In("a", ("1", "2", "3"))


@given(expressions(max_leaves=20))
def test_format_round_trips(expr: object) -> None:
    assert parse(format_expr(expr)) == expr  # type: ignore[arg-type]


@given(st.text(max_size=200))
def test_garbage_raises_only_query_errors(text: str) -> None:
    try:
        parse(text)
    except QuerySyntaxError as exc:
        assert 1 <= exc.position.line and 1 <= exc.position.column
    except QueryLimitError:
        pass


@given(expressions(max_leaves=8), st.data())
def test_mutated_expressions_raise_only_query_errors(expr: object, data: st.DataObject) -> None:
    text = format_expr(expr)  # type: ignore[arg-type]
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", '"', ",", "AND", " OR ", "NOT", "=", "!=", "@", "\\", "é"]))
    try:
        parsed = parse(text[:i] + insert + text[j:])
    except (QuerySyntaxError, QueryLimitError):
        return
    assert parse(format_expr(parsed)) == parsed  # what parses survives its own formatting


@pytest.mark.parametrize(("text", "message"), [
    ('"\\uD800"=x', '1:2: expected a low surrogate \\uDC00-\\uDFFF after \\uD800 (a lone high surrogate'),
    ('event("\\uD800")', "1:8: expected a low surrogate"),
    ('city="\\uDE00"', '1:7: expected a character, not a lone low surrogate, found "\\uDE00"'),
    ('city="\\uD83D\\u0041"', "1:7: expected a low surrogate"),
    ('city="\\uD83D\\uZZ"', '1:13: expected 4 hex digits after \\u, found "ZZ"'),
    ("a=1 AND\n b=\ud800", "2:4: expected a character, not a lone surrogate, found U+D800"),
    ('b="x\udfff"', "1:5: expected a character, not a lone surrogate, found U+DFFF"),
])
def test_lone_surrogates_are_syntax_errors_at_their_position(text: str, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse(text)
    assert str(info.value).startswith(message)
    str(info.value).encode("utf-8")  # a status message must be UTF-8: a lone surrogate in it hung calls


def test_surrogate_pairs_make_one_character() -> None:
    assert parse('v="\\uD83D\\uDE00"') == Tag("v", "\U0001F600") == parse('v="\U0001F600"')


ANY_CHAR = st.one_of(st.characters(), st.characters(categories=["Cs"]))  # lone surrogates too
ESCAPE = st.builds(lambda hi, n: f"\\u{n:04X}" if hi else f"\\u{n:04x}", st.booleans(),
                   st.one_of(st.integers(0xD800, 0xDFFF), st.integers(0, 0xFFFF)))


PIECES = st.lists(st.one_of(ANY_CHAR, ESCAPE, st.sampled_from(['"', "=", "a", " AND ", "(", ")"])), max_size=30)


@given(PIECES, st.sampled_from(["{}", 'd="{}"', 'd="{}" OR e=1', 'event("{}")', '"{}"=x']))
@example(["\\", "\ud800"], 'd="{}"')  # an escape of a lone surrogate once printed it raw in the message
def test_any_unicode_parses_or_fails_with_an_encodable_position(parts: list[str], frame: str) -> None:
    text = frame.format("".join(parts))
    try:
        parsed = parse(text)
    except QuerySyntaxError as exc:
        assert 1 <= exc.position.line and 1 <= exc.position.column
        str(exc).encode("utf-8")
    except QueryLimitError as exc:
        str(exc).encode("utf-8")
    else:
        format_expr(parsed).encode("utf-8")  # nothing unencodable gets through to a response
