"""Reader tests: format, encoding and delimiter detection, and the golden cross-format test.

The five golden fixtures (``tests/fixtures/golden``) hold the same logical table
(``tests/fixtures/make_fixtures.py``); every one must read to the same headers and cells
and score to the same results, which must also match values computed here by hand from
the canonical rows (``scoring.md`` §2-4).
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.errors import EmptyFileError, MissingMetricError, UnreadableFileError
from caliber.engine.pipeline import ScoringResult, score
from caliber.engine.read import Table, open_table
from tests.fixtures import make_fixtures as mf

IAS = "ias_display_fully_in_view_1s_rate"
IAS_HEADER = "IAS Display Fully In View 1 Second Rate"
KEY_COLUMNS = (
    "domain",
    "impressions",
    "spend",
    "cpm",
    "ctr",
    IAS,
    "ad_load_xl_rate",
    "ad_refresh_below_15s_rate",
    "score",
    "percentile_rank",
    "quality_status",
)
# scoring.md §1: trade_desk / awareness / display, ctr_sensitivity=false.
# (weight, higher_is_better)
TD_DISPLAY_WEIGHTS: dict[str, tuple[float, bool]] = {
    "cpm": (0.15, False),
    IAS: (0.25, True),
    "ctr": (0.20, True),
    "ad_load_xl_rate": (0.20, False),
    "ad_refresh_below_15s_rate": (0.20, False),
}
TEXT_FIXTURES = ("td_display_utf8_bom.csv", "td_display_utf16.tsv", "td_display_cp1252.csv")
REFERENCE_FIXTURE = "td_display_utf8_bom.csv"


def _golden(name: str) -> bytes:
    return mf.fixture_path(name).read_bytes()


@pytest.fixture(scope="module")
def td_display() -> Setup:
    return Setup.create("trade_desk", "awareness", "display")


@pytest.fixture(scope="module")
def golden_results(td_display: Setup) -> dict[str, ScoringResult]:
    return {name: score(_golden(name), td_display, filename=name) for name in mf.FILES}


# --------------------------------------------------------------------------- reference


def _site_key(site: str) -> str:
    """scoring.md §2: trimmed, lower-cased, leading ``www.`` removed."""
    return site.strip().lower().removeprefix("www.").strip()


@dataclass
class _Sums:
    impressions: float = 0.0
    clicks: float = 0.0
    spend: float = 0.0
    ias_weighted: float = 0.0
    ias_weight: float = 0.0
    ad_load_xl: float = 0.0
    ad_refresh: float = 0.0


def _reference_metrics(min_impressions: float = 250) -> dict[str, dict[str, float]]:
    """Per-domain metrics computed by hand from the canonical data rows (§3)."""
    sums: dict[str, _Sums] = {}
    for row in mf.DATA_ROWS:
        s = sums.setdefault(_site_key(row.site), _Sums())
        s.impressions += row.impressions
        s.clicks += row.clicks
        s.spend += row.spend
        if row.ias is not None:
            s.ias_weighted += row.ias / 100 * row.impressions
            s.ias_weight += row.impressions
        s.ad_load_xl += row.ad_load_xl
        s.ad_refresh += row.ad_refresh
    return {
        domain: {
            "impressions": s.impressions,
            "spend": s.spend,
            "cpm": s.spend / s.impressions * 1000,
            "ctr": s.clicks / s.impressions,
            IAS: s.ias_weighted / s.ias_weight,
            "ad_load_xl_rate": s.ad_load_xl / s.impressions,
            "ad_refresh_below_15s_rate": s.ad_refresh / s.impressions,
        }
        for domain, s in sums.items()
        if s.impressions >= min_impressions
    }


def _reference_scores() -> dict[str, tuple[float, int, str]]:
    """(score, percentile_rank, quality_status) per domain, by scoring.md §4."""
    metrics = _reference_metrics()
    normalized: dict[str, float] = dict.fromkeys(metrics, 0.0)
    weight_sum = sum(w for w, _ in TD_DISPLAY_WEIGHTS.values())
    for name, (weight, higher) in TD_DISPLAY_WEIGHTS.items():
        values = [m[name] for m in metrics.values()]
        lo, hi = min(values), max(values)
        for domain, m in metrics.items():
            if hi > lo:
                n = (m[name] - lo) / (hi - lo) * 100 if higher else (hi - m[name]) / (hi - lo) * 100
            else:
                n = 50.0
            normalized[domain] += weight * n / weight_sum
    scores = {d: round(v, 2) for d, v in normalized.items()}
    ordered = sorted(scores.values())
    count = len(ordered)
    out: dict[str, tuple[float, int, str]] = {}
    for domain, value in scores.items():
        first = ordered.index(value) + 1
        last = count - ordered[::-1].index(value)
        rank = round(100 * ((first + last) / 2) / count)
        status = "good" if rank >= 75 else "moderate" if rank >= 25 else "poor"
        out[domain] = (value, rank, status)
    return out


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "file_format", "encoding", "delimiter"),
    [
        ("td_display_utf8_bom.csv", "csv", "utf-8-sig", ","),
        ("td_display_utf16.tsv", "csv", "utf-16", "\t"),
        ("td_display_cp1252.csv", "csv", "windows-1252", ";"),
        ("td_display.xlsx", "xlsx", None, None),
        ("td_display.xls", "xls", None, None),
    ],
)
def test_golden_detection(
    name: str, file_format: str, encoding: str | None, delimiter: str | None
) -> None:
    table = open_table(_golden(name), name)
    assert table.format == file_format
    assert table.encoding == encoding
    assert table.delimiter == delimiter


def test_headers_identical_across_formats() -> None:
    headers = {name: open_table(_golden(name), name).headers for name in mf.FILES}
    for name, found in headers.items():
        assert found == mf.HEADERS, name
    assert not any("\ufeff" in h for found in headers.values() for h in found)


@pytest.mark.parametrize("name", TEXT_FIXTURES)
def test_golden_text_files_are_up_to_date(name: str) -> None:
    assert _golden(name) == mf.BUILDERS[name](), f"rerun tests/fixtures/make_fixtures.py ({name})"


@pytest.mark.parametrize("name", mf.FILES)
def test_golden_cells_read_back(name: str) -> None:
    table = open_table(_golden(name), name)
    frame = table.load(range(len(mf.HEADERS)))
    assert frame.columns == [f"c{i}" for i in range(len(mf.HEADERS))]
    assert frame.height == len(mf.ROWS)
    assert all(dtype == pl.String for dtype in frame.dtypes)
    sites = [v or "" for v in frame["c1"].to_list()]
    assert sites == [r.site for r in mf.ROWS]  # café.fr decoded, trailing space kept
    impressions = [float(v.replace(",", "")) for v in frame["c3"].to_list()]
    assert impressions == [float(r.impressions) for r in mf.ROWS]
    first_column = frame["c0"].to_list()
    assert first_column[-1] == "Total"
    assert str(first_column[0]).startswith("2024-05-01")


# --------------------------------------------------------------------------- golden scores


@pytest.mark.parametrize("name", [n for n in mf.FILES if n != REFERENCE_FIXTURE])
def test_every_format_scores_the_same(name: str, golden_results: dict[str, ScoringResult]) -> None:
    def key(result: ScoringResult) -> pl.DataFrame:
        return result.results.select(KEY_COLUMNS).sort("domain")

    expected = key(golden_results[REFERENCE_FIXTURE])
    assert expected.height == 6
    assert_frame_equal(key(golden_results[name]), expected, abs_tol=1e-9, rel_tol=1e-9)
    # Same order of rows (best first), not just the same set.
    assert (
        golden_results[name].results["domain"].to_list()
        == golden_results[REFERENCE_FIXTURE].results["domain"].to_list()
    )


def test_golden_scores_match_hand_computation(golden_results: dict[str, ScoringResult]) -> None:
    results = golden_results[REFERENCE_FIXTURE].results
    metrics = _reference_metrics()
    scores = _reference_scores()
    assert sorted(results["domain"].to_list()) == sorted(metrics)
    for row in results.iter_rows(named=True):
        domain = row["domain"]
        for name, value in metrics[domain].items():
            assert row[name] == pytest.approx(value, rel=1e-9), (domain, name)
        expected_score, expected_rank, expected_status = scores[domain]
        assert row["score"] == pytest.approx(expected_score, abs=1e-9), domain
        assert row["percentile_rank"] == expected_rank, domain
        assert row["quality_status"] == expected_status, domain
    statuses = {row["quality_status"] for row in results.iter_rows(named=True)}
    assert statuses == {"good", "moderate", "poor"}  # the fixture exercises every label


@pytest.mark.parametrize("name", mf.FILES)
def test_hand_computed_example_com(name: str, golden_results: dict[str, ScoringResult]) -> None:
    """www.example.com, Example.com and 'WWW.EXAMPLE.COM ' are one domain (§2-3)."""
    rows = [r for r in mf.DATA_ROWS if _site_key(r.site) == "example.com"]
    assert len(rows) == 3
    impressions = sum(r.impressions for r in rows)
    spend = sum(r.spend for r in rows)
    clicks = sum(r.clicks for r in rows)
    rated = [r for r in rows if r.ias is not None]  # the N/A row weighs nothing
    viewability = sum(r.ias / 100 * r.impressions for r in rated if r.ias is not None) / sum(
        r.impressions for r in rated
    )
    assert impressions == 4000
    assert spend * 1000 / impressions == pytest.approx(3.0)
    assert viewability == pytest.approx((0.625 * 1200 + 0.58 * 1850) / 3050)

    found = golden_results[name].results.filter(pl.col("domain") == "example.com")
    assert found.height == 1
    row = found.row(0, named=True)
    assert row["impressions"] == impressions
    assert row["spend"] == pytest.approx(spend)
    assert row["cpm"] == pytest.approx(spend / impressions * 1000)
    assert row["ctr"] == pytest.approx(clicks / impressions)
    assert row[IAS] == pytest.approx(viewability)
    assert row["ad_load_xl_rate"] == pytest.approx(400 / 4000)
    assert row["ad_refresh_below_15s_rate"] == pytest.approx(190 / 4000)


@pytest.mark.parametrize("name", mf.FILES)
def test_golden_report(name: str, golden_results: dict[str, ScoringResult]) -> None:
    result = golden_results[name]
    report = result.report
    domains = result.results["domain"].to_list()
    assert report.rows_read == len(mf.ROWS)
    assert report.rows_dropped == {"aggregate_row": 2}  # Total and [tail aggregate]
    assert report.rows_filtered == 1  # tiny.io, 180 impressions
    assert report.rows_scored == 6
    assert "totalsportek.com" in domains  # not an aggregate row
    assert "café.fr" in domains
    assert "tiny.io" not in domains
    assert not [w for w in report.warnings if w.code == "unparseable_values"]
    assert report.column_mapping["Site"] == "domain"
    assert report.column_mapping[IAS_HEADER] == IAS
    # The .xls stores viewability as fractions; every other fixture as "62.5%" strings.
    assert (IAS_HEADER in report.percent_columns) == (name != "td_display.xls")


# --------------------------------------------------------------------------- delimited text


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_delimiter_sniffing_with_quoted_delimiter(delimiter: str) -> None:
    d = delimiter
    text = (
        f"Site{d}Impressions{d}Note\r\n"
        f'example.com{d}300{d}"one{d} two"\r\n'
        f'"b{d}c.com"{d}400{d}plain\r\n'
        f"d.com{d}500{d}x\r\n"
    )
    table = open_table(text.encode())
    assert table.delimiter == delimiter
    assert table.format == "csv"
    assert table.headers == ("Site", "Impressions", "Note")
    frame = table.load([0, 1, 2])
    assert frame.rows() == [
        ("example.com", "300", f"one{d} two"),
        (f"b{d}c.com", "400", "plain"),
        ("d.com", "500", "x"),
    ]


def test_pipe_delimited_with_unquoted_commas_in_values() -> None:
    data = b"Site|Impressions|Advertiser Cost\na.com|1,200|$1,234.56\nb.com|950|$2.00\n"
    table = open_table(data)
    assert table.delimiter == "|"
    assert table.load([1, 2]).rows() == [("1,200", "$1,234.56"), ("950", "$2.00")]


@pytest.mark.parametrize(
    "text",
    [
        "Site,Impressions,Note\na.com,300,x,extra\nb.com,400\nc.com,500,z\n",
        "Site,Impressions,Note\na.com,300\nb.com,400,y,extra\nc.com,500,z\n",
    ],
    ids=["short-row-later", "short-first-data-row"],
)
def test_ragged_rows(text: str) -> None:
    """Extra fields are dropped, missing fields are empty, whichever row comes first."""
    table = open_table(text.encode())
    assert table.headers == ("Site", "Impressions", "Note")
    rows = table.load([0, 1, 2]).rows()
    assert len(rows) == 3
    assert [r[0] for r in rows] == ["a.com", "b.com", "c.com"]
    assert [r[1] for r in rows] == ["300", "400", "500"]
    assert rows[2][2] == "z"
    assert sum(1 for r in rows if r[2] is None) == 1


def test_cp1252_accent_decodes_into_the_domain() -> None:
    data = "Site;Impressions\r\ncafé.fr;300\r\nWWW.Café.fr ;200\r\n".encode("cp1252")
    assert b"caf\xe9.fr" in data
    table = open_table(data)
    assert table.encoding == "windows-1252"
    assert table.delimiter == ";"
    assert table.load([0])["c0"].to_list() == ["café.fr", "WWW.Café.fr "]


def _pulsepoint_csv() -> str:
    return (
        "Domain,Impressions,Total Spend,Clicks,Conversions\r\n"
        "café.fr,1000,€2.00,10,1\r\n"
        "WWW.Café.fr ,1000,€2.00,10,1\r\n"
        "news.org,4000,€20.00,8,4\r\n"
        "weather.net,3000,€6.00,3,0\r\n"
    )


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (_pulsepoint_csv().encode("cp1252"), "windows-1252"),
        (_pulsepoint_csv().encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + _pulsepoint_csv().encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + _pulsepoint_csv().encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + _pulsepoint_csv().encode("utf-16-be"), "utf-16"),
    ],
    ids=["cp1252", "utf8", "utf8-bom", "utf16-le", "utf16-be"],
)
def test_encodings_score_the_accented_domain(data: bytes, encoding: str) -> None:
    """The BOM does not leak into the first header (else 'Domain' would not map)."""
    table = open_table(data)
    assert table.encoding == encoding
    assert table.headers[0] == "Domain"
    result = score(data, Setup.create("pulsepoint", "awareness", "display"))
    assert result.report.column_mapping["Domain"] == "domain"
    cafe = result.results.filter(pl.col("domain") == "café.fr").row(0, named=True)
    assert cafe["impressions"] == 2000
    assert cafe["ecpm"] == pytest.approx(4.0 / 2000 * 1000)  # € stripped from money
    assert sorted(result.results["domain"].to_list()) == ["café.fr", "news.org", "weather.net"]


def test_utf8_bom_not_in_first_header() -> None:
    table = open_table(codecs.BOM_UTF8 + b"Site,Impressions\r\na.com,300\r\n")
    assert table.headers == ("Site", "Impressions")
    assert table.encoding == "utf-8-sig"
    assert table.load([0, 1]).rows() == [("a.com", "300")]


# --------------------------------------------------------------------------- excel


def test_xlsx_loads_only_selected_columns() -> None:
    table = open_table(_golden("td_display.xlsx"))
    frame = table.load([3, 1, 3])  # duplicates and order do not matter
    assert frame.columns == ["c1", "c3"]
    assert frame.height == len(mf.ROWS)
    assert frame["c1"].to_list()[:3] == ["www.example.com", "Example.com", "WWW.EXAMPLE.COM "]
    assert [float(v) for v in frame["c3"].to_list()] == [float(r.impressions) for r in mf.ROWS]
    spend = table.load([5])
    assert spend.columns == ["c5"]
    assert spend["c5"].to_list() == [mf.money(r.spend) for r in mf.ROWS]


def test_xls_read() -> None:
    table = open_table(_golden("td_display.xls"), "td_display.xls")
    assert table.format == "xls"
    assert table.headers == mf.HEADERS
    frame = table.load([1, 5, 6])
    assert frame.columns == ["c1", "c5", "c6"]
    assert frame["c1"].to_list()[3] == "café.fr"
    assert [float(v) for v in frame["c5"].to_list()] == pytest.approx([r.spend for r in mf.ROWS])
    ias = frame["c6"].to_list()
    assert ias[2] is None  # readers turn missing markers ("N/A") into nulls
    assert float(ias[0]) == pytest.approx(0.625)


def _xlsx(rows: Sequence[Sequence[str | float]]) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    for i, row in enumerate(rows):
        sheet.write_row(i, 0, row)
    book.close()
    return out.getvalue()


def test_xlsx_headers_are_stripped_and_numbers_read_as_text() -> None:
    data = _xlsx([[" Site ", "Impressions ", "CTR"], ["a.com", 300, 0.5], ["b.com", 1250, "1.5%"]])
    table: Table = open_table(data, "x.xlsx")
    assert table.headers == ("Site", "Impressions", "CTR")
    assert table.encoding is None
    frame = table.load([0, 1, 2])
    assert frame.dtypes == [pl.String, pl.String, pl.String]
    assert frame["c0"].to_list() == ["a.com", "b.com"]
    assert [float(v) for v in frame["c1"].to_list()] == [300.0, 1250.0]
    assert frame["c2"].to_list()[1] == "1.5%"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_missing_markers_become_nulls_in_every_reader(fmt: str) -> None:
    cells = ["-", "--", "N/A", "n/a", "null", "NULL", "", "0.5", "n/a-ish"]
    if fmt == "csv":
        data = ("Site,CTR\n" + "".join(f"s{i}.com,{c}\n" for i, c in enumerate(cells))).encode()
    else:
        data = _xlsx([["Site", "CTR"], *[[f"s{i}.com", c] for i, c in enumerate(cells)]])
    values = open_table(data).load([1])["c1"].to_list()
    assert values[:7] == [None] * 7
    assert values[7:] == ["0.5", "n/a-ish"]


@pytest.mark.parametrize("name", mf.FILES)
def test_a_path_scores_like_its_bytes(
    name: str, td_display: Setup, golden_results: dict[str, ScoringResult]
) -> None:
    from_path = score(mf.fixture_path(name), td_display)
    from_bytes = golden_results[name]
    assert from_path.results.equals(from_bytes.results)
    assert from_path.report.encoding == from_bytes.report.encoding
    assert from_path.report.rows_dropped == from_bytes.report.rows_dropped


def test_a_path_with_windows_1252_beyond_the_first_chunk(tmp_path: Path) -> None:
    filler = "".join(f"s{i}.com,300\n" for i in range(12_000))  # > 64 KiB of ASCII
    text = "Site,Impressions\n" + filler + "café.fr,400\n"
    path = tmp_path / "late.csv"
    path.write_bytes(text.encode("cp1252"))
    assert open_table(path).load([0])["c0"].to_list()[-1] == "café.fr"
    setup = Setup.create("trade_desk", "awareness", "display")
    with pytest.raises(MissingMetricError):  # the scan got past the encoding
        score(path, setup)
    pp = Setup(
        Platform.PULSEPOINT,
        Goal.AWARENESS,
        Channel.DISPLAY,
        min_impressions=0,
        pulsepoint_min_share=0.0,
    )
    renamed = tmp_path / "late_pp.csv"
    renamed.write_bytes(
        text.replace("Site,Impressions", "Domain,Impressions,CTR,eCPM,Conversion Rate")
        .replace(",300\n", ",300,0.1,2,0.01\n")
        .replace(",400\n", ",400,0.2,3,0.02\n")
        .encode("cp1252")
    )
    result = score(renamed, pp)
    assert result.report.encoding == "windows-1252"
    assert "café.fr" in result.results["domain"].to_list()


def test_a_path_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="cannot read"):
        open_table(tmp_path / "missing.csv")


@pytest.mark.parametrize("content", [b"", b"   \n\n"])
def test_an_empty_path(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    with pytest.raises(EmptyFileError):
        open_table(path)
