"""Cleaning rules of scoring.md §2-3, one at a time, on tiny hand-made files."""

from __future__ import annotations

import polars as pl
import pytest

from caliber.engine.config import Channel, Goal, Platform, Setup
from caliber.engine.errors import MissingColumnError, MissingMetricError
from caliber.engine.pipeline import ScoringResult, score

PP_AWARE = Setup.create("pulsepoint", "awareness", "display", min_impressions=0)


def _csv(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _rows(result: ScoringResult) -> dict[str, dict[str, object]]:
    return {r[result.dimension]: r for r in result.results.to_dicts()}


def test_money_thousands_percent_and_missing_markers() -> None:
    data = _csv(
        "Domain,Impressions,Total Spend,Clicks,Conversions",
        'a.com,"1,000","$1,500.00",10,1',
        "b.com,2000,€3.00,20,N/A",
        "c.com, 3000 ,£ 6.00,--,null",
        "d.com,4000,-,30,2",
    )
    rows = _rows(score(data, PP_AWARE))
    assert rows["a.com"]["impressions"] == 1000
    assert rows["a.com"]["spend"] == 1500.0
    assert rows["a.com"]["ecpm"] == pytest.approx(1500.0)
    assert rows["b.com"]["spend"] == 3.0
    assert rows["c.com"]["spend"] == 6.0
    assert rows["c.com"]["ctr"] is None  # clicks missing -> no CTR, never 0
    assert rows["b.com"]["conversion_rate"] is None
    assert rows["d.com"]["spend"] is None
    assert rows["d.com"]["ecpm"] is None


def test_rate_column_with_percent_signs_is_divided_by_100() -> None:
    data = _csv(
        "Domain,Impressions,eCPM,CTR,Conversion Rate",
        "a.com,1000,2,0.5%,0.1",
        "b.com,1000,3,1.5%,0.2",
    )
    result = score(data, PP_AWARE)
    rows = _rows(result)
    assert rows["a.com"]["ctr"] == pytest.approx(0.005)
    assert rows["b.com"]["ctr"] == pytest.approx(0.015)
    assert rows["a.com"]["conversion_rate"] == pytest.approx(0.1)  # max <= 1: a fraction
    assert result.report.percent_columns == ["CTR"]


def test_rate_column_above_one_counts_as_percentage() -> None:
    data = _csv(
        "Domain,Impressions,eCPM,CTR,Conversion Rate", "a.com,1000,2,0.5,12", "b.com,1000,3,1.5,8"
    )
    rows = _rows(score(data, PP_AWARE))
    assert rows["a.com"]["ctr"] == pytest.approx(0.005)
    assert rows["a.com"]["conversion_rate"] == pytest.approx(0.12)


def test_counts_are_preferred_to_rate_columns() -> None:
    data = _csv(
        "Domain,Impressions,Clicks,CTR,Total Spend,eCPM,Conversions",
        "a.com,1000,10,99%,5.00,$999,1",
        "b.com,1000,20,99%,4.00,$999,1",
    )
    result = score(data, PP_AWARE)
    rows = _rows(result)
    assert rows["a.com"]["ctr"] == pytest.approx(0.01)
    assert rows["a.com"]["ecpm"] == pytest.approx(5.0)
    assert "Clicks / Impressions" in result.report.metric_sources["ctr"]


def test_rate_columns_are_impression_weighted_over_rows_that_have_them() -> None:
    data = _csv(
        "Date,Domain,Impressions,eCPM,CTR,Conversion Rate",
        "d1,a.com,1000,2.00,1%,0.1%",
        "d2,a.com,3000,4.00,3%,N/A",
        "d3,a.com,500,-,-,-",
        "d1,b.com,1000,1.00,1%,0.2%",
    )
    rows = _rows(score(data, PP_AWARE))
    assert rows["a.com"]["impressions"] == 4500
    assert rows["a.com"]["ecpm"] == pytest.approx((2 * 1000 + 4 * 3000) / 4000)
    assert rows["a.com"]["ctr"] == pytest.approx((0.01 * 1000 + 0.03 * 3000) / 4000)
    assert rows["a.com"]["conversion_rate"] == pytest.approx(0.001)
    assert rows["a.com"]["source_rows"] == 3


def test_division_by_zero_is_missing_not_inf() -> None:
    data = _csv(
        "Domain,Impressions,Total Spend,Clicks,Conversions",
        "a.com,0,5.00,0,0",
        "b.com,1000,5.00,10,1",
        "c.com,1000,6.00,12,2",
    )
    setup = Setup(
        Platform.PULSEPOINT,
        Goal.AWARENESS,
        Channel.DISPLAY,
        min_impressions=0,
        pulsepoint_min_share=0.0,
    )
    rows = _rows(score(data, setup))
    assert rows["a.com"]["ecpm"] is None
    assert rows["a.com"]["ctr"] is None
    assert rows["a.com"]["ecpm_normalized"] == 0.0


def test_aggregate_rows_match_whole_values_only() -> None:
    data = _csv(
        "Date,Domain,Impressions,Total Spend,Clicks,Conversions",
        "d1,totalsportek.com,1000,1,1,0",
        "d1,summaryjournal.com,1000,1,1,0",
        "d1, Grand Total ,9000,9,9,0",
        "d1,[Tail Aggregate],1000,1,1,0",
        "d1,(not set),1000,1,1,0",
        "d1,Row Labels,1000,1,1,0",
        "Totals,,9000,9,9,0",
        "SUMMARY,x.com,9000,9,9,0",
        "d1,,1000,1,1,0",
        "d1,   ,1000,1,1,0",
    )
    result = score(data, PP_AWARE)
    assert sorted(_rows(result)) == ["summaryjournal.com", "totalsportek.com"]
    assert result.report.rows_read == 10
    assert result.report.rows_dropped == {"aggregate_row": 6, "missing_dimension": 2}


def test_dimension_values_are_trimmed_lowercased_and_www_stripped() -> None:
    data = _csv(
        "Date,Domain,Impressions,Total Spend,Clicks,Conversions",
        "d1,WWW.Example.com ,100,1,1,0",
        "d2,example.com,200,1,1,0",
        "d3, www.example.com,300,1,1,0",
        "d1,other.com,600,1,1,0",
    )
    rows = _rows(score(data, PP_AWARE))
    assert set(rows) == {"example.com", "other.com"}
    assert rows["example.com"]["impressions"] == 600
    assert rows["example.com"]["source_rows"] == 3


def test_trade_desk_report_by_day_and_vendor_collapses_to_one_row_per_site() -> None:
    data = _csv(
        "Date,Site,Supply Vendor,Impressions,Clicks,Advertiser Cost (Adv Currency),"
        "IAS Display Fully In View 1 Second Rate,Ad Load - XL (Excessive) - Impressions,"
        "Ad Refresh - Below 15s - Impressions",
        "d1,a.com,Rubicon,1000,10,$2.00,50%,100,10",
        "d1,a.com,OpenX,1000,0,$4.00,70%,0,30",
        "d2,a.com,Rubicon,2000,10,$6.00,60%,100,0",
        "d1,b.com,Rubicon,1000,5,$1.00,80%,0,0",
    )
    setup = Setup.create("trade_desk", "awareness", "display")
    result = score(data, setup)
    rows = _rows(result)
    assert list(result.results["domain"]).count("a.com") == 1
    a = rows["a.com"]
    assert a["impressions"] == 4000
    assert a["cpm"] == pytest.approx(12.0 / 4000 * 1000)
    assert a["ctr"] == pytest.approx(20 / 4000)
    assert a["ias_display_fully_in_view_1s_rate"] == pytest.approx((0.5 + 0.7 + 1.2) / 4)
    assert a["ad_load_xl_rate"] == pytest.approx(200 / 4000)
    assert a["ad_refresh_below_15s_rate"] == pytest.approx(40 / 4000)


def test_ctv_scores_by_supply_vendor() -> None:
    data = _csv(
        "Date,Site,Supply Vendor,Impressions,TV Quality Index Raw,"
        "TV Quality Index Measured Impressions,Unique IDs",
        "d1,Roku,Magnite,1000,800,1000,300",
        "d1,Pluto,magnite ,1000,600,1000,200",
        "d1,Roku,FreeWheel,500,100,500,400",
    )
    result = score(data, Setup.create("trade_desk", "action", "ctv"))
    rows = _rows(result)
    assert result.dimension == "supply_vendor"
    assert set(rows) == {"magnite", "freewheel"}
    assert rows["magnite"]["tv_quality_index_rate"] == pytest.approx(0.7)
    assert rows["magnite"]["unique_id_ratio"] == pytest.approx(0.25)


def test_volume_filter_min_impressions_and_pulsepoint_share() -> None:
    lines = ["Domain,Impressions,Total Spend,Clicks,Conversions"]
    lines += [f"big{i}.com,1000000,100,100,1" for i in range(3)]
    lines += ["mid.com,1600,1,1,0", "small.com,1400,1,1,0", "tiny.com,249,1,1,0"]
    data = _csv(*lines)
    pp = score(data, Setup.create("pulsepoint", "awareness", "display"))
    # 0.0005 × 3,003,249 = 1,501.6: small.com is out although above 250
    assert sorted(_rows(pp)) == ["big0.com", "big1.com", "big2.com", "mid.com"]
    assert pp.report.rows_filtered == 2
    assert pp.report.filter_threshold == pytest.approx(0.0005 * 3_003_249)
    td = Setup.create("trade_desk", "awareness", "display")
    td_data = data.replace(b"Domain", b"Site").replace(b"Total Spend", b"Advertiser Cost")
    td_data = td_data.replace(b"Conversions", b"IAS Display Fully In View 1 Second Rate")
    td_data = td_data.replace(b"\n", b",0,0\n").replace(
        b"Rate,0,0", b"Rate,Ad Load XL Impressions,Ad Refresh Below 15s Impressions"
    )
    trade_desk = score(td_data, td)
    assert "small.com" in _rows(trade_desk)
    assert "tiny.com" not in _rows(trade_desk)


def test_missing_metric_names_the_headers_that_would_fix_it() -> None:
    data = _csv("Domain,Impressions,Total Spend", "a.com,1000,1")
    with pytest.raises(MissingMetricError) as info:
        score(data, PP_AWARE)
    message = info.value.message
    assert "ctr needs 'Clicks' and 'Impressions' or 'CTR'" in message
    assert "conversion_rate" in message
    assert info.value.details["missing_metrics"] == ["ctr", "conversion_rate"]


def test_missing_dimension_names_the_accepted_headers() -> None:
    with pytest.raises(MissingColumnError) as info:
        score(_csv("Name,Impressions,CTR", "a,1,1"), PP_AWARE)
    # a PulsePoint setup names PulsePoint's header, not the Trade Desk's 'Site' (issue 16);
    # every accepted spelling stays in the details
    assert "'Domain'" in info.value.message
    assert "'Site'" not in info.value.message
    assert "Site" in info.value.details["accepted_headers"]


def test_unmapped_columns_are_reported() -> None:
    data = _csv(
        "Domain,Impressions,Total Spend,Clicks,Conversions,Creative,Ad Format",
        "a.com,1000,1,1,0,x,y",
        "b.com,1000,1,1,0,x,y",
    )
    result = score(data, PP_AWARE)
    assert result.report.unmapped_columns == ["Creative", "Ad Format"]
    assert result.report.column_mapping["Total Spend"] == "spend"


def test_quality_warnings() -> None:
    data = _csv(
        "Domain,Impressions,Total Spend,Clicks,Conversions,CTR",
        "a.com,1000,-5,10,1,0.5",
        "b.com,1000,5000,2000,1,0.2",
        "c.com,1000,5,abc,1,0.1",
        "d.com,,5,1,1,0.1",
    )
    result = score(data, PP_AWARE)
    codes = {w.code: w for w in result.report.warnings}
    assert codes["negative_counts"].column == "Total Spend"
    assert codes["negative_counts"].count == 1
    assert codes["unparseable_values"].column == "Clicks"
    assert codes["missing_impressions"].count == 1
    assert codes["cpm_above_1000"].count == 1  # b.com: 5000 / 1000 × 1000
    assert codes["rate_out_of_range"].count == 1  # b.com: 2000 clicks on 1000 impressions
    rows = _rows(result)
    assert rows["a.com"]["spend"] is None  # a negative count is not summed


def test_dataframe_input_gives_the_same_result_as_bytes() -> None:
    data = _csv(
        "Domain,Impressions,Total Spend,Clicks,Conversions",
        "a.com,1000,1.5,10,1",
        "b.com,2000,2.5,5,3",
        "c.com,3000,9.0,40,0",
    )
    frame = pl.DataFrame(
        {
            "Domain": ["a.com", "b.com", "c.com"],
            "Impressions": [1000, 2000, 3000],
            "Total Spend": [1.5, 2.5, 9.0],
            "Clicks": [10, 5, 40],
            "Conversions": [1, 3, 0],
        }
    )
    from_bytes = score(data, PP_AWARE).results
    from_frame = score(frame, PP_AWARE).results
    assert from_frame.select("domain", "score").equals(from_bytes.select("domain", "score"))
    from_pandas = score(frame.to_pandas(), PP_AWARE).results
    assert from_pandas.select("domain", "score").equals(from_bytes.select("domain", "score"))


def test_source_must_be_bytes_or_a_frame() -> None:
    with pytest.raises(TypeError, match="file bytes, a path or a DataFrame"):
        score("a.com,1", PP_AWARE)
