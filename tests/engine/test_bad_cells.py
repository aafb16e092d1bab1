"""Cells and text the engine decides itself, the same for every caller (issue 14):
counts too large to be counts, names too long to be names, NUL characters, files that
mix UTF-8 with Windows-1252, CR line endings, and a header row with no end."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from caliber.engine.cells import MAX_COUNT
from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.dimension import MAX_NAME_LENGTH
from caliber.engine.errors import NoScorableRowsError, UnreadableFileError
from caliber.engine.pipeline import ScoringResult, score
from caliber.engine.read import open_table
from tests.engine import workbooks as wb

HEAD = "Domain,Impressions,CTR,eCPM,Conversion Rate\n"
# 12,000 rows: the rows after them lie beyond the first 64 KiB that readers sniff
FILLER = "".join(f"s{i}.com,300,0.1,2,0.01\n" for i in range(12_000))
PP = Setup(
    Platform.PULSEPOINT, Goal.AWARENESS, Channel.DISPLAY, min_impressions=0, pulsepoint_min_share=0
)


def _codes(result: ScoringResult) -> dict[str, dict[str, object]]:
    return {w["code"]: w for w in result.summary()["data_quality_warnings"]}


# --------------------------------------------------------------------------- counts


def test_a_count_too_large_to_be_a_count_is_left_out_with_its_value_and_row() -> None:
    text = HEAD + "a.com,1000,0.1,2,0.01\nb.com,1e19,0.2,3,0.02\nc.com,2000,0.1,1,0.01\n"
    result = score(text.encode(), PP)
    warning = _codes(result)["count_too_large"]
    assert warning["count"] == 1
    assert warning["column"] == "Impressions"
    assert "'1e19' in row 3 (the header is row 1)" in str(warning["message"])
    assert "9,007,199,254,740,992" in str(warning["message"])
    assert "missing_impressions" not in _codes(result)  # said once, by the right warning
    assert set(result.results["domain"].to_list()) == {"a.com", "c.com"}  # b.com: no volume
    assert result.results["impressions"].dtype == pl.Int64


def test_the_largest_exact_count_is_kept() -> None:
    text = HEAD + f"a.com,{int(MAX_COUNT)},0.1,2,0.01\nb.com,2000,0.2,3,0.02\n"
    result = score(text.encode(), PP)
    assert "count_too_large" not in _codes(result)
    assert result.results["impressions"].max() == int(MAX_COUNT)


def test_sums_beyond_exact_integers_stay_numbers() -> None:
    """Each count is exact; 2,000 of them summed are not: shown as floats, not a crash."""
    rows = "".join("big.com,9000000000000000,0.1,2,0.01\n" for _ in range(2_000))
    result = score((HEAD + rows + "a.com,1000,0.1,2,0.01\n").encode(), PP)
    assert result.results["impressions"].dtype == pl.Float64
    assert result.results["impressions"].max() == pytest.approx(1.8e19)


# --------------------------------------------------------------------------- names


def test_a_name_longer_than_the_limit_drops_its_row_with_a_reason() -> None:
    long_name = "x" * (MAX_NAME_LENGTH + 1)
    kept_name = "y" * MAX_NAME_LENGTH
    text = HEAD + f"a.com,1000,0.1,2,0.01\n{long_name},500,0.1,2,0.01\n{kept_name},700,0.1,2,0.01\n"
    result = score(text.encode(), PP)
    assert result.report.rows_dropped == {"dimension_too_long": 1}
    assert result.summary()["rows"]["dropped_total"] == 1
    assert set(result.results["domain"].to_list()) == {"a.com", kept_name}
    warning = _codes(result)["dimension_too_long"]
    assert "longer than 512 characters (the longest has 513)" in str(warning["message"])


def test_a_40_mb_cell_is_one_dropped_row() -> None:
    text = (
        HEAD + "a.com,1000,0.1,2,0.01\n" + "z" * 40_000_000 + ",5,0.1,2,0.01\nb.com,900,0.2,1,0\n"
    )
    result = score(text.encode(), PP)
    assert result.report.rows_dropped == {"dimension_too_long": 1}
    assert result.report.rows_read == 3
    assert "40,000,000" in str(_codes(result)["dimension_too_long"]["message"])


def test_only_overlong_names_is_no_scorable_rows_saying_why() -> None:
    text = HEAD + "x" * 600 + ",1000,0.1,2,0.01\n"
    with pytest.raises(NoScorableRowsError, match=r"1 row\(s\) whose domain is longer than 512"):
        score(text.encode(), PP)


def test_nul_characters_are_removed_from_names() -> None:
    text = (
        HEAD
        + FILLER  # a NUL in the first 64 KiB makes the file look binary (refused)
        + "exa\x00mple.com,300,0.1,2,0.01\nexample.com,300,0.1,2,0.01\n\x00\x00\x00,5,0.1,1,0\n"
    )
    result = score(text.encode(), PP)
    example = result.results.filter(pl.col("domain") == "example.com").row(0, named=True)
    assert example["source_rows"] == 2
    assert not result.results["domain"].str.contains("\x00", literal=True).any()
    assert result.report.rows_dropped == {"missing_dimension": 1}
    assert _codes(result)["nul_in_names"]["count"] == 2


def test_nul_characters_from_a_workbook_are_removed_too() -> None:
    """A workbook escapes them (``_x0000_``) anywhere, the header row included."""
    rows = (
        f'<row r="1">{wb.text_cell("A1", "Dom_x0000_ain ")}{wb.text_cell("B1", "Impressions")}'
        f"{wb.text_cell('C1', 'CTR')}{wb.text_cell('D1', 'eCPM')}"
        f"{wb.text_cell('E1', 'Conversion Rate')}</row>"
    )
    for r, name in enumerate(["exa_x0000_mple.com", "example.com", "b.com"], start=2):
        rows += (
            f'<row r="{r}">{wb.text_cell(f"A{r}", name)}{wb.number_cell(f"B{r}", 300 * r)}'
            f"{wb.number_cell(f'C{r}', 0.1)}{wb.number_cell(f'D{r}', 2)}"
            f"{wb.number_cell(f'E{r}', 0.01)}</row>"
        )
    result = score(wb.xlsx(wb.sheet_xml(rows)), PP)
    assert result.report.column_mapping.get("Domain") == "domain"
    assert sorted(result.results["domain"].to_list()) == ["b.com", "example.com"]
    assert _codes(result)["nul_in_names"]["count"] == 1


# --------------------------------------------------------------------------- text


def test_utf8_with_windows_1252_lines_after_the_sniffed_head_decodes_each_right(
    tmp_path: Path,
) -> None:
    data = (HEAD + "café.fr,400,0.1,2,0.01\n" + FILLER).encode()
    data += "bücher.de,400,0.1,2,0.01\n".encode("cp1252")
    for source in (data, tmp_path / "mixed.csv"):
        if isinstance(source, Path):
            source.write_bytes(data)
        table = open_table(source)
        names = table.load([0])["c0"].to_list()
        assert names[0] == "café.fr"
        assert names[-1] == "bücher.de"
        result = score(source, PP)
        assert {"café.fr", "bücher.de"} <= set(result.results["domain"].to_list())
        warning = _codes(result)["windows_1252_lines"]
        assert warning["count"] == 1
        assert "the first at line 12003" in str(warning["message"])
        assert result.report.encoding == "utf-8"


def test_a_file_without_any_utf8_stays_windows_1252_without_a_warning() -> None:
    data = (HEAD + "café.fr,400,0.1,2,0.01\nbücher.de,300,0.2,1,0\n").encode("cp1252")
    table = open_table(data)
    assert table.encoding == "windows-1252"
    assert table.warnings == ()
    assert table.load([0])["c0"].to_list() == ["café.fr", "bücher.de"]


@pytest.mark.parametrize("source", ["bytes", "path"])
def test_cr_line_endings_are_lines(source: str, tmp_path: Path) -> None:
    text = (HEAD + "a.com,1000,0.1,2,0.01\nb.com,2000,0.2,3,0.02\n").replace("\n", "\r")
    data: bytes | Path = text.encode()
    if source == "path":
        data = tmp_path / "mac.csv"
        data.write_bytes(text.encode())
    table = open_table(data)
    assert table.headers == ("Domain", "Impressions", "CTR", "eCPM", "Conversion Rate")
    assert table.load([0, 1]).rows() == [("a.com", "1000"), ("b.com", "2000")]
    assert score(data, PP).report.rows_scored == 2


def test_a_header_row_without_an_end_is_refused() -> None:
    data = b"Site," * 20_000  # 100 KB and no line break
    with pytest.raises(UnreadableFileError, match=r"header row\) is longer than 65,536 bytes"):
        open_table(data)
    assert open_table(b"Site,Impressions").headers == ("Site", "Impressions")
