"""`caliber score --impact` (issue 18 §3): printed, and in summary.json under "impact",
right against figures computed here from the export's own counts, the lists the command
wrote and the scores of results.csv; with and without --confidence."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from caliber.cli.main import main

SETUP = ["-p", "trade_desk", "-g", "action", "-c", "display"]
HEADERS = (
    "Site",
    "Impressions",
    "Advertiser Cost (Adv Currency)",
    "Clicks",
    "All Last Click + View Conversions",
    "IAS Display Fully In View 1 Second Rate",
    "Ad Load - XL (Excessive) - Impressions",
    "Ad Refresh - Below 15s - Impressions",
)


def sites_of(count: int = 60, shift: int = 0) -> dict[str, dict[str, float]]:
    """``count`` sites from 400 to ~160,000 impressions, rates spread so both lists
    fill (``shift``: another week's figures)."""
    sites = {}
    for j in range(count):
        i = j + shift
        imps = 400 + (i * 7919) % 60 * 2700
        sites[f"site{j:02d}.com"] = {
            "impressions": imps,
            "spend": round(imps * (1.5 + (i * 13) % 9 * 0.5) / 1000, 2),
            "clicks": imps * ((i * 17) % 11) // 2000,
            "conversions": imps * ((i * 5) % 7) // 40000,
            "view": round(0.35 + ((i * 11) % 10) * 0.05, 2),
            "xl": imps * ((i * 3) % 8) // 100,
            "refresh": imps * ((i * 7) % 9) // 100,
        }
    return sites


def export_csv(sites: dict[str, dict[str, float]]) -> str:
    """The sites as a Trade Desk display export."""
    lines = [",".join(HEADERS)]
    for name, s in sites.items():
        lines.append(
            f"{name},{s['impressions']},{s['spend']},{s['clicks']},{s['conversions']},"
            f"{s['view']},{s['xl']},{s['refresh']}"
        )
    return "\n".join(lines) + "\n"


def _write(path: Path, sites: dict[str, dict[str, float]]) -> None:
    path.write_text(export_csv(sites), encoding="utf-8")


def _names(path: Path) -> set[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["domain"] for row in csv.DictReader(handle)}


def _scores(path: Path) -> dict[str, float]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["domain"]: float(row["score"]) for row in csv.DictReader(handle)}


def expected(
    sites: dict[str, dict[str, float]], white: set[str], black: set[str], scores: dict[str, float]
) -> dict[str, Any]:
    """The impact worked out from the counts: blocking drops the blacklist's sites;
    moving gives each whitelisted site (not blocked, with spend) R·s/S more spend at its
    own CPM, so its counts grow by 1 + R/S."""
    removed = sum(sites[n]["spend"] for n in black)
    receiving = [n for n in white - black if sites[n]["spend"] > 0]
    growth = 1 + removed / sum(sites[n]["spend"] for n in receiving) if receiving else 1.0

    def figures(weight: dict[str, float]) -> dict[str, float]:
        def total(key: str) -> float:
            return sum(sites[n][key] * w for n, w in weight.items())

        imps = total("impressions")
        return {
            "impressions": imps,
            "spend": total("spend"),
            "clicks": total("clicks"),
            "conversions": total("conversions"),
            "cpm": total("spend") / imps * 1000,
            "ctr": total("clicks") / imps,
            "conversion_rate": total("conversions") / imps,
            "ias_display_fully_in_view_1s_rate": sum(
                sites[n]["view"] * sites[n]["impressions"] * w for n, w in weight.items()
            )
            / imps,
            "ad_load_xl_rate": total("xl") / imps,
            "ad_refresh_below_15s_rate": total("refresh") / imps,
            "campaign_score": sum(
                scores[n] * sites[n]["impressions"] * w for n, w in weight.items()
            )
            / imps,
        }

    before = dict.fromkeys(sites, 1.0)
    after_block = {n: 1.0 for n in sites if n not in black}
    after_move = {n: growth if n in receiving else 1.0 for n in after_block}
    return {
        "before": figures(before),
        "after_block": figures(after_block),
        "after_move": figures(after_move),
        "growth": growth,
    }


