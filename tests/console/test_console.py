"""The web console in a real headless Chromium: what it shows equals what the gRPC API answers."""

from __future__ import annotations

import csv
import json
import pathlib
from typing import Any

import pytest

from dolphin import errors
from dolphin.client import Client
from dolphin.demo import HOSTILE_DIMENSION, HOSTILE_VALUES
from tests.conftest import RunningServer
from tests.console.conftest import TOKENS, Console

pytestmark = pytest.mark.e2e


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_live_count_equals_grpc(console: Console, grpc_client: Client) -> None:
    console.open()
    for expression in ["gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis AND NOT vip=true",
                       "interest=tennis", 'city="杭州" OR city="Xi\'an"', "NOT ALL"]:
        console.type_expression(expression)
        assert console.shown_count() == grpc_client.count(expression), expression
        assert _number(console.page.inner_text("#count")) == grpc_client.count(expression)
    assert console.page.is_hidden("#expr-error")


@pytest.mark.parametrize("expression", [
    "gender=F AND (vip=true",
    'city="😀" AND (interest=tennis OR',  # a character beyond the BMP before the error: positions count code points
    "gender=F\n  AND interest=tennis\n  AND vip=",  # the error on the third line
    "gender=F AND AND vip=true",
])
def test_syntax_error_is_underlined_where_the_server_says(console: Console, grpc_client: Client,
                                                          expression: str) -> None:
    console.open()
    console.page.fill("#expr", expression)
    shown = console.shown_error()
    with pytest.raises(errors.QuerySyntaxError) as raised:
        grpc_client.count(expression)
    assert shown == str(raised.value)
    line, column = map(int, raised.value.details()["position"].split(":"))
    lines = expression.split("\n")
    expected_offset = sum(len(x) + 1 for x in lines[:line - 1]) + len(lines[line - 1][:column - 1])
    before = console.page.evaluate("() => document.getElementById('expr-mark').previousSibling?.textContent ?? ''")
    assert before == expression[:expected_offset]  # the mark sits exactly at the server's position
    assert console.page.get_attribute("#expr-error", "data-error-class") == "QuerySyntaxError"
    assert console.page.inner_text("#count") == "–"


def test_unknown_dimension_offers_the_suggestion(console: Console, grpc_client: Client) -> None:
    console.open()
    console.type_expression("gender=F AND citty=Hangzhou")
    console.shown_error()
    assert console.page.inner_text("#expr-mark") == "citty"
    assert 'did you mean "city"?' in console.page.inner_text("#expr-error-text")
    console.page.click("#expr-fix")
    assert console.page.input_value("#expr") == "gender=F AND city=Hangzhou"
    assert console.shown_count() == grpc_client.count("gender=F AND city=Hangzhou")


def test_completion_of_dimensions_and_values(console: Console, grpc_client: Client) -> None:
    console.open()
    console.page.click("#expr")
    console.page.keyboard.type("age")
    console.page.wait_for_selector("#suggest:not([hidden]) li:has-text('age_band')", timeout=5_000)
    assert console.page.locator("#suggest li span:first-child").all_inner_texts() == ["age_band"]
    console.page.keyboard.press("Enter")
    console.page.wait_for_selector("#suggest:not([hidden]) li:has-text('25-34')", timeout=5_000)
    age = next(grpc_client.list_dimensions(dimension="age_band", max_values=200))
    shown = console.page.locator("#suggest li span:first-child").all_inner_texts()
    assert shown == [v.value for v in age.values]  # largest first, as ListDimensions gives them
    console.page.keyboard.type("25")
    console.page.wait_for_function("() => document.querySelectorAll('#suggest li').length === 1")
    console.page.keyboard.press("Enter")
    assert console.page.input_value("#expr") == "age_band=25-34"
    assert console.shown_count() == grpc_client.count("age_band=25-34")
    console.page.keyboard.type(" AND city=杭")  # a value that must be completed from Chinese text
    console.page.wait_for_function("() => [...document.querySelectorAll('#suggest li')].length === 1 && "
                                   "document.querySelector('#suggest li').textContent.startsWith('杭州')")
    console.page.keyboard.press("Enter")
    assert console.page.input_value("#expr") == "age_band=25-34 AND city=杭州"
    assert console.shown_count() == grpc_client.count("age_band=25-34 AND city=杭州")


