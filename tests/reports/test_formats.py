"""CSV safety, CSV/JSON export rows, DSP-ready lists and file names (cells.py, csv_writer.py,
formats.py, dsp.py)."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caliber.reports.cells import FORMULA_PREFIXES, is_plain_number, json_cell, safe_cell
from caliber.reports.csv_writer import BOM, CHUNK_SIZE, csv_bytes, iter_csv, results_csv
from caliber.reports.data import (
    CampaignFacts,
    ListSnapshot,
    MetricStats,
    ReportData,
    ResultLine,
)
from caliber.reports.dsp import (
    EntrySplit,
    classify_entry,
    dv360_sites,
    is_dsp_safe,
    plain_list,
    split_entries,
    split_entries_report,
    trade_desk_bid_list,
)
from caliber.reports.formats import (
    LIST_COLUMNS,
    OPTIMIZATION_COLUMNS,
    RESULT_COLUMNS,
    STORED_RESULT_FIELDS,
    SUMMARY_COLUMNS,
    export_filename,
    iso_utc,
    list_json,
    list_rows,
    optimization_rows,
    result_row,
    summary_row,
)

WHEN = datetime(2026, 11, 27, 9, 30, 15, tzinfo=UTC)
DANGEROUS = sorted(FORMULA_PREFIXES)


def parse(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def campaign(name: str = "Spring Sale") -> CampaignFacts:
    return CampaignFacts(
        id="c-1",
        name=name,
        platform="trade_desk",
        goal="awareness",
        channel="display",
        ctr_sensitivity=False,
        analysis_level="domain",
        status="completed",
        created_at=WHEN - timedelta(days=1),
        completed_at=WHEN - timedelta(hours=1),
        source_filename="export.csv",
    )


def line(rank: int, domain: str, score: float, impressions: float = 1000.0) -> ResultLine:
    return ResultLine(
        rank=rank,
        domain=domain,
        score=score,
        quality_status="good" if score >= 70 else "poor",
        percentile_rank=100 - rank,
        impressions=impressions,
        spend=1.5,
        cpm=1.5,
        ctr=0.0012,
        conversions=None,
        conversion_rate=None,
    )


def snapshot(list_type: str, *lines: ResultLine) -> ListSnapshot:
    return ListSnapshot(
        list_type=list_type,
        entries=lines,
        criteria={"min_impressions": 250, "eligible_rows": 10, "whitelist_min_score": 71.5},
        average_score=sum(x.score for x in lines) / len(lines) if lines else None,
        total_impressions=sum(x.impressions for x in lines),
    )


WHITELIST = snapshot("whitelist", line(1, "news.example", 91.25), line(2, "例え.jp", 80.0))
BLACKLIST = snapshot("blacklist", line(9, '=HYPERLINK("http://x")', 3.5, 400.0))


def report(**summary: Any) -> ReportData:
    return ReportData(
        campaign=campaign(),
        generated_at=WHEN,
        summary=summary,
        weights={"ctr": 0.5, "cpm": 0.5},
        directions={"ctr": "higher_is_better", "cpm": "lower_is_better"},
        metric_stats=(MetricStats("Score", 50.0, 50.0, 0.0, 100.0, "points", "score"),),
        score_histogram=(1,) * 10,
        top_rows=WHITELIST.entries,
        total_rows=10,
        whitelist=WHITELIST,
        blacklist=BLACKLIST,
        data_quality={},
    )


# --------------------------------------------------------------------------- safe_cell


@pytest.mark.parametrize("prefix", DANGEROUS)
def test_each_dangerous_prefix_is_neutralised(prefix: str) -> None:
    assert safe_cell(f"{prefix}cmd|' /C calc'!A0") == f"'{prefix}cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", [" =1+1", "  @SUM(A1)", "\u00a0+1+2", " \t-x"])
def test_dangerous_char_after_leading_whitespace_is_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (12345678901234567890, "12345678901234567890"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (0.1, "0.1"),
        (1e-05, "0.00001"),
        (1e16, "10000000000000000"),
        (1e300, "1e+300"),
        (math.nan, ""),
        (math.inf, ""),
        (-math.inf, ""),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("-0.25e3", "-0.25e3"),
        (".5", ".5"),
        ("example.com", "example.com"),
        ("", ""),
        ("a=b", "a=b"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
    ],
)
def test_safe_cell_values(value: object, expected: str) -> None:
    assert safe_cell(value) == expected


@pytest.mark.parametrize("value", [1.0 / 3.0, 1e-05, 123456.789, 2.5e-7, 1e16, 5e-324])
def test_floats_round_trip(value: float) -> None:
    assert float(safe_cell(value)) == value


@pytest.mark.parametrize("text", ["- 1", "-1.5 ", " -1.5", "-inf", "-nan", "-1,5", "+1e", "-"])
def test_almost_numbers_are_neutralised(text: str) -> None:
    assert not is_plain_number(text)
    assert safe_cell(text) == "'" + text


def test_json_cells_are_compact_sorted_and_neutralised() -> None:
    assert safe_cell({"b": 1, "a": "é"}) == '{"a":"é","b":1}'
    assert safe_cell(["x", 2]) == '["x",2]'
    assert safe_cell({"a": 1}).startswith("{")


def test_hyperlink_formula_is_inert_in_csv() -> None:
    rows = parse(csv_bytes(["domain"], [['=HYPERLINK("http://x")']]))
    assert rows == [["domain"], ['\'=HYPERLINK("http://x")']]


# --------------------------------------------------------------------------- CSV


def test_csv_quoting_and_crlf_round_trip() -> None:
    cells = ['say "hi"', "a,b", "two\nlines", "cr\ronly", "-minus", "plain"]
    data = csv_bytes(["c1", "c2", "c3", "c4", "c5", "c6"], [cells])
    assert data.startswith(BOM)
    body = data[len(BOM) :]
    assert body.endswith(b"\r\n")
    assert body.split(b"\r\n")[0] == b"c1,c2,c3,c4,c5,c6"
    assert b'"say ""hi"""' in body
    parsed = parse(data)[1]
    assert [cell.removeprefix("'") for cell in parsed] == cells
    assert parsed[4] == "'-minus"