def check(impact: dict[str, Any], want: dict[str, Any], black: set[str]) -> None:
    before = want["before"]
    assert impact["removed"]["domains"] == len(black)
    for volume in ("impressions", "spend", "clicks", "conversions"):
        gone = before[volume] - want["after_block"][volume]
        assert impact["removed"][volume]["value"] == pytest.approx(gone, abs=1e-6)
        assert impact["removed"][volume]["share"] == pytest.approx(gone / before[volume], abs=1e-6)
    for state in ("before", "after_block", "after_move"):
        for name, value in impact[state].items():
            places = {"campaign_score": 0.006, "cpm": 1e-4}.get(name, 1e-8)
            assert value == pytest.approx(want[state][name], abs=places), (state, name)
        for volume, value in impact["totals"][state].items():
            assert value == pytest.approx(want[state][volume], abs=0.01), (state, volume)
    assert impact["move"]["growth"] == pytest.approx(want["growth"], abs=1e-8)


def test_impact_is_printed_and_written_in_the_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = sites_of()
    path = tmp_path / "export.csv"
    _write(path, sites)
    out = tmp_path / "out"
    assert main(["score", str(path), *SETUP, "-o", str(out), "--impact"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    impact = summary["impact"]
    white, black = _names(out / "whitelist.csv"), _names(out / "blacklist.csv")
    assert white
    assert black
    assert impact["lists"] == "classic"
    want = expected(sites, white, black, _scores(out / "results.csv"))
    check(impact, want, black)
    # before blocking is the summary's own campaign score
    assert impact["before"]["campaign_score"] == summary["campaign_level_score"]
    assert "What applying the lists would do (classic lists)" in printed
    assert f"blacklisted rows removed  {len(black)}" in printed
    share = impact["removed"]["spend"]["share"]
    assert f"({share:.1%})" in printed
    assert "after blocking" in printed
    assert "after moving" in printed
    assert "Assumptions:" in printed
    assert "in proportion to each one's current spend" in printed


def test_impact_uses_the_confident_lists_with_confidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sites = sites_of()
    path = tmp_path / "export.csv"
    _write(path, sites)
    out = tmp_path / "sure"
    args = ["score", str(path), *SETUP, "-o", str(out), "--confidence", "0.8", "--impact"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    impact = json.loads((out / "summary.json").read_text(encoding="utf-8"))["impact"]
    white, black = _names(out / "whitelist.csv"), _names(out / "blacklist.csv")
    assert white
    assert black
    # the lists in use are the confident ones, not the classic ones beside them
    assert (white, black) != (
        _names(out / "whitelist_classic.csv"),
        _names(out / "blacklist_classic.csv"),
    )
    assert (impact["lists"], impact["list_confidence"]) == ("confident", 0.8)
    check(impact, expected(sites, white, black, _scores(out / "results.csv")), black)
    assert "What applying the lists would do (confident lists at 0.8)" in printed


def test_without_impact_the_summary_has_none_and_quiet_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "export.csv"
    _write(path, sites_of())
    assert main(["score", str(path), *SETUP, "-o", str(tmp_path / "a")]) == 0
    assert "What applying" not in capsys.readouterr().out
    assert "impact" not in json.loads((tmp_path / "a" / "summary.json").read_text("utf-8"))
    assert main(["score", str(path), *SETUP, "-o", str(tmp_path / "b"), "--impact", "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert "impact" in json.loads((tmp_path / "b" / "summary.json").read_text("utf-8"))


def test_a_file_without_spend_clicks_or_conversions_says_why_in_the_printout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CTV export (TV quality and unique IDs only): spend, clicks, conversions and
    their rates are n/a with the reason, nothing is moved, the quality rates are there."""
    lines = [
        "Supply Vendor,Impressions,TV Quality Index Raw,TV Quality Index Measured Impressions,"
        "Unique IDs"
    ]
    lines += [
        f"vendor{i},{1000 + 500 * i},{(1000 + 500 * i) * (i % 9) // 10},{1000 + 500 * i},"
        f"{(1000 + 500 * i) * ((i * 7) % 10) // 12}"
        for i in range(30)
    ]
    path = tmp_path / "ctv.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "ctv"]
    assert main(["score", str(path), *setup, "-o", str(tmp_path / "ctv"), "--impact"]) == 0
    printed = capsys.readouterr().out
    impact = json.loads((tmp_path / "ctv" / "summary.json").read_text("utf-8"))["impact"]
    for volume in ("spend", "clicks", "conversions"):
        assert impact["removed"][volume] == {"value": None, "share": None}
    assert impact["removed"]["impressions"]["share"] > 0
    assert impact["before"]["cpm"] is None
    assert (
        impact["after_block"]["tv_quality_index_rate"] > impact["before"]["tv_quality_index_rate"]
    )
    assert impact["move"] == {**impact["move"], "possible": False}
    assert "spend removed             n/a (the file has no spend" in printed
    assert "none: the file has no spend: there is no spend to move" in printed
    assert "No CTR: the file has no clicks or CTR." in printed
