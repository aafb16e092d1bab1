"""The `caliber` command line, in process and as a real process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from caliber.cli.main import main
from tests.engine import workbooks as wb
from tests.engine.column_exports import per_tag_twins, publisher_twins, total
from tests.engine.exports import make_export
from tests.engine.number_exports import number_twins


@pytest.fixture
def td_file(tmp_path: Path) -> Path:
    path = tmp_path / "td.csv"
    path.write_text(make_export("trade_desk", "display", seed=5), encoding="utf-8")
    return path


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_score_writes_results_lists_and_summary(
    td_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(
        [
            "score",
            str(td_file),
            "--platform",
            "trade_desk",
            "--goal",
            "awareness",
            "--channel",
            "display",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "rows read" in printed
    assert "Top 5" in printed
    assert "Bottom 5" in printed
    results = _read_csv(out / "results.csv")
    header = list(results[0])
    assert header[:7] == [
        "domain",
        "impressions",
        "spend",
        "cpm",
        "ctr",
        "conversions",
        "conversion_rate",
    ]
    for column in ("score", "percentile_rank", "quality_status", "cpm_normalized", "outlier_flags"):
        assert column in header
    domains = [r["domain"] for r in results]
    assert len(domains) == len(set(domains))
    scores = [float(r["score"]) for r in results]
    assert scores == sorted(scores, reverse=True)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert isinstance(summary["campaign_level_score"], float)
    assert summary["rows"]["scored"] == len(results)
    assert summary["weights"]["ias_display_fully_in_view_1s_rate"] == 0.25
    assert summary["processing_report"]["column_mapping"]["Site"] == "domain"
    whitelist = _read_csv(out / "whitelist.csv")
    blacklist = _read_csv(out / "blacklist.csv")
    assert list(whitelist[0])[:3] == ["domain", "score", "impressions"]
    assert [float(r["score"]) for r in whitelist] == sorted(
        (float(r["score"]) for r in whitelist), reverse=True
    )
    assert [float(r["score"]) for r in blacklist] == sorted(float(r["score"]) for r in blacklist)
    assert len(whitelist) == summary["lists"]["whitelist_count"]


def test_ctv_results_are_keyed_by_supply_vendor(tmp_path: Path) -> None:
    path = tmp_path / "ctv.csv"
    path.write_text(make_export("trade_desk", "ctv", seed=3), encoding="utf-8")
    out = tmp_path / "out"
    args = ["score", str(path), "-p", "trade_desk", "-g", "action", "-c", "ctv", "-o", str(out)]
    assert main([*args, "--quiet"]) == 0
    assert next(iter(_read_csv(out / "results.csv")[0])) == "supply_vendor"
    assert next(iter(_read_csv(out / "whitelist.csv")[0])) == "supply_vendor"


def test_custom_weights_from_json_and_file(td_file: Path, tmp_path: Path) -> None:
    weights = {
        "cpm": 0.0,
        "ias_display_fully_in_view_1s_rate": 0.0,
        "ctr": 1.0,
        "ad_load_xl_rate": 0.0,
        "ad_refresh_below_15s_rate": 0.0,
    }
    base = ["score", str(td_file), "-p", "trade_desk", "-g", "awareness", "-c", "display", "-q"]
    assert main([*base, "--weights", json.dumps(weights), "-o", str(tmp_path / "a")]) == 0
    weights_file = tmp_path / "w.json"
    weights_file.write_text(json.dumps(weights), encoding="utf-8")
    assert main([*base, "--weights", f"@{weights_file}", "-o", str(tmp_path / "b")]) == 0
    rows = _read_csv(tmp_path / "a" / "results.csv")
    # CTR alone decides: the score is the normalized CTR
    for row in rows:
        assert float(row["score"]) == pytest.approx(float(row["ctr_normalized"]), abs=0.005)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    assert summary["weights"]["ctr"] == 1.0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-p", "pulsepoint", "-g", "awareness", "-c", "ctv"], "supported channels"),
        (["-p", "trade_desk", "-g", "awareness", "-c", "video"], "player_completion_rate"),
        (["-p", "tiktok", "-g", "awareness", "-c", "display"], "accepted: trade_desk"),
        (["-p", "trade_desk", "-g", "awareness", "-c", "display", "--weights", "{x"], "JSON"),
        (["-p", "trade_desk", "-g", "awareness", "-c", "display", "--weights", "[1]"], "object"),
        (
            ["-p", "trade_desk", "-g", "awareness", "-c", "display", "--weights", '{"ctr": 1}'],
            "missing metric",
        ),
        (
            ["-p", "trade_desk", "-g", "awareness", "-c", "display", "--min-impressions", "-3"],
            "min_impressions",
        ),
        (["-p", "trade_desk", "-c", "display"], "--goal"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    td_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    words: str,
) -> None:
    code = main(["score", str(td_file), *args, "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("caliber: error: ")
    assert err.count("\n") == 1
    assert words in err
    assert not (tmp_path / "o" / "results.csv").exists()


def test_bad_files_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for path, words in (
        (junk, "looks binary"),
        (empty, "empty"),
        (tmp_path / "missing.csv", "no such file"),
        (tmp_path, "is a directory"),
    ):
        code = main(["score", str(path), "-p", "trade_desk", "-g", "action", "-c", "display"])
        err = capsys.readouterr().err
        assert code == 2, path
        assert words in err


def test_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("Site,Impressions\nexample.com,1000\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "caliber.cli",
            "score",
            str(path),
            "-p",
            "trade_desk",
            "-g",
            "awareness",
            "-c",
            "display",
            "-o",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr
    assert "ctr needs 'Clicks' and 'Impressions'" in done.stderr


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("sparse.xlsx", "the first sheet's cells span A1:XFD1048576 (17,179,869,184 cells)"),
        ("sparse.xls", "declares 65,536 rows × 256 columns"),
    ],
)
def test_a_sparse_workbook_exits_2_with_one_line(tmp_path: Path, name: str, words: str) -> None:
    """In a real process: the reader used to abort it (exit 134) asking for 512 GiB."""
    path = tmp_path / name
    if name.endswith(".xlsx"):
        path.write_bytes(wb.sparse_xlsx())
    else:
        path.write_bytes(wb.xls([(0, 0, "Site"), (65535, 255, "x")]))
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]
    done = subprocess.run(
        [sys.executable, "-m", "caliber.cli", "score", str(path), *setup, "-o", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("caliber: error: ")
    assert done.stderr.count("\n") == 1
    assert words in done.stderr


def test_configs_json_lists_every_setup(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["configs", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    setups = payload["setups"]
    assert len(setups) == 9
    ctv = next(s for s in setups if s["channel"] == "ctv")
    assert ctv["analysis_level"] == "supply_vendor"
    assert [m["name"] for m in ctv["metrics"]] == ["tv_quality_index_rate", "unique_id_ratio"]
    assert "Supply Vendor" in ctv["dimension_headers"]
    assert payload["input_columns"]["spend"]["headers"][0] == "Advertiser Cost (Adv Currency)"
    for setup in setups:
        assert setup["defaults"]["min_impressions"] == 250


def test_configs_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert "pulsepoint / action / display" in out
    assert "lower is better" in out


def test_sample_then_score(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sample = tmp_path / "new" / "dir" / "pp.csv"  # parent folders are created
    assert main(["sample", "-p", "pulsepoint", "-c", "video", "-n", "3000", "-o", str(sample)]) == 0
    assert "wrote 3,000 rows" in capsys.readouterr().err
    out = tmp_path / "scored"
    code = main(
        ["score", str(sample), "-p", "pulsepoint", "-g", "awareness", "-c", "video", "-o", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "scored" in printed
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["rows"]["read"] == 3000
    assert summary["rows"]["dropped"]["aggregate_row"] >= 1
    assert "completion_rate" in summary["weights"]


def test_sample_refuses_unsupported_channels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["sample", "-p", "pulsepoint", "-c", "ctv", "-o", str(tmp_path / "x.csv")])
    assert code == 2
    assert "display, video" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["score", "--help"])
    assert info.value.code == 0
    assert "--min-impressions" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "score" in capsys.readouterr().out


# --------------------------------------------------------------------------- --column (issue 16)


def _score_args(path: Path, setup: list[str], out: Path) -> list[str]:
    return ["score", str(path), *setup, "-o", str(out), "-q"]


def test_per_tag_conversions_exit_2_with_the_column_arguments_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, tagged = per_tag_twins(seed=1)
    path = tmp_path / "tagged.csv"
    path.write_bytes(tagged)
    code = main(_score_args(path, ["-p", "trade_desk", "-g", "action", "-c", "display"], tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    wanted = " ".join(f'--column conversions="{total(t)}"' for t in ("01", "02", "03"))
    assert wanted in err


def test_column_adds_per_tag_conversions_up_like_the_plain_twin(tmp_path: Path) -> None:
    plain, tagged = per_tag_twins(seed=2)
    (tmp_path / "plain.csv").write_bytes(plain)
    (tmp_path / "tagged.csv").write_bytes(tagged)
    setup = ["-p", "trade_desk", "-g", "action", "-c", "display"]
    assert main(_score_args(tmp_path / "plain.csv", setup, tmp_path / "a")) == 0
    columns = ["--column", f"conversions={total('01')}", "--column", f"conversions={total('02')}"]
    assert main([*_score_args(tmp_path / "tagged.csv", setup, tmp_path / "b"), *columns]) == 0
    for name in ("results.csv", "whitelist.csv", "blacklist.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    a, b = (json.loads((tmp_path / d / "summary.json").read_text("utf-8")) for d in "ab")
    assert a["campaign_level_score"] == b["campaign_level_score"]
    assert a["total_impressions"] == b["total_impressions"]
    assert a["rows"] == b["rows"]
    assert b["processing_report"]["input_columns"]["conversions"] == {
        "headers": [total("01"), total("02")],
        "summed": True,
        "source": "given",
    }
    assert b["processing_report"]["read_options"]["columns"] == {
        "conversions": [total("01"), total("02")]
    }


def test_column_scores_a_ctv_report_by_publisher_name(tmp_path: Path) -> None:
    plain, by_publisher = publisher_twins(seed=3)
    (tmp_path / "plain.csv").write_bytes(plain)
    (tmp_path / "publisher.csv").write_bytes(by_publisher)
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "ctv"]
    assert main(_score_args(tmp_path / "plain.csv", setup, tmp_path / "a")) == 0
    column = ["--column", "supply_vendor=Publisher Name"]
    assert main([*_score_args(tmp_path / "publisher.csv", setup, tmp_path / "b"), *column]) == 0
    for name in ("results.csv", "whitelist.csv", "blacklist.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        (["nosuch=Site"], "which is no input; the inputs are: domain"),
        (["conversions=Nope"], "no such column; its headers are: 'Date', 'Site'"),
        (["domain=Site", "domain=Date"], "domain is read from one column, not 2"),
        (["clicks=Clicks", "conversions=Clicks"], "reads both clicks and conversions"),
    ],
)
def test_column_errors_exit_2_with_one_line(
    td_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    columns: list[str],
    words: str,
) -> None:
    given = [a for c in columns for a in ("--column", c)]
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]
    code = main([*_score_args(td_file, setup, tmp_path / "o"), *given])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert words in err
    assert not (tmp_path / "o" / "results.csv").exists()


def test_configs_json_lists_every_input_column_may_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from caliber.engine.columns import INPUT_COLUMNS

    assert main(["configs", "--json"]) == 0
    inputs = json.loads(capsys.readouterr().out)["input_columns"]
    assert list(inputs) == [c.name for c in INPUT_COLUMNS]
    for name in ("domain", "supply_vendor", "impressions", "clicks", "spend", "player_starts"):
        assert name in inputs
    assert inputs["conversions"]["summable"] is True
    assert inputs["spend"]["summable"] is True
    assert inputs["domain"]["summable"] is False
    assert inputs["ctr"]["summable"] is False
    assert inputs["domain"]["platform_headers"] == {
        "trade_desk": ["Site"],
        "pulsepoint": ["Domain"],
    }
    assert inputs["spend"]["platform_headers"]["pulsepoint"] == ["Total Spend"]


# ------------------------------------------------------------- --number-format (issue 16)


@pytest.mark.parametrize(
    "name", ["ttd_international.csv", "german_resave.csv", "ttd_international_semicolon.csv"]
)
def test_exports_in_other_number_formats_score_like_their_plain_twin(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    twins = number_twins(seed=12)
    for file in ("plain.csv", name):
        (tmp_path / file).write_bytes(twins[file])
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]
    assert main(_score_args(tmp_path / "plain.csv", setup, tmp_path / "a")) == 0
    assert main(["score", str(tmp_path / name), *setup, "-o", str(tmp_path / "b")]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "decimal mark" in x]
    assert line.split() == ["decimal", "mark", "comma", "(detected)"]
    for written in ("results.csv", "whitelist.csv", "blacklist.csv"):
        assert (tmp_path / "a" / written).read_bytes() == (tmp_path / "b" / written).read_bytes()
    a, b = (json.loads((tmp_path / d / "summary.json").read_text("utf-8")) for d in "ab")
    for key in ("campaign_level_score", "total_impressions", "total_spend", "average_cpm", "rows"):
        assert a[key] == b[key], key
    assert b["processing_report"]["number_format"]["used"] == "comma"
    assert b["processing_report"]["number_format"]["decided"] == "detected"


def test_number_format_given_overrides_detection_and_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "international.csv"
    path.write_bytes(number_twins(seed=13)["ttd_international.csv"])
    setup = ["-p", "trade_desk", "-g", "awareness", "-c", "display"]
    given = ["--number-format", "point"]
    assert main(["score", str(path), *setup, "-o", str(tmp_path / "o"), *given]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text("utf-8"))
    report = summary["processing_report"]
    assert report["read_options"]["number_format"] == "point"
    reading = report["number_format"]
    assert (reading["used"], reading["decided"], reading["detected"]) == ("point", "given", "comma")
    codes = [w["code"] for w in summary["data_quality_warnings"]]
    assert "number_format_conflict" in codes
    printed = capsys.readouterr().out
    assert "point (given)" in printed
    assert "warning: " in printed


def test_confidence_writes_the_confident_lists_and_the_classic_ones_beside_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "td.csv"
    path.write_text(make_export("trade_desk", "display", seed=8, names=300), encoding="utf-8")
    setup = ["-p", "trade_desk", "-g", "action", "-c", "display"]
    assert main(_score_args(path, setup, tmp_path / "classic")) == 0
    capsys.readouterr()
    assert (
        main(["score", str(path), *setup, "-o", str(tmp_path / "sure"), "--confidence", "0.8"]) == 0
    )
    printed = capsys.readouterr().out
    assert "confidence" in printed
    assert "classic whitelist / blacklist" in printed
    classic, sure = tmp_path / "classic", tmp_path / "sure"
    assert not (classic / "whitelist_classic.csv").exists()
    # the classic lists, byte for byte, beside the confident ones
    for kind in ("whitelist", "blacklist"):
        written = (sure / f"{kind}_classic.csv").read_bytes()
        assert written == (classic / f"{kind}.csv").read_bytes()
    # results: the classic columns as they were, then confidence's
    before, after = _read_csv(classic / "results.csv"), _read_csv(sure / "results.csv")
    columns = list(before[0])
    assert list(after[0])[: len(columns)] == columns
    assert [{c: r[c] for c in columns} for r in after] == before
    added = list(after[0])[len(columns) :]
    assert added[:5] == [
        "shrunk_score",
        "score_low",
        "score_high",
        "decision",
        "impressions_needed",
    ]
    assert "shrunk_conversion_rate" in added
    assert "shrunk_cpm" not in added
    summary = json.loads((sure / "summary.json").read_text(encoding="utf-8"))
    assert summary["setup"]["list_confidence"] == 0.8
    assert summary["confidence"]["level"] == 0.8
    assert summary["confidence"]["interval"] == {"low_quantile": 0.2, "high_quantile": 0.8}
    assert set(summary["confidence"]["priors"]) >= {"ctr", "conversion_rate"}
    # the printed summary: what the level means, and each decision's rows, impressions, spend
    assert "0.8: listed only when at least 80% sure" in printed
    for name, label in (
        ("whitelist", "decided whitelist"),
        ("blacklist", "decided blacklist"),
        ("undecided", "undecided"),
    ):
        totals = summary["confidence"]["decisions"][name]
        line = next(ln for ln in printed.splitlines() if ln.strip().startswith(label + " "))
        assert line.split(maxsplit=len(label.split()))[-1] == (
            f"{totals['count']:,} ({totals['impressions']:,.0f} impressions, "
            f"spend {totals['spend']:,.2f})"
        )
    whitelist = _read_csv(sure / "whitelist.csv")
    assert list(whitelist[0]) == [
        "domain",
        "score",
        "shrunk_score",
        "score_low",
        "score_high",
        "impressions",
        "percentile_rank",
        "quality_status",
    ]
    assert len(whitelist) == summary["lists"]["whitelist_count"]
    threshold = summary["lists"]["whitelist_min_score"]
    assert all(float(r["score_low"]) >= threshold for r in whitelist)
    decided = {r["domain"] for r in after if r["decision"] == "whitelist"}
    assert {r["domain"] for r in whitelist} == decided
    blacklist = _read_csv(sure / "blacklist.csv")
    assert len(blacklist) == summary["lists"]["blacklist_count"]
    assert len(blacklist) < len(_read_csv(classic / "blacklist.csv"))


def test_confidence_help_says_what_the_level_means(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    assert "only when Caliber is at least LEVEL sure it belongs there" in text
    assert "score_low (the 1 - LEVEL quantile of its score)" in text
    assert "score_high, the LEVEL quantile" in text


@pytest.mark.parametrize("level", ["0.3", "1", "0.995", "nan", "abc", ""])
def test_a_bad_confidence_level_exits_2_with_one_line(
    td_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    setup = ["-p", "trade_desk", "-g", "action", "-c", "display"]
    code = main([*_score_args(td_file, setup, tmp_path / "o"), "--confidence", level])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("caliber: error: ")
    assert err.count("\n") == 1
    assert "confidence" in err
    assert "0.5" in err
    assert not (tmp_path / "o" / "results.csv").exists()