def test_bom_can_be_left_out() -> None:
    data = csv_bytes(["domain"], [["bücher.de"]], bom=False)
    assert data == "domain\r\nbücher.de\r\n".encode()


def test_header_is_neutralised_too() -> None:
    assert parse(csv_bytes(["=evil", "ok"], []))[0] == ["'=evil", "ok"]


def test_iter_csv_streams_in_chunks() -> None:
    rows = ([f"site-{i}.example", i, i / 3] for i in range(20_000))
    chunks = list(iter_csv(["domain", "n", "third"], rows))
    assert len(chunks) > 2
    assert chunks[0].startswith(BOM)
    assert not any(chunk.startswith(BOM) for chunk in chunks[1:])
    assert all(len(chunk) < CHUNK_SIZE * 2 for chunk in chunks)
    parsed = parse(b"".join(chunks))
    assert len(parsed) == 20_001
    assert parsed[-1] == ["site-19999.example", "19999", repr(19999 / 3)]


def test_empty_table_is_just_the_header() -> None:
    assert list(iter_csv(["a"], [], bom=False)) == [b"a\r\n"]


# arbitrary text, and text made mostly of the characters that matter here
cell_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from(list("=+-@\t\r\n ,\"'1.eE\u00a0a")), max_size=10),
)
entry_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(list("=+-@\t\n .:/?wcomid1'\"é例")), max_size=20),
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda width: st.tuples(
            st.lists(cell_text, min_size=width, max_size=width),
            st.lists(st.lists(cell_text, min_size=width, max_size=width), max_size=8),
        )
    )
)
def test_csv_round_trips_any_text(table: tuple[list[str], list[list[str]]]) -> None:
    header, rows = table
    parsed = parse(csv_bytes(header, rows))
    assert len(parsed) == len(rows) + 1
    for given_row, parsed_row in zip([header, *rows], parsed, strict=True):
        assert len(parsed_row) == len(given_row)
        for original, cell in zip(given_row, parsed_row, strict=True):
            risky = not is_plain_number(original) and (
                original[:1] in FORMULA_PREFIXES or original.lstrip()[:1] in FORMULA_PREFIXES
            )
            assert cell == ("'" + original if risky else original)
            if cell[:1] in FORMULA_PREFIXES:
                assert is_plain_number(cell)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.floats()), max_size=10))
def test_numbers_survive_csv(values: list[object]) -> None:
    parsed = parse(csv_bytes(["v"], [[value] for value in values]))[1:]
    for value, (cell,) in zip(values, parsed, strict=True):
        if isinstance(value, float) and math.isfinite(value):
            assert float(cell) == value
        elif isinstance(value, int) and not isinstance(value, bool):
            assert int(cell) == value
        assert not cell.startswith("'")


