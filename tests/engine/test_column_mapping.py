"""Columns the user chooses (issue 16 §3): ``ReadOptions.columns`` maps a standard input
to the file's header(s), several count headers add up, the dimension can be any column,
and a file that lacks an input says which of its columns look like it and the exact
mapping to use, in the setup platform's own headers."""

from __future__ import annotations

import pytest

from caliber.engine.candidates import column_argument, matches, suggest
from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.errors import InvalidParameterError, MissingColumnError, MissingMetricError
from caliber.engine.headers import map_headers
from caliber.engine.inspect import inspect_columns
from caliber.engine.options import ReadOptions
from caliber.engine.pipeline import ScoringResult, score
from tests.engine.column_exports import (
    PLAIN_CONVERSIONS,
    click,
    cpa,
    per_tag_twins,
    publisher_twins,
    total,
    view,
)

TD_ACTION = Setup.create("trade_desk", "action", "display")
TD_CTV = Setup.create("trade_desk", "awareness", "ctv")
PP_ACTION = Setup.create("pulsepoint", "action", "display")


def _columns(**columns: tuple[str, ...]) -> ReadOptions:
    return ReadOptions(columns=columns)


def assert_same_scoring(plain: ScoringResult, odd: ScoringResult) -> None:
    """Identical results, lists and campaign figures."""
    assert plain.dimension == odd.dimension
    assert plain.results.equals(odd.results)
    assert plain.lists.whitelist.equals(odd.lists.whitelist)
    assert plain.lists.blacklist.equals(odd.lists.blacklist)
    assert plain.campaign == odd.campaign
    assert plain.report.rows_scored == odd.report.rows_scored


# --------------------------------------------------------------------------- per-tag conversions


def test_per_tag_conversions_name_their_candidates_grouped_by_tag() -> None:
    _, tagged = per_tag_twins(seed=1)
    with pytest.raises(MissingMetricError) as caught:
        score(tagged, TD_ACTION)
    error = caught.value
    message = error.message
    assert "conversion_rate needs 'All Last Click + View Conversions'" in message
    assert f"tag '01': '{click('01')}', '{view('01')}', '{total('01')}'" in message
    assert f"tag '03': '{click('03')}'" in message
    want = [f'--column conversions="{total(t)}"' for t in ("01", "02", "03")]
    assert " ".join(want) in message
    assert "its click and view parts are left out" in message
    assert error.details["suggested_arguments"] == want
    assert error.details["suggested_columns"] == {
        "conversions": [total(t) for t in ("01", "02", "03")]
    }
    candidates = error.details["candidates"]["conversions"]
    assert [c["header"] for c in candidates] == [
        h for t in ("01", "02", "03") for h in (click(t), view(t), total(t))
    ]
    assert {c["tag"] for c in candidates} == {"01", "02", "03"}
    assert [c["part"] for c in candidates[:3]] == ["click", "view", "total"]
    # a tag's CPA is a price, never a candidate
    assert cpa("01") not in {c["header"] for c in candidates}


@pytest.mark.parametrize("seed", [1, 2])
def test_per_tag_totals_added_up_score_as_the_plain_twin(seed: int) -> None:
    plain, tagged = per_tag_twins(seed=seed)
    options = _columns(conversions=(total("01"), total("02")))
    odd = score(tagged, TD_ACTION, options=options)
    assert_same_scoring(score(plain, TD_ACTION), odd)
    report = odd.report
    assert report.input_columns["conversions"] == {
        "headers": [total("01"), total("02")],
        "summed": True,
        "source": "given",
    }
    assert report.input_columns["impressions"]["source"] == "matched"
    assert report.column_mapping[total("01")] == "conversions"
    assert report.column_mapping[total("02")] == "conversions"
    assert total("01") not in report.unmapped_columns
    assert total("03") in report.unmapped_columns
    assert report.to_dict()["input_columns"]["conversions"]["summed"] is True
    assert report.metric_sources["conversion_rate"].startswith(
        f"sum({total('01')}, {total('02')}) / Impressions"
    )


def test_click_and_view_parts_added_up_score_as_the_plain_twin() -> None:
    plain, tagged = per_tag_twins(seed=4)
    parts = (click("01"), view("01"), click("02"), view("02"))
    assert_same_scoring(
        score(plain, TD_ACTION), score(tagged, TD_ACTION, options=_columns(conversions=parts))
    )