def test_profile_shows_the_grpc_profile(console: Console, grpc_client: Client) -> None:
    console.open()
    console.type_expression("interest=tennis")
    console.shown_count()
    console.page.select_option("#profile-dims", ["gender", "city", "age_band"])
    console.page.fill("#profile-topk", "6")
    console.page.click("#profile-run")
    truth = grpc_client.profile("interest=tennis", dimensions=["gender", "city", "age_band"], top_k=6)
    by_name = {d.dimension: d for d in truth.dimensions}
    for i in range(3):
        rows = console.table(f"#profile-out-table-{i}")
        dimension = by_name.pop(console.page.get_attribute(f"#profile-out-table-{i}", "data-dimension") or "")
        expected = sorted(dimension.values, key=lambda v: -v.tgi)  # the console sorts by TGI
        assert [r[0] for r in rows] == [v.value for v in expected]
        assert [_number(r[1]) for r in rows] == [v.count for v in expected]
        assert [float(x) for x in console.raw(f"#profile-out-table-{i}", 4)] == pytest.approx(
            [v.tgi for v in expected])
        assert [r[3] for r in rows] == [f"{100 * v.population_share:.1f}%" for v in expected]
    assert by_name == {}
    gender = next(d for d in truth.dimensions if d.dimension == "gender")
    tennis_women = next(v for v in gender.values if v.value == "F")
    assert tennis_women.tgi > 120  # the demo's planted correlation shows


def test_overlap_heatmap_numbers(console: Console, grpc_client: Client) -> None:
    expressions = ["gender=F", "interest=tennis", "vip=true"]
    console.open()
    console.tab("overlap")
    for i, expression in enumerate(expressions):
        console.page.fill(f"#overlap-expr-{i}", expression)
    console.page.click("#overlap-run")
    rows = console.table("#overlap-table")
    truth = grpc_client.overlap(expressions)
    sizes = list(truth.counts)
    assert [_number(r[2]) for r in console.table("#overlap-sizes")] == sizes
    assert [_number(r[1]) for r in rows] == [p.count for p in truth.intersections]
    jaccards = [p.count / (sizes[p.first] + sizes[p.second] - p.count) for p in truth.intersections]
    assert [float(x) for x in console.raw("#overlap-table", 2)] == pytest.approx(jaccards)
    assert console.page.locator("#overlap-chart canvas").count() >= 1  # drawn by ECharts


def test_funnel_lift_and_trend(console: Console, grpc_client: Client) -> None:
    console.open()
    console.tab("adeffect")
    campaigns = {c.name: c for c in grpc_client.list_campaigns()}
    longest = max(len(c.events) for c in campaigns.values())
    assert len(campaigns[console.page.input_value("#campaign")].events) == longest  # it opens on the longest funnel
    console.page.select_option("#campaign", "spring_tennis")
    assert console.page.input_value("#stages") == "impression, click, conversion"
    days = sorted(d for e in campaigns["spring_tennis"].events for d in (e.first_day, e.last_day))
    assert (console.page.input_value("#date-from"), console.page.input_value("#date-to")) == (days[0], days[-1])
    console.page.fill("#ad-audience", "gender=F")
    console.page.select_option("#breakdown", "vip")
    console.page.click("#funnel-run")
    funnel = grpc_client.funnel("spring_tennis", ["impression", "click", "conversion"], days[0], days[-1],
                                audience_expression="gender=F", breakdown_dimension="vip", top_k=10)
    rows = console.table("#funnel-table")
    assert [(r[0], _number(r[1])) for r in rows] == [(s.event, s.count) for s in funnel.stages]
    assert [r[3] for r in rows] == [f"{100 * s.rate_from_first:.1f}%" for s in funnel.stages]
    segments = console.table("#breakdown-table")
    assert [[r[0], *map(_number, r[1:4])] for r in segments] == [[s.value, *s.counts] for s in funnel.segments]

    console.page.select_option("#lift-exposure", "impression")
    console.page.select_option("#lift-outcome", "conversion")
    console.page.click("#lift-run")
    lift = grpc_client.lift("spring_tennis", "impression", "conversion", days[0], days[-1],
                            audience_expression="gender=F")
    groups = console.table("#lift-groups")
    assert [_number(r[1]) for r in groups] == [lift.exposed, lift.unexposed]
    low, high = map(float, console.raw("#lift-table", 1)[0].split(","))
    assert (low, high) == pytest.approx((lift.absolute_lift_ci_low, lift.absolute_lift_ci_high))
    assert low > 0  # exposure lifts conversion in the demo

    console.page.click("#trend-run")
    trend = grpc_client.trend(["impression", "click", "conversion"], days[0], days[-1], campaign="spring_tennis",
                              audience_expression="gender=F")
    table = console.table("#trend-table")
    assert [r[0] for r in table] == list(trend.series[0].days)
    for j, series in enumerate(trend.series, start=1):
        assert [_number(r[j]) for r in table] == list(series.counts)