# --------------------------------------------------------------------------- rows / JSON


def test_list_rows() -> None:
    rows = list_rows(WHITELIST, campaign(), WHEN)
    assert len(rows) == 2
    assert all(len(row) == len(LIST_COLUMNS) for row in rows)
    first = dict(zip(LIST_COLUMNS, rows[0], strict=True))
    assert first == {
        "domain": "news.example",
        "list_type": "whitelist",
        "score": 91.25,
        "impressions": 1000.0,
        "campaign_name": "Spring Sale",
        "campaign_type": "trade_desk",
        "goal": "awareness",
        "channel": "display",
        "min_impressions": 250,
        "average_score": 85.625,
        "total_impressions": 2000.0,
        "export_date": "2026-11-27T09:30:15Z",
    }


def test_optimization_rows_label_both_lists() -> None:
    rows = optimization_rows(WHITELIST, BLACKLIST, campaign(), WHEN)
    kinds = [row[OPTIMIZATION_COLUMNS.index("list_type")] for row in rows]
    assert kinds == ["whitelist", "whitelist", "blacklist"]
    parsed = parse(csv_bytes(OPTIMIZATION_COLUMNS, rows))
    assert parsed[3][0] == '\'=HYPERLINK("http://x")'


def test_summary_row() -> None:
    data = report(
        campaign_level_score=72.4,
        total_impressions=123456,
        total_spend=99.5,
        average_cpm=0.81,
        row_count=10,
        score_distribution={"mean": 50.0, "median": 49.0, "std": 10.0, "min": 1.0, "max": 99.0},
        status_counts={"good": 3, "moderate": 4, "poor": 3},
    )
    row = dict(zip(SUMMARY_COLUMNS, summary_row(data, WHEN), strict=True))
    assert row["campaign_id"] == "c-1"
    assert row["campaign_type"] == "trade_desk"
    assert row["score_median"] == 49.0
    assert (row["good_count"], row["moderate_count"], row["poor_count"]) == (3, 4, 3)
    assert (row["whitelist_count"], row["blacklist_count"]) == (2, 1)
    assert row["completed_at"] == "2026-11-27T08:30:15Z"
    assert row["export_date"] == "2026-11-27T09:30:15Z"


def test_summary_row_tolerates_an_empty_summary() -> None:
    row = dict(zip(SUMMARY_COLUMNS, summary_row(report(), WHEN), strict=True))
    assert row["score_mean"] is None
    assert row["row_count"] == 10
    assert row["good_count"] == 0


def test_result_row_follows_the_columns() -> None:
    values = {"domain": "a.example", "score": 50.0, "raw_metrics": {"ctr": 0.1}}
    row = result_row(campaign(), values, WHEN)
    assert len(row) == len(RESULT_COLUMNS)
    named = dict(zip(RESULT_COLUMNS, row, strict=True))
    assert named["campaign_type"] == "trade_desk"
    assert named["domain"] == "a.example"
    assert named["spend"] is None
    assert parse(csv_bytes(RESULT_COLUMNS, [row]))[1][14] == '{"ctr":0.1}'


def test_list_json() -> None:
    body = list_json(WHITELIST, campaign(), WHEN)
    assert body["list_type"] == "whitelist"
    assert body["campaign"] == {
        "id": "c-1",
        "name": "Spring Sale",
        "platform": "trade_desk",
        "goal": "awareness",
        "channel": "display",
        "analysis_level": "domain",
    }
    assert body["domains"] == ["news.example", "例え.jp"]
    assert body["entries"][0] == {
        "domain": "news.example",
        "score": 91.25,
        "impressions": 1000.0,
        "percentile_rank": 99,
        "quality_status": "good",
    }
    assert body["criteria_used"]["min_impressions"] == 250
    assert (body["count"], body["average_score"], body["total_impressions"]) == (2, 85.625, 2000.0)
    assert body["generated_at"] == "2026-11-27T09:30:15Z"
    json.dumps(body, allow_nan=False)


def test_list_json_is_not_neutralised_and_has_no_nan() -> None:
    bad = snapshot("blacklist", line(1, "=cmd", math.nan))
    body = list_json(bad, campaign(), WHEN)
    assert body["domains"] == ["=cmd"]
    assert body["entries"][0]["score"] is None
    json.dumps(body, allow_nan=False)


