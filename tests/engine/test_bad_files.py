"""Bad inputs: each is refused with its own error class and a message naming the problem.

Files are built in memory from the canonical golden table
(``tests/fixtures/make_fixtures.py``), changed in one way per test.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Mapping, Sequence

import pytest

from caliber.engine.config import Setup
from caliber.engine.errors import (
    EmptyFileError,
    EngineError,
    InvalidParameterError,
    InvalidWeightsError,
    MissingColumnError,
    MissingMetricError,
    NoDataError,
    NoScorableRowsError,
    UnreadableFileError,
    UnsafeFileError,
    UnsupportedSetupError,
)
from caliber.engine.pipeline import score
from caliber.engine.read import ReadLimits, open_table
from tests.engine import workbooks as wb
from tests.fixtures import make_fixtures as mf

IAS = "ias_display_fully_in_view_1s_rate"
IAS_HEADER = "IAS Display Fully In View 1 Second Rate"
XLS_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\nIDATx\x9cc\x00\x01\x00\x00\x05\x00\x01\r\n-\xb4"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
TD_WEIGHTS = {
    "cpm": 0.15,
    IAS: 0.25,
    "ctr": 0.20,
    "ad_load_xl_rate": 0.20,
    "ad_refresh_below_15s_rate": 0.20,
}


@pytest.fixture(scope="module")
def td_display() -> Setup:
    return Setup.create("trade_desk", "awareness", "display")


# --------------------------------------------------------------------------- builders


def _rows() -> list[dict[str, str]]:
    """The canonical table (data rows, tail aggregate, Total) as text cells."""
    return [dict(zip(mf.HEADERS, mf.text_cells(r), strict=True)) for r in mf.ROWS]


def _csv(rows: Sequence[Mapping[str, str]], headers: Sequence[str] = mf.HEADERS) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([row.get(h, "") for h in headers] for row in rows)
    return out.getvalue().encode("utf-8")


def _without(header: str) -> bytes:
    return _csv(_rows(), [h for h in mf.HEADERS if h != header])


def _zip(entries: Mapping[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return out.getvalue()


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _golden_xlsx() -> bytes:
    return mf.fixture_path("td_display.xlsx").read_bytes()


def _workbook_like(sheet: bytes, extra_entries: int = 0) -> bytes:
    """A minimal .xlsx-shaped archive whose sheet part is ``sheet``."""
    entries = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook><sheets/></workbook>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    for i in range(extra_entries):
        entries[f"xl/media/image{i}.png"] = PNG
    return _zip(entries)


def _bomb_sheet(size: int = 8 * 1024 * 1024) -> bytes:
    row = b'<row><c t="inlineStr"><is><t>aaaaaaaaaaaaaaaa</t></is></c></row>'
    head = b'<?xml version="1.0"?><worksheet><sheetData>'
    return head + row * ((size - len(head)) // len(row) + 1)


def _xlsx(rows: Sequence[Sequence[str | float]]) -> bytes:
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet()
    for i, row in enumerate(rows):
        sheet.write_row(i, 0, row)
    book.close()
    return out.getvalue()


# --------------------------------------------------------------------------- empty files


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\t \n ", b"\xef\xbb\xbf", b"\xef\xbb\xbf \r\n", b"\xff\xfe"],
    ids=["zero-bytes", "whitespace", "utf8-bom-only", "utf8-bom-whitespace", "utf16-bom-only"],
)
def test_empty_file(data: bytes, td_display: Setup) -> None:
    with pytest.raises(EmptyFileError, match="empty") as caught:
        open_table(data)
    assert caught.value.code == "empty_file"
    with pytest.raises(EmptyFileError):
        score(data, td_display)


@pytest.mark.parametrize(
    "data",
    [
        b"Site,Impressions,Clicks\r\n",
        b"Site,Impressions,Clicks\n",
        b"Site,Impressions,Clicks",
    ],
    ids=["crlf", "lf", "no-newline"],
)
def test_header_only_csv(data: bytes) -> None:
    table = open_table(data)
    assert table.headers == ("Site", "Impressions", "Clicks")
    with pytest.raises(EmptyFileError, match="no data rows"):
        table.load([0, 1])


def test_header_only_csv_scored(td_display: Setup) -> None:
    with pytest.raises(EmptyFileError, match="no data rows") as caught:
        score(_csv([]), td_display)
    assert caught.value.details["headers"] == list(mf.HEADERS)


def test_header_only_xlsx(td_display: Setup) -> None:
    data = _xlsx([list(mf.HEADERS)])
    table = open_table(data)
    assert table.format == "xlsx"
    assert table.headers == mf.HEADERS
    with pytest.raises(EmptyFileError, match="no data rows"):
        table.load([0, 1])
    with pytest.raises(EmptyFileError, match="no data rows"):
        score(data, td_display)


def test_xlsx_with_empty_sheet() -> None:
    with pytest.raises(EmptyFileError, match="sheet is empty"):
        open_table(_xlsx([]))


# --------------------------------------------------------------------------- not a table


def test_random_binary_junk() -> None:
    junk = random.Random(7).randbytes(4096)
    assert b"\x00" in junk
    assert not junk.startswith((b"PK", XLS_MAGIC[:2]))
    with pytest.raises(UnreadableFileError, match="binary") as caught:
        open_table(junk, "junk.csv")
    assert caught.value.code == "unreadable_file"
    assert "CSV" in caught.value.message


def test_png_image(td_display: Setup) -> None:
    with pytest.raises(UnreadableFileError, match="looks binary"):
        open_table(PNG, "logo.png")
    with pytest.raises(UnreadableFileError, match="looks binary"):
        score(PNG, td_display)


def test_xls_magic_with_junk() -> None:
    with pytest.raises(UnreadableFileError, match="XLS workbook could not be read"):
        open_table(XLS_MAGIC + b"not really a workbook" * 50)


def test_utf8_bom_with_invalid_utf8() -> None:
    with pytest.raises(UnreadableFileError, match="UTF-8 BOM but is not valid UTF-8"):
        open_table(b"\xef\xbb\xbfSite,Impressions\r\n\xff\xfe\xfd,1\r\n")


# --------------------------------------------------------------------------- missing columns


@pytest.mark.parametrize(
    ("header", "metric", "fixes"),
    [
        ("Clicks", "ctr", ("'Clicks'", "'Impressions'", "'CTR'")),
        (IAS_HEADER, IAS, (f"'{IAS_HEADER}'",)),
        (
            "Ad Load - XL (Excessive) - Impressions",
            "ad_load_xl_rate",
            ("'Ad Load - XL (Excessive) - Impressions'", "'Ad Load - XL (Excessive) - Rate'"),
        ),
        (
            "Advertiser Cost (Adv Currency)",
            "cpm",
            ("'Advertiser Cost (Adv Currency)'", "'CPM'"),
        ),
    ],
)
def test_missing_metric(
    header: str, metric: str, fixes: tuple[str, ...], td_display: Setup
) -> None:
    with pytest.raises(MissingMetricError) as caught:
        score(_without(header), td_display)
    error = caught.value
    assert error.code == "missing_metric"
    assert metric in error.message
    for fix in fixes:
        assert fix in error.message
    assert error.details["missing_metrics"] == [metric]


def test_missing_dimension_column(td_display: Setup) -> None:
    with pytest.raises(MissingColumnError, match="domain") as caught:
        score(_without("Site"), td_display)
    assert "'Site'" in caught.value.message
    assert caught.value.details["column"] == "domain"
    assert "Site" in caught.value.details["accepted_headers"]


def test_missing_supply_vendor_for_ctv() -> None:
    data = b"Site,Impressions,Unique IDs,TV Quality Index\r\na.com,1000,500,0.8\r\n"
    with pytest.raises(MissingColumnError, match="'Supply Vendor'"):
        score(data, Setup.create("trade_desk", "awareness", "ctv"))


def test_missing_impressions(td_display: Setup) -> None:
    with pytest.raises(MissingColumnError, match="impressions") as caught:
        score(_without("Impressions"), td_display)
    assert "'Impressions'" in caught.value.message
    assert caught.value.details["column"] == "impressions"


# --------------------------------------------------------------------------- unusable values


def test_metric_all_missing(td_display: Setup) -> None:
    markers = ["N/A", "n/a", "-", "--", "", "null", " N/A "]
    rows = _rows()
    for i, row in enumerate(rows):
        row[IAS_HEADER] = markers[i % len(markers)]
    with pytest.raises(NoDataError) as caught:
        score(_csv(rows), td_display)
    error = caught.value
    assert error.code == "no_data"
    assert IAS in error.message
    assert IAS_HEADER in error.message
    assert error.details["metric"] == IAS


def test_some_negative_counts_warn_and_still_score(td_display: Setup) -> None:
    rows = _rows()
    rows[0]["Clicks"] = "-6"
    rows[4]["Clicks"] = "-9"
    result = score(_csv(rows), td_display)
    warnings = [w for w in result.report.warnings if w.code == "negative_counts"]
    assert len(warnings) == 1
    assert warnings[0].column == "Clicks"
    assert warnings[0].count == 2
    assert "Clicks" in warnings[0].message
    assert "negative" in warnings[0].message
    assert result.results.height == 6
    lowest_ctr = result.results["ctr"].min()
    assert isinstance(lowest_ctr, float)
    assert lowest_ctr >= 0
    codes = [w["code"] for w in result.summary()["data_quality_warnings"]]
    assert "negative_counts" in codes


def test_all_impressions_negative(td_display: Setup) -> None:
    rows = _rows()
    for row in rows:
        row["Impressions"] = "-" + row["Impressions"]
    with pytest.raises(NoDataError, match="Impressions") as caught:
        score(_csv(rows), td_display)
    assert "no positive value" in caught.value.message


def test_only_aggregate_rows(td_display: Setup) -> None:
    rows = _rows()[-2:]  # [tail aggregate] and Total
    for label in ("Grand Total", "Summary", "(not set)"):
        extra = dict(rows[0])
        extra["Site"] = label
        rows.append(extra)
    with pytest.raises(NoScorableRowsError, match="aggregate") as caught:
        score(_csv(rows), td_display)
    assert caught.value.code == "no_scorable_rows"
    assert caught.value.details["rows_dropped"]["aggregate_row"] == 5


def test_all_rows_below_min_impressions() -> None:
    setup = Setup.create("trade_desk", "awareness", "display", min_impressions=300_000)
    with pytest.raises(NoScorableRowsError, match="min_impressions") as caught:
        score(_csv(_rows()), setup)
    assert "300,000" in caught.value.message
    assert "251,050" in caught.value.message  # news.org, the largest domain


def test_small_file_below_default_min_impressions(td_display: Setup) -> None:
    rows = [r for r in _rows() if r["Site"] in ("tiny.io", "shop.example.org")]
    assert [r["Impressions"] for r in rows] == ["640", "180"]
    rows[0]["Impressions"] = "249"
    with pytest.raises(NoScorableRowsError, match=r"at least 250 impressions.*min_impressions"):
        score(_csv(rows), td_display)


# --------------------------------------------------------------------------- unsafe archives


def test_zip_bomb_refused_by_ratio() -> None:
    bomb = _workbook_like(_bomb_sheet())
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeFileError, match="compression ratio") as caught:
        open_table(bomb, "bomb.xlsx")
    error = caught.value
    assert error.code == "unsafe_file"
    assert "zip bomb" in error.message
    assert error.details["entry"] == "xl/worksheets/sheet1.xml"
    assert error.details["ratio"] > 200


def test_zip_bomb_refused_by_entry_count() -> None:
    archive = _workbook_like(b"<worksheet/>", extra_entries=20)
    with pytest.raises(UnsafeFileError, match=r"24 archive entries \(limit 10\)"):
        open_table(archive, limits=ReadLimits(max_zip_entries=10))
    with pytest.raises(UnsafeFileError, match="archive entries"):
        open_table(_golden_xlsx(), limits=ReadLimits(max_zip_entries=3))


def test_zip_bomb_refused_by_declared_size() -> None:
    bomb = _workbook_like(_bomb_sheet())
    with pytest.raises(UnsafeFileError, match="would expand to") as caught:
        open_table(bomb, limits=ReadLimits(max_uncompressed_bytes=4 * 1024 * 1024))
    assert caught.value.details["uncompressed_bytes"] > 8 * 1024 * 1024
    with pytest.raises(UnsafeFileError, match="zip bomb"):
        open_table(_golden_xlsx(), limits=ReadLimits(max_uncompressed_bytes=1_000))


def test_small_ratio_floor_catches_a_well_compressed_part() -> None:
    with pytest.raises(UnsafeFileError, match="compression ratio"):
        open_table(
            _golden_xlsx(),
            limits=ReadLimits(max_compression_ratio=2.0, ratio_floor_bytes=100),
        )


_DTD = b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'


@pytest.mark.parametrize(
    ("part", "declaration"),
    [
        ("xl/workbook.xml", _DTD),
        ("xl/sharedStrings.xml", b'<!ENTITY xxe SYSTEM "file:///etc/passwd">'),
        ("xl/worksheets/sheet1.xml", b"<!doctype worksheet>"),
        ("_rels/.rels", b"<!DOCTYPE r>"),
    ],
)
def test_xml_entity_declarations_refused(part: str, declaration: bytes) -> None:
    entries = _entries(_golden_xlsx())
    content = entries[part]
    assert content.startswith(b"<?xml")
    end = content.index(b"?>") + 2
    entries[part] = content[:end] + declaration + content[end:]
    with pytest.raises(UnsafeFileError, match="DTD or entities") as caught:
        open_table(_zip(entries), "evil.xlsx")
    assert caught.value.details["entry"] == part


def test_doctype_split_across_read_chunks_refused() -> None:
    filler = random.Random(3).randbytes(512 * 1024).hex().encode()  # 1 MiB, incompressible
    sheet = filler[: 1024 * 1024 - 4] + b"<!DOCTYPE x>" + b"<worksheet/>"
    with pytest.raises(UnsafeFileError, match="DTD or entities"):
        open_table(_workbook_like(sheet))


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (wb.sparse_xlsx(), "cells span A1:XFD1048576 (17,179,869,184 cells)"),
        (wb.sparse_xlsx("AX1048576"), "cells span A1:AX1048576"),
        (wb.xls([(0, 0, "Site"), (65535, 255, "x")]), "65,536 rows × 256 columns"),
        (wb.with_dimensions(wb.small_xls(), 5, 1, 0, 1), "4,294,967,292 rows"),
        (wb.with_header_count(wb.small_xls(), 44, 0x7FFFFFFF), "2,147,483,647 FAT sectors"),
    ],
    ids=["xlsx-xfd1048576", "xlsx-ax1048576", "xls-corners", "xls-wrapped-rows", "xls-fat"],
)
def test_workbooks_the_reader_would_allocate_terabytes_for(
    data: bytes, words: str, td_display: Setup
) -> None:
    """A few KB each; the reader used to abort the process (``test_workbook_limits.py``
    has the details)."""
    with pytest.raises(UnsafeFileError) as caught:
        score(data, td_display)
    assert caught.value.code == "unsafe_file"
    assert words in caught.value.message


# --------------------------------------------------------------------------- damaged archives


def test_truncated_zip() -> None:
    data = _golden_xlsx()
    with pytest.raises(UnreadableFileError, match="damaged"):
        open_table(data[: len(data) // 2], "cut.xlsx")


def test_zip_with_corrupt_compressed_data() -> None:
    """The central directory is intact but the deflate stream of the sheet is garbage."""
    data = bytearray(_golden_xlsx())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 20, start + 60):
        data[k] ^= 0xFF
    with pytest.raises(UnreadableFileError, match=r"damaged|cannot be read"):
        open_table(bytes(data), "corrupt.xlsx")


def test_zip_with_bad_crc() -> None:
    entries = _entries(_golden_xlsx())
    data = bytearray(_zip(entries, method=zipfile.ZIP_STORED))
    needle = b"<sheetData>"
    position = data.index(needle)
    data[position + 1 : position + 2] = b"S"  # same length, different CRC
    with pytest.raises(UnreadableFileError, match="damaged"):
        open_table(bytes(data), "crc.xlsx")


def test_zip_that_is_not_a_workbook(td_display: Setup) -> None:
    archive = _zip({"report.csv": _csv(_rows()), "readme.txt": b"hello"})
    with pytest.raises(UnreadableFileError, match=r"not an Excel workbook \(\.xlsx\)"):
        open_table(archive, "report.zip")
    with pytest.raises(UnreadableFileError, match="not an Excel workbook"):
        score(archive, td_display)


def test_workbook_shaped_zip_with_garbage_parts() -> None:
    archive = _workbook_like(b"this is not xml at all")
    with pytest.raises(UnreadableFileError, match="XLSX workbook could not be read"):
        open_table(archive, "fake.xlsx")


# --------------------------------------------------------------------------- setups


@pytest.mark.parametrize("channel", ["ctv", "audio"])
def test_unsupported_setup(channel: str) -> None:
    with pytest.raises(UnsupportedSetupError, match=f"no {channel} setup") as caught:
        Setup.create("pulsepoint", "awareness", channel)
    error = caught.value
    assert error.code == "unsupported_setup"
    assert "supported channels for pulsepoint: display, video" in error.message
    assert error.details["supported_channels"] == ["display", "video"]


def test_custom_weights_accepted_when_valid(td_display: Setup) -> None:
    weights = {**TD_WEIGHTS, "cpm": 0.35, IAS: 0.05}
    setup = Setup.create("trade_desk", "awareness", "display", weights=weights)
    result = score(_csv(_rows()), setup)
    assert result.resolved.weights == pytest.approx(weights)
    assert result.results.height == 6
    default = score(_csv(_rows()), td_display)
    assert result.results["score"].to_list() != default.results["score"].to_list()


@pytest.mark.parametrize(
    ("weights", "patterns"),
    [
        ({**TD_WEIGHTS, "cpm": 0.05}, ("must sum to 1", "sum to 0.9")),
        ({**TD_WEIGHTS, "viewability": 0.0}, ("unknown metric", "viewability")),
        (
            {k: v for k, v in TD_WEIGHTS.items() if k != "ctr"},
            ("missing metric", "ctr"),
        ),
        ({**TD_WEIGHTS, "cpm": -0.15, "ctr": 0.50}, (">= 0", "invalid: cpm")),
        ({**TD_WEIGHTS, "cpm": float("nan")}, (">= 0", "invalid: cpm")),
    ],
    ids=["sum-not-1", "unknown-metric", "missing-metric", "negative", "nan"],
)
def test_invalid_custom_weights(weights: dict[str, float], patterns: tuple[str, ...]) -> None:
    with pytest.raises(InvalidWeightsError) as caught:
        Setup.create("trade_desk", "awareness", "display", weights=weights)
    assert caught.value.code == "invalid_weights"
    for pattern in patterns:
        assert pattern in caught.value.message


def test_invalid_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="min_impressions must be a number >= 0"):
        Setup.create("trade_desk", "awareness", "display", min_impressions=-1)
    with pytest.raises(InvalidParameterError, match="unknown platform 'dv360'") as caught:
        Setup.create("dv360", "awareness", "display")
    assert "trade_desk" in caught.value.message
    assert "pulsepoint" in caught.value.message


def test_errors_are_engine_errors_with_json_details() -> None:
    with pytest.raises(EngineError) as caught:
        open_table(b"")
    payload = caught.value.to_dict()
    assert payload["error"] == "empty_file"
    assert payload["message"] == caught.value.message
    assert isinstance(payload["details"], dict)