def test_a_user_mapping_wins_over_the_alias_match() -> None:
    plain, tagged = per_tag_twins(seed=5, tags=("01", "02"), counted=("01", "02"))
    # the same tagged file, with an All Last Click + View column that must not be read
    lines = tagged.decode().splitlines()
    decoy = [lines[0] + f",{PLAIN_CONVERSIONS}", *(line + ",999" for line in lines[1:])]
    with_decoy = ("\n".join(decoy) + "\n").encode()
    odd = score(with_decoy, TD_ACTION, options=_columns(conversions=(total("01"), total("02"))))
    assert_same_scoring(score(plain, TD_ACTION), odd)
    assert odd.report.ignored_duplicate_columns == {"conversions": [PLAIN_CONVERSIONS]}
    assert PLAIN_CONVERSIONS not in odd.report.column_mapping


def test_a_summed_row_counts_the_tags_that_have_a_value() -> None:
    head = "Site,Impressions,Clicks,Advertiser Cost,CPM,{}\n"
    rows = "a.com,1000,10,5,5,{}\nb.com,1000,10,5,5,{}\nc.com,1000,20,5,5,{}\n"
    plain = (head.format("Conversions") + rows.format("5", "", "3")).encode()
    tagged = (
        head.format("01 - Click Conversion,02 - Click Conversion") + rows.format("5,", ",", "1,2")
    ).encode()
    setup = Setup.create("pulsepoint", "action", "display", min_impressions=0)
    options = _columns(conversions=("01 - Click Conversion", "02 - Click Conversion"))
    odd = score(tagged, setup, options=options)
    assert_same_scoring(score(plain, setup), odd)
    by_name = {r["domain"]: r["conversions"] for r in odd.results.to_dicts()}
    assert by_name == {"a.com": 5, "b.com": None, "c.com": 3}


def test_spend_is_summable() -> None:
    plain = b"Domain,Impressions,Clicks,Conversions,Total Spend\na.com,1000,10,1,$7.50\n"
    split = (
        b"Domain,Impressions,Clicks,Conversions,Media Cost (USD),Data Cost\n"
        b"a.com,1000,10,1,$5,2.5\n"
    )
    setup = Setup.create("pulsepoint", "action", "display", min_impressions=0)
    odd = score(split, setup, options=_columns(spend=("Media Cost (USD)", "Data Cost")))
    assert_same_scoring(score(plain, setup), odd)
    assert odd.results["cpm"].to_list() == [7.5]


# --------------------------------------------------------------------------- the dimension


def test_a_ctv_report_by_publisher_name_says_how_to_score_it() -> None:
    _, by_publisher = publisher_twins(seed=2)
    with pytest.raises(MissingColumnError) as caught:
        score(by_publisher, TD_CTV)
    error = caught.value
    assert "add one of these headers: 'Supply Vendor'" in error.message
    assert "'Publisher Name'" in error.message
    assert '--column supply_vendor="Publisher Name"' in error.message
    assert error.details["suggested_arguments"] == ['--column supply_vendor="Publisher Name"']
    assert error.details["suggested_columns"] == {"supply_vendor": ["Publisher Name"]}


@pytest.mark.parametrize("seed", [2, 3])
def test_a_ctv_report_by_publisher_name_scores_as_its_supply_vendor_twin(seed: int) -> None:
    plain, by_publisher = publisher_twins(seed=seed)
    odd = score(by_publisher, TD_CTV, options=_columns(supply_vendor=("Publisher Name",)))
    assert_same_scoring(score(plain, TD_CTV), odd)
    assert odd.dimension == "supply_vendor"
    assert odd.report.input_columns["supply_vendor"] == {
        "headers": ["Publisher Name"],
        "summed": False,
        "source": "given",
    }


# --------------------------------------------------------------------------- mapping errors

_HEADERS = ["Date", "Site", "Impressions", "CPM", "cpm", "01 - Click Conversion", "Clicks"]