def test_list_json_empty_list() -> None:
    body = list_json(snapshot("whitelist"), campaign(), WHEN)
    assert (body["count"], body["average_score"], body["domains"]) == (0, None, [])


def test_iso_utc_converts_and_assumes_utc() -> None:
    paris = timezone(timedelta(hours=1))
    assert iso_utc(datetime(2026, 1, 1, 12, 0, tzinfo=paris)) == "2026-01-01T11:00:00Z"
    assert iso_utc(datetime(2026, 1, 1, 12, 0, 0, 999)) == "2026-01-01T12:00:00Z"


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Spring Sale 2026", "spring-sale-2026"),
        ("../../etc/passwd", "etc-passwd"),
        ("a\"b'c;d\r\ne", "a-b-c-d-e"),
        ("Crème brûlée – été", "creme-brulee-ete"),
        ("例え", "campaign"),
        ("", "campaign"),
        ("---", "campaign"),
    ],
)
def test_export_filename_slugs(name: str, slug: str) -> None:
    assert (
        export_filename(name, "whitelist", "csv", WHEN) == f"caliber-{slug}-whitelist-20261127.csv"
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), st.text(max_size=20), st.text(max_size=8))
def test_export_filename_is_always_safe(name: str, kind: str, ext: str) -> None:
    filename = export_filename(name, kind, ext, WHEN)
    assert filename.isascii()
    assert all(char.isalnum() or char in "-." for char in filename)
    assert filename.startswith("caliber-")
    assert ".." not in filename
    assert "/" not in filename
    stem = filename.removeprefix("caliber-")
    assert len(stem) <= 60 + 1 + 40 + 1 + 8 + 1 + 10


def test_export_filename_long_name_and_timezone() -> None:
    late = datetime(2026, 11, 27, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    filename = export_filename("x" * 500, "summary", "CSV", late)
    assert filename == f"caliber-{'x' * 60}-summary-20261128.csv"


# --------------------------------------------------------------------------- split_entries


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", ("web", "example.com")),
        ("  Example.COM  ", ("web", "example.com")),
        ("www.example.com", ("web", "example.com")),
        ("https://www.Example.com/path?q=1", ("web", "example.com")),
        ("http://sub.example.co.uk:8080/", ("web", "sub.example.co.uk")),
        ("example.com.", ("web", "example.com")),
        ("example.com/section", ("web", "example.com")),
        ("//cdn.example.com/x.js", ("web", "cdn.example.com")),
        ("tv.example.com", ("web", "tv.example.com")),
        ("me.example.com", ("web", "me.example.com")),
        ("bücher.de", ("web", "bücher.de")),
        ("例え.jp", ("web", "例え.jp")),
        ("com.example.game", ("app", "com.example.game")),
        ("com.King.CandyCrush", ("app", "com.King.CandyCrush")),
        ("com.merriamwebster", ("app", "com.merriamwebster")),
        ("tv.pluto.android", ("app", "tv.pluto.android")),
        ("air.com.company.game", ("app", "air.com.company.game")),
        ("1234567890", ("app", "1234567890")),
        ("id1234567890", ("app", "1234567890")),
        ("ID422689480", ("app", "422689480")),
        ("151908", ("app", "151908")),
        ("B00KDSGIPK", ("app", "B00KDSGIPK")),
        (
            "https://play.google.com/store/apps/details?id=com.example.game",
            ("app", "com.example.game"),
        ),
        ("https://apps.apple.com/us/app/some-game/id422689480", ("app", "422689480")),
        ("", None),
        ("   ", None),
        ("Unknown", None),
        ("unknown", None),
        ("Candy Crush", None),
        ("localhost", None),
        ("0", None),
        ("id", None),
        ("1.2.3.4", None),
        ("-bad.example", None),
        ("@example.com", None),
        ("user@example.com", None),
        ("+example.com", None),
        ('=HYPERLINK("http://x")', None),
        ("=1+1", None),
        ("\texample.com\t", ("web", "example.com")),
        ("exa mple.com", None),
        ("*.example.com", None),
        ("example..com", None),
        ("<b>bold</b>", None),
        ("a" * 64 + ".com", None),
    ],
)
def test_classify_entry(raw: str, expected: tuple[str, str] | None) -> None:
    assert classify_entry(raw) == expected


