"""Placeholders in PromQL (pipeline_steps/sources/promql.py), checked by the real Prometheus parser.

Aspects (issue 11 item 4): the issue's query (a comment with an apostrophe, then a matcher whose
value tries to close its string and add ``or vector(1)``) keeps the value inside its string, so the
SLI stays 0; a plain ``"`` no longer breaks the query; for many awkward values (quotes, backslashes,
line breaks, control characters, unicode, PromQL of their own) and for random text, the value
substituted into ``"..."``, ``'...'`` and ```...``` reaches Prometheus unchanged: ``label_join``
with two empty labels returns its separator, so the label Prometheus answers is exactly the string
its parser read. Refused as bad input: a line break in a comment, a backtick in a raw string,
anything but a plain token outside strings, a lone surrogate, and a query whose quote context is
unclear (a string never closed, or breaking its line).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_steps.documents.evaluation import Window
from pipeline_steps.sources.prometheus import PrometheusSource
from pipeline_steps.sources.promql import substitute_promql as substitute
from tests.sources.prom_env import PromEnv, prom_env

__all__ = ["prom_env"]

ISSUE_QUERY = '# the handler\'s calls\ncount(nonexistent_metric{handler="$handler"}) or vector(0)'
AWKWARD = ['x"}) or vector(1) or absent(y{a="', '"', "'", "`", "\\", '\\"', "\\'", "a\nb", "tab\there", "\r\n",
           "nul\x00byte", "bell\x07", "del\x7f", "ü€😀", "# not a comment", "$handler", "{}[]()", "a'b\"c`d\\e",
           "\\x41", "\\u0041", "'}) or vector(1) #", " leading and trailing "]


def _read_back(prom_env: PromEnv, template: str, value: str) -> str:
    """The string Prometheus' parser read where ``$X`` stood, through label_join's separator."""
    expr = substitute(f"label_join(vector(1), \"v\", {template}, \"a\", \"b\")", {"X": value})
    result = prom_env.server.query(expr)
    assert len(result) == 1, expr
    return str(result[0]["metric"].get("v", ""))


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_the_issues_injection_stays_inside_its_string(prom_env: PromEnv, line_end: str) -> None:
    """Prometheus' lexer ends a ``#`` comment at a carriage return as at a line feed (``isEndOfLine``
    in promql/parser/lex.go): a lone CR after the apostrophe comment must not leave the matcher
    that follows it read as part of the comment."""
    now = time.time()
    source = PrometheusSource(prom_env.url)
    for value in ('x"}) or vector(1) or absent(y{a="', 'a"b'):
        query = substitute(ISSUE_QUERY.replace("\n", line_end), {"handler": value})
        got = source.fetch(query, Window(now - 60, now))
        assert got.error is None and got.values == [0.0], (query, got)


@pytest.mark.parametrize("value", AWKWARD)
@pytest.mark.parametrize("template", ['"$X"', "'$X'", "`$X`"], ids=["double", "single", "raw"])
def test_awkward_values_reach_the_parser_unchanged(prom_env: PromEnv, template: str, value: str) -> None:
    if template == "`$X`" and "`" in value:
        with pytest.raises(ValueError, match="cannot hold a backtick"):
            substitute(template, {"X": value})
        return
    assert _read_back(prom_env, template, value) == value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(alphabet=st.characters(exclude_categories=("Cs",)), min_size=1, max_size=40),
       quote=st.sampled_from(['"', "'"]))
def test_random_text_reaches_the_parser_unchanged(prom_env: PromEnv, value: str, quote: str) -> None:
    assert _read_back(prom_env, f"{quote}$X{quote}", value) == value


@pytest.mark.parametrize(("template", "value", "reason"), [
    ("# about $X\nup", "a\nor vector(1)", "would end the comment"),
    ("m{a=`$X`}", "a`b", "cannot hold a backtick"),
    ("rate(m[$X])", "5m]) or vector(1", "only letters, digits"),
    ('m{a="$X"}', "\ud800", "lone surrogate"),
    ('m{a="$X}', "v", "never closed"),
    ("m{a='x}\n or m{b='$X'}", "v", "breaks its line"),
    ("m{a=`$X}", "v", "never closed"),
])
def test_unclear_or_unsafe_placements_are_refused(template: str, value: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        substitute(template, {"X": value})


@pytest.mark.parametrize(("template", "value", "expected"), [
    ("# it's $X\nm{a=\"$X\"}", 'q"', '# it\'s q"\nm{a="q\\""}'),        # an apostrophe in a comment opens nothing
    ('m{a="\\$X"}', "v", 'm{a="\\$X"}'),                                # an escaped $ is no placeholder
    ("m{a='it''s'} # $X", "note", "m{a='it''s'} # note"),
    ("m{a=\"#$X\"}", "v", 'm{a="#v"}'),                                 # a # inside a string comments nothing
    ("`a\nb` + m{x='$X'}", "v", "`a\nb` + m{x='v'}"),                   # raw strings may span lines
    ("# it's\rm{a=\"$X\"}", 'q"', "# it's\rm{a=\"q\\\"\"}"),              # a carriage return ends a comment too
])
def test_contexts_are_those_of_prometheus_lexer(template: str, value: str, expected: str) -> None:
    assert substitute(template, {"X": value}) == expected