def test_saved_audiences_save_use_and_delete(console: Console, grpc_client: Client) -> None:
    console.open()
    console.type_expression('gender=F AND "<i>note</i>"=plain')
    count = console.shown_count()
    console.page.fill("#save-name", "console_saved")
    console.page.click("#save-btn")
    console.page.wait_for_selector("#export-status:has-text('console_saved')")
    assert grpc_client.get_audience("console_saved").count == count
    console.page.wait_for_selector("#saved-table button[data-use=console_saved]", state="attached")
    console.tab("saved")
    rows = {r[0]: r for r in console.table("#saved-table")}
    assert rows["console_saved"][1] == 'gender=F AND "<i>note</i>"=plain' and _number(rows["console_saved"][2]) == count
    console.page.click("button[data-use=console_saved]")
    assert console.page.input_value("#expr") == "@console_saved"
    assert console.shown_count() == count
    console.tab("saved")
    console.page.click("button[data-delete=console_saved]")
    console.page.wait_for_function("() => !document.querySelector('button[data-delete=console_saved]')")
    with pytest.raises(errors.AudienceNotFoundError):
        grpc_client.get_audience("console_saved")


def test_lookalike_size_save_and_profile(console: Console, grpc_client: Client) -> None:
    console.open()
    console.tab("lookalike")
    console.page.fill("#ll-seed", "vip=true AND interest=travel")
    console.page.fill("#ll-candidates", "NOT vip=true")
    console.page.fill("#ll-k", "300")
    console.page.click("#ll-run")
    row = console.table("#ll-table")[0]
    truth = grpc_client.lookalike("vip=true AND interest=travel", candidate_expression="NOT vip=true", k=300)
    assert [_number(x) for x in row[:4]] == [len(truth.users), truth.seed_count, truth.seed_with_vectors,
                                             truth.candidates_count]
    assert [r[0] for r in console.table("#ll-users")] == [u.user_id for u in truth.users[:20]]
    console.page.fill("#ll-name", "console_grown")
    console.page.click("#ll-save")
    console.table("#ll-profile-table-0")
    assert grpc_client.get_audience("console_grown").count == 300
    assert grpc_client.count("@console_grown AND vip=true") == 0  # the candidates excluded VIPs