def test_split_entries_dedupes_in_first_seen_order() -> None:
    raw = [
        "https://www.B.com/x",
        "a.com",
        "b.com",
        "WWW.A.COM",
        "com.example.app",
        "id42",
        "42",
        "Unknown",
        "com.example.app",
        "",
    ]
    assert split_entries(raw) == (["b.com", "a.com"], ["com.example.app", "42"])
    report_ = split_entries_report(raw)
    assert isinstance(report_, EntrySplit)
    assert report_.dropped == ["Unknown", ""]


def test_split_entries_to_ascii() -> None:
    web, apps = split_entries(["bücher.de", "例え.jp", "example.com"], to_ascii=True)
    assert web == ["xn--bcher-kva.de", "xn--r8jz45g.jp", "example.com"]
    assert apps == []
    assert split_entries(["bücher.de"]) == (["bücher.de"], [])


def test_to_ascii_failure_is_dropped() -> None:
    too_long = "ü" * 60 + ".com"  # a 60-letter label, over 63 once punycoded
    assert classify_entry(too_long) == ("web", too_long)
    report_ = split_entries_report([too_long, "ok.com"], to_ascii=True)
    assert report_.web == ["ok.com"]
    assert report_.dropped == [too_long]


# --------------------------------------------------------------------------- plain lists


def test_plain_list_format() -> None:
    data = plain_list(["a.com", "bücher.de", "a.com", "com.example.game", "123"])
    assert data == "a.com\nbücher.de\ncom.example.game\n123\n".encode()
    assert not data.startswith(BOM)
    assert plain_list([]) == b""


def test_hyperlink_never_reaches_a_dsp_file() -> None:
    raw = ['=HYPERLINK("http://x")', "+cmd", "-x.com", "@x.com", "\t=1", "good.com"]
    web, apps = split_entries(raw)
    for body in (plain_list(web), plain_list(apps), plain_list(raw)):
        assert b"HYPERLINK" not in body
        assert b"cmd" not in body
    assert plain_list(raw) == b"good.com\n"
    ttd = json.dumps(trade_desk_bid_list("blacklist", raw, raw, name="x"))
    dv = json.dumps(dv360_sites(raw, raw))
    assert "HYPERLINK" not in ttd
    assert "HYPERLINK" not in dv


@settings(max_examples=200, deadline=None)
@given(st.lists(entry_text, max_size=30), st.booleans())
def test_dsp_text_lists_are_inert(raw: list[str], to_ascii: bool) -> None:
    web, apps = split_entries(raw, to_ascii=to_ascii)
    for entries in (web, apps):
        assert len(entries) == len(set(entries))
        body = plain_list(entries).decode("utf-8")
        assert body == "" or body.endswith("\n")
        lines = body.split("\n")[:-1]
        assert lines == entries
        for entry in lines:
            assert entry
            assert entry[0] not in FORMULA_PREFIXES
            assert entry[0] != "'"
            assert not entry.lower().startswith("www.")
            assert not any(char.isspace() for char in entry)
            assert is_dsp_safe(entry)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.from_regex(r"(www\.)?[a-z]{1,10}\.(com|org|de)", fullmatch=True), max_size=20))
def test_real_looking_domains_are_kept(raw: list[str]) -> None:
    web, apps = split_entries(raw)
    assert apps == []
    assert web == list(dict.fromkeys(name.removeprefix("www.") for name in raw))


# --------------------------------------------------------------------------- DSP bodies


def test_trade_desk_blacklist_body() -> None:
    body = trade_desk_bid_list(
        "blacklist", ["a.com", "b.com", "a.com"], ["com.example.game", "422689480"], name="Block"
    )
    assert body["Name"] == "Block"
    assert body["BidListAdjustmentType"] == "BlockList"
    assert body["ResolutionType"] == "ApplyMultiplyAdjustment"
    assert body["BidListOwner"] == "Advertiser"
    assert body["BidListOwnerId"] is None
    assert body["BidLines"] == [
        {"DomainFragment": "a.com", "BidAdjustment": 0.0},
        {"DomainFragment": "b.com", "BidAdjustment": 0.0},
        {"DomainFragment": "com.example.game", "BidAdjustment": 0.0},
        {"DomainFragment": "422689480", "BidAdjustment": 0.0},
    ]
    assert json.loads(json.dumps(body, allow_nan=False)) == body


def test_trade_desk_whitelist_body() -> None:
    body = trade_desk_bid_list("whitelist", ["a.com"], [], name="Allow", owner_id="adv123")
    assert body["BidListAdjustmentType"] == "TargetList"
    assert body["BidListOwnerId"] == "adv123"
    assert body["BidLines"] == [{"DomainFragment": "a.com", "BidAdjustment": 1.0}]
    json.dumps(body, allow_nan=False)