@pytest.mark.parametrize(
    ("columns", "problem", "words"),
    [
        ({"nosuch": ("Site",)}, "unknown_input", "the inputs are: domain, supply_vendor"),
        (
            {"conversions": ("02 - Click Conversion",)},
            "header_not_found",
            "'01 - Click Conversion'",
        ),
        ({"clicks": ("Clicks",), "conversions": ("Clicks",)}, "header_mapped_twice", "clicks"),
        ({"conversions": ("Clicks", "clicks")}, "header_mapped_twice", "twice"),
        ({"domain": ("Site", "Date")}, "several_headers", "dimension"),
        ({"cpm": ("CPM", "cpm")}, "several_headers", "not a sum"),
        ({"ctr": ("Clicks", "Impressions")}, "several_headers", "rate"),
        ({"cpm": ("Cpm",)}, "ambiguous_header", "'CPM', 'cpm'"),
        ({"domain": ("",)}, "empty_header", "no header"),
    ],
)
def test_a_mapping_that_does_not_fit_is_a_clear_error(
    columns: dict[str, tuple[str, ...]], problem: str, words: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        map_headers(_HEADERS, ReadOptions.from_dict({"columns": columns}).columns)
    assert caught.value.details["problem"] == problem
    assert caught.value.details["field"] == "columns"
    assert words in caught.value.message


def test_a_header_not_in_the_file_lists_the_files_headers() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        map_headers(_HEADERS, {"conversions": ("Conversions",)})
    assert "its headers are: 'Date', 'Site', 'Impressions'" in caught.value.message
    assert caught.value.details["headers"] == _HEADERS


def test_two_spellings_of_one_file_header_are_one_column_given_twice() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        map_headers(_HEADERS, {"conversions": ("01 - Click Conversion", "01 - CLICK conversion")})
    assert caught.value.details["problem"] == "header_mapped_twice"
    assert "reads conversions twice from the file's column '01 - Click Conversion'" in (
        caught.value.message
    )
    assert caught.value.details["headers"] == _HEADERS


def test_a_user_header_matches_exactly_first_then_after_folding_never_fuzzily() -> None:
    assert map_headers(_HEADERS, {"cpm": ("cpm",)}).columns["cpm"] == (4,)
    assert map_headers(_HEADERS, {"cpm": ("CPM",)}).columns["cpm"] == (3,)
    folded = map_headers(_HEADERS, {"conversions": ("TTD_01 click conversion",)})
    assert folded.columns["conversions"] == (5,)
    with pytest.raises(InvalidParameterError, match="no such column"):
        map_headers(_HEADERS, {"conversions": ("01 - Click",)})


def test_a_mapped_header_is_no_longer_unmapped_and_its_alias_owner_loses_it() -> None:
    mapping = map_headers(_HEADERS, {"conversions": ("Clicks",)})
    assert mapping.mapped["Clicks"] == "conversions"
    assert "clicks" not in mapping.columns
    assert "Clicks" not in mapping.unmapped
    assert mapping.given == frozenset({"conversions"})


def test_options_normalize_names_and_refuse_unknown_ones_early() -> None:
    options = ReadOptions(columns={"Supply Vendor": ("Publisher Name ",)})
    assert options.columns == {"supply_vendor": ("Publisher Name",)}
    with pytest.raises(InvalidParameterError, match="no input"):
        ReadOptions(columns={"conversion": ("x",)})


# --------------------------------------------------------------------------- platform-aware errors


def test_pulsepoint_errors_name_pulsepoint_headers() -> None:
    data = b"Domain,Impressions,Total Spend,Clicks\na.com,1000,$1,3\n"
    with pytest.raises(MissingMetricError) as caught:
        score(data, PP_ACTION)
    message = caught.value.message
    assert "conversion_rate needs 'Conversions' and 'Impressions'" in message
    assert "All Last Click" not in message
    video = Setup.create("pulsepoint", "awareness", "video")
    with pytest.raises(MissingMetricError) as caught:
        score(b"Domain,Impressions,Total Spend,Clicks,Conversions\na.com,1000,$1,3,1\n", video)
    assert "completion_rate needs 'Completion Rate'" in caught.value.message
    assert "'Player Completed Views'" not in caught.value.message  # the Trade Desk's
    assert "'Player Starts'" not in caught.value.message
    with pytest.raises(MissingColumnError) as missing:
        score(b"Impressions,Total Spend\n1000,$1\n", PP_ACTION)
    assert "add one of these headers: 'Domain'" in missing.value.message
    assert "'Site'" not in missing.value.message


def test_trade_desk_errors_name_trade_desk_headers() -> None:
    video = Setup.create("trade_desk", "awareness", "video")
    with pytest.raises(MissingMetricError) as caught:
        score(b"Site,Impressions,Advertiser Cost\na.com,1000,1\n", video)
    message = caught.value.message
    assert "player_completion_rate needs 'Player Completed Views' and 'Player Starts'" in message
    assert "'Completion Rate'" not in message
    assert "'eCPM'" not in message


def test_an_input_without_keyword_rules_lists_the_unmapped_columns() -> None:
    video = Setup.create("trade_desk", "awareness", "video")
    data = b"Site,Impressions,Advertiser Cost,Starts of Player,Done\na.com,1000,1,900,800\n"
    with pytest.raises(MissingMetricError) as caught:
        score(data, video)
    message = caught.value.message
    assert "No column looks like" in message
    assert "'Starts of Player', 'Done'" in message


# --------------------------------------------------------------------------- keyword rules


@pytest.mark.parametrize(
    ("name", "header", "expected"),
    [
        ("conversions", "01 - Click Conversion", True),
        ("conversions", "Pixel A - Total Click + View Conversions", True),
        ("conversions", "Total Custom CPA Conversions", True),
        ("conversions", "Conversion Rate", False),
        ("conversions", "Cost Per Conversion", False),
        ("conversions", "01 - Total Click + View Conversions CPA (Adv Currency)", False),
        ("conversions", "Conversion Revenue", False),
        ("conversions", "Conversation Starts", False),  # never fuzzy
        ("impressions", "Impressions Won", True),
        ("impressions", "Viewable Impression Rate", False),
        ("spend", "Media Cost (USD)", True),
        ("spend", "Cost Per Click", False),
        ("clicks", "Clicks (All)", True),
        ("clicks", "Click Through Rate", False),
        ("clicks", "01 - Click Conversion", False),
        ("domain", "App Name", True),
        ("domain", "Site Category", False),
        ("supply_vendor", "Publisher Name", True),
        ("supply_vendor", "Exchange Fee", False),
        ("player_starts", "Player Starts Total", False),  # no rule: the user chooses
    ],
)
def test_keyword_rules(name: str, header: str, expected: bool) -> None:
    assert matches(name, header) is expected


def test_a_tag_without_a_total_adds_its_click_and_view_parts() -> None:
    suggestion = suggest("conversions", ["Click Conversions", "View Through Conversions"])
    assert suggestion.chosen == ("Click Conversions", "View Through Conversions")
    assert "added up" in suggestion.note


def test_an_untagged_total_beside_tags_is_left_out() -> None:
    headers = [total("01"), total("02"), "Total Custom CPA Conversions"]
    suggestion = suggest("conversions", headers)
    assert suggestion.chosen == (total("01"), total("02"))
    assert "'Total Custom CPA Conversions' left out" in suggestion.note


def test_arguments_are_quoted_for_a_shell() -> None:
    assert column_argument("domain", "Site") == '--column domain="Site"'
    assert column_argument("domain", 'The "Site"') == "--column 'domain=The \"Site\"'"


# --------------------------------------------------------------------------- inspection


def test_inspection_answers_from_the_headers_alone() -> None:
    _, tagged = per_tag_twins(seed=1)
    headers = tagged.decode().splitlines()[0].split(",")
    before = inspect_columns(headers, TD_ACTION)
    assert not before.ready
    assert [m.name for m in before.missing] == ["conversion_rate"]
    missing = before.to_dict()["missing"][0]
    assert missing["suggested_columns"] == {"conversions": [total(t) for t in ("01", "02", "03")]}
    assert before.problems[0]["error"] == "missing_metric"
    options = _columns(conversions=(total("01"), total("02")))
    after = inspect_columns(headers, TD_ACTION, options)
    assert after.ready
    assert after.problems == []
    assert after.inputs["conversions"] == {
        "headers": [total("01"), total("02")],
        "summed": True,
        "source": "given",
        "metrics": ["conversion_rate"],
    }
    assert after.inputs["domain"]["headers"] == ["Site"]
    assert after.metric_sources["conversion_rate"].startswith("sum(")


def test_inspection_reports_a_mapping_that_does_not_fit() -> None:
    inspection = inspect_columns(_HEADERS, TD_ACTION, _columns(conversions=("Nope",)))
    assert not inspection.ready
    assert inspection.problems[0]["details"]["problem"] == "header_not_found"
    assert inspection.inputs["domain"]["headers"] == ["Site"]


def test_inspection_without_a_setup_and_with_an_unsupported_one() -> None:
    bare = inspect_columns(["Publisher Name", "Imps"])
    assert not bare.ready
    assert bare.to_dict()["missing"][0]["suggested_columns"] == {
        "supply_vendor": ["Publisher Name"]
    }
    ready = inspect_columns(["Site", "Impressions"])
    assert ready.ready
    assert ready.analysis_level is None
    unsupported = Setup(Platform.PULSEPOINT, Goal.AWARENESS, Channel.CTV)
    refused = inspect_columns(["Site", "Impressions"], unsupported)
    assert not refused.ready
    assert refused.problems[0]["error"] == "unsupported_setup"