def test_export_csv_equals_grpc_export(console: Console, grpc_client: Client, tmp_path: pathlib.Path) -> None:
    expression = "interest=tennis OR city=Shenzhen"
    console.open()
    console.type_expression(expression)
    console.shown_count()
    with console.page.expect_download() as download:
        console.page.click("#export-csv")
    path = tmp_path / "audience.csv"
    download.value.save_as(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["user_id"]
    assert sorted(r[0] for r in rows[1:]) == sorted(grpc_client.export(expression))
    assert "exported" in console.page.inner_text("#export-status")


def test_hostile_text_is_shown_never_run(console: Console, grpc_client: Client) -> None:
    console.open()
    quoted = '"' + HOSTILE_DIMENSION + '"'
    console.page.select_option("#profile-dims", [HOSTILE_DIMENSION])
    console.page.click("#profile-run")
    rows = console.table("#profile-out-table-0")
    assert sorted(r[0] for r in rows) == sorted(HOSTILE_VALUES)  # exactly the text, quotes and brackets included
    assert console.page.inner_text("#profile-out h3").startswith(HOSTILE_DIMENSION)
    console.page.click("#expr")
    console.page.keyboard.type(quoted + "=")
    console.page.wait_for_selector("#suggest:not([hidden]) li:has-text('plain')", timeout=5_000)
    assert sorted(console.page.locator("#suggest li span:first-child").all_inner_texts()) == sorted(HOSTILE_VALUES)
    console.page.keyboard.press("Enter")  # the largest value, quoted as the language wants
    assert console.shown_count() == grpc_client.count(console.page.input_value("#expr"))
    # nothing of it ran or became markup
    assert console.page.evaluate("() => window.__dolphinXss") is None
    assert console.page.locator("main img, main script, main i").count() == 0


def test_csp_forbids_inline_script(console: Console, console_server: RunningServer) -> None:
    response = console.page.goto(console_server.http_url + "/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    console.page.wait_for_selector("body[data-ready=true]")
    # a script element added to the page (what an HTML-injection bug would do) is refused by the browser
    console.page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.__dolphinXss = 4'; document.body.append(s); }""")
    console.page.wait_for_timeout(100)
    assert console.page.evaluate("() => window.__dolphinXss") is None
    refused = [m for m in console.messages if "Content Security Policy" in m]
    assert refused, console.messages
    console.messages.clear()  # the refusal was the point; the fixture checks nothing else went wrong


def test_a_token_pasted_into_the_console(token_console: Console) -> None:
    token_console.page.goto(token_console.url + "/")
    token_console.page.wait_for_selector("#banner:not([hidden])", timeout=10_000)
    assert "UNAUTHENTICATED" in token_console.page.inner_text("#banner")
    token_console.page.fill("#token", TOKENS["reader"])
    token_console.page.click("#token-form button")
    token_console.page.wait_for_selector("body[data-ready=true]", timeout=10_000)
    token_console.type_expression("gender=F")
    assert token_console.shown_count() > 0
    assert token_console.page.evaluate("() => sessionStorage.getItem('dolphin.token')") == TOKENS["reader"]
    kept = token_console.page.evaluate("() => Object.values(localStorage).join(' ') + document.cookie")
    assert TOKENS["reader"] not in kept  # only the tab's session keeps it
    token_console.page.fill("#save-name", "not_allowed")
    token_console.page.click("#save-btn")
    token_console.page.wait_for_selector("#banner:not([hidden])")
    assert "PERMISSION_DENIED" in token_console.page.inner_text("#banner")
    token_console.page.reload()  # a new page load in the same tab keeps the session's token
    token_console.page.wait_for_selector("body[data-ready=true]", timeout=10_000)


def test_chinese(console: Console, grpc_client: Client) -> None:
    console.open()
    console.page.click("#lang")
    assert console.page.inner_text("button[data-tab=audience]") == "人群圈选"
    assert console.page.evaluate("() => document.documentElement.lang") == "zh-CN"
    console.type_expression("city=杭州 AND gender=F")
    assert console.shown_count() == grpc_client.count("city=杭州 AND gender=F")
    console.page.reload()
    console.page.wait_for_selector("body[data-ready=true]")
    assert console.page.inner_text("button[data-tab=adeffect]") == "广告效果"  # the choice is remembered
    console.page.click("#lang")
    assert console.page.inner_text("button[data-tab=adeffect]") == "Ad effect"


SHOTS = [
    ("audience", "interest=tennis AND gender=F", "en"),
    ("adeffect", "", "en"),
    ("overlap", "", "en"),
    ("lookalike", "", "zh"),
]


def _staged(console: Console, tab: str, expression: str) -> None:
    if tab == "audience":
        console.type_expression(expression)
        console.shown_count()
        console.page.select_option("#profile-dims", ["gender", "city", "interest"])
        console.page.fill("#profile-topk", "6")
        console.page.click("#profile-run")
        console.table("#profile-out-table-0")
    elif tab == "adeffect":
        console.tab("adeffect")
        console.page.select_option("#breakdown", "vip")
        console.page.click("#funnel-run")
        console.table("#funnel-table")
        console.page.select_option("#lift-outcome", "conversion")
        console.page.click("#lift-run")
        console.table("#lift-table")
    elif tab == "overlap":
        console.tab("overlap")
        for i, e in enumerate(["gender=F", "interest=tennis", "vip=true", "city=Hangzhou", "interest=tech"]):
            console.page.fill(f"#overlap-expr-{i}", e)
        console.page.click("#overlap-run")
        console.table("#overlap-table")
    else:
        console.tab("lookalike")
        console.page.fill("#ll-seed", "vip=true AND interest=travel")
        console.page.fill("#ll-k", "500")
        console.page.click("#ll-run")
        console.table("#ll-table")
        console.page.fill("#ll-name", "shot_grown")
        console.page.click("#ll-save")
        console.table("#ll-profile-table-0")


@pytest.mark.parametrize(("tab", "expression", "language"), SHOTS, ids=[s[0] for s in SHOTS])
def test_screenshots(console: Console, artifacts: pathlib.Path, tab: str, expression: str, language: str) -> None:
    """Screenshots of each view (README shows them), taken with real data."""
    console.open()
    if language == "zh":
        console.page.click("#lang")
    _staged(console, tab, expression)
    console.page.set_viewport_size({"width": 1360, "height": 1300})
    console.page.evaluate("() => window.scrollTo(0, 0)")
    console.page.wait_for_timeout(300)  # charts resize and draw on the next frames
    console.page.screenshot(path=str(artifacts / f"console-{tab}.png"))
    assert (artifacts / f"console-{tab}.png").stat().st_size > 10_000


def test_first_paint(console: Console, artifacts: pathlib.Path) -> None:
    """First contentful paint and time to a ready console, reported for bench/README.md (not asserted)."""
    console.open()
    timings: dict[str, Any] = console.page.evaluate("""() => {
        const paint = performance.getEntriesByName('first-contentful-paint')[0];
        const nav = performance.getEntriesByType('navigation')[0];
        return {first_contentful_paint_ms: paint ? paint.startTime : null,
                dom_content_loaded_ms: nav.domContentLoadedEventEnd, load_ms: nav.loadEventEnd};
    }""")
    (artifacts / "first_paint.json").write_text(json.dumps(timings, indent=2) + "\n")
    assert timings["first_contentful_paint_ms"] is not None and timings["first_contentful_paint_ms"] > 0


def test_numeric_fields_in_the_console(console: Console, grpc_client: Client) -> None:
    console.open()
    console.page.click("#expr")
    console.page.keyboard.type("spend")
    console.page.wait_for_selector("#suggest:not([hidden]) li:has-text('spend_30d')", timeout=5_000)
    assert "decimal(2)" in console.page.inner_text("#suggest")
    console.page.keyboard.press("Enter")
    console.page.keyboard.type(">= 120.5 AND gender=F")
    expression = console.page.input_value("#expr")
    assert expression == "spend_30d >= 120.5 AND gender=F"
    assert console.shown_count() == grpc_client.count(expression)
    console.page.select_option("#profile-dims", ["spend_30d"])
    console.page.click("#profile-run")
    rows = console.table("#profile-out-table-0")
    truth = grpc_client.profile(expression, dimensions=["spend_30d"]).dimensions[0].values
    assert sorted((r[0], int(r[1].replace(",", ""))) for r in rows) == sorted((v.value, v.count) for v in truth)
    console.type_expression("spend_30d < abc")
    assert '"abc" is not a number' in console.shown_error()