def test_trade_desk_rejects_unknown_list_type() -> None:
    with pytest.raises(ValueError, match="list_type"):
        trade_desk_bid_list("greylist", [], [], name="x")


def test_dv360_body() -> None:
    body = dv360_sites(["a.com", "a.com", "bücher.de"], ["com.example.game", "422689480"])
    assert body == {
        "newSites": [
            {"urlOrAppId": "a.com"},
            {"urlOrAppId": "bücher.de"},
            {"urlOrAppId": "com.example.game"},
            {"urlOrAppId": "422689480"},
        ]
    }
    assert json.loads(json.dumps(body, ensure_ascii=False)) == body


def test_dv360_drops_entries_over_240_bytes() -> None:
    long_app = "com." + "a" * 240
    assert dv360_sites([], [long_app, "com.ok"]) == {"newSites": [{"urlOrAppId": "com.ok"}]}


def test_empty_bodies() -> None:
    assert dv360_sites([], []) == {"newSites": []}
    assert trade_desk_bid_list("whitelist", [], [], name="x")["BidLines"] == []


# --- the results CSV's fast path equals the row-by-row reference --------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_json_cells_are_what_the_standard_library_writes(value: Any) -> None:
    for wrapped in ({"v": value}, [value]):
        assert json_cell(wrapped) == json.dumps(
            wrapped, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
        )


def test_json_cells_of_values_orjson_writes_differently() -> None:
    for value in (
        {"ctr": 1e-05, "b": 1.5e-07, "a": 0.00012},  # orjson: 0.00001, 1.5e-7
        {"x": math.nan, "y": math.inf},  # orjson: null
        {"big": 2**70},  # orjson refuses integers beyond 64 bits
        {"lone": "\ud800"},  # orjson refuses lone surrogates
        {"when": WHEN},  # orjson writes datetimes its own way
        {"é": 1, "z": 2, "😀": 3, "\uffff": 4},  # sorted by code point
    ):
        assert json_cell(value) == json.dumps(
            value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str
        )


NUMBERS = st.none() | st.floats() | st.integers(min_value=-(10**6), max_value=10**6)
STORED_ROW = st.tuples(
    st.text(max_size=12) | st.sampled_from(['=HYPERLINK("x")', "-2+3", "+1", "@a", " =x"]),
    NUMBERS,
    st.sampled_from(["good", "moderate", "poor"]),
    st.integers(min_value=0, max_value=100),
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,
    NUMBERS,
    st.none()
    | st.fixed_dictionaries(
        {"values": st.dictionaries(st.text(max_size=6), NUMBERS, max_size=3)},
        optional={"normalized": st.dictionaries(st.text(max_size=6), NUMBERS, max_size=3)},
    ),
    st.none() | st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
    st.none() | st.lists(st.text(max_size=6), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(STORED_ROW, max_size=40), st.integers(min_value=1, max_value=7))
def test_results_csv_equals_the_row_by_row_reference(
    rows: list[tuple[Any, ...]], batch: int
) -> None:
    facts = campaign('=cmd|" /c calc"!A0, "quoted"')
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    fast = b"".join(results_csv(facts, batches, WHEN))
    values = [
        {
            **dict(zip(STORED_RESULT_FIELDS[:10], row[:10], strict=True)),
            "raw_metrics": (row[10] or {}).get("values", {}),
            "normalized_metrics": (row[10] or {}).get("normalized", {}),
            "score_breakdown": row[11] or {},
            "quality_flags": list(row[12] or []),
        }
        for row in rows
    ]
    assert fast == csv_bytes(RESULT_COLUMNS, [result_row(facts, v, WHEN) for v in values])


def test_results_csv_comes_in_chunks() -> None:
    row: tuple[Any, ...] = (
        "a.example",
        50.0,
        "good",
        50,
        1000.0,
        1.5,
        1.5,
        0.001,
        None,
        None,
        {},
        {},
        [],
    )
    chunks = list(results_csv(campaign(), [[row] * 2000], WHEN))
    assert len(chunks) > 1
    assert chunks[0].startswith(BOM)
    assert not any(chunk.startswith(BOM) for chunk in chunks[1:])
    assert all(len(chunk) < 2 * CHUNK_SIZE for chunk in chunks)
