"""`caliber diff OLD NEW` (issue 18 §2): two export files scored with the setup, or two
`caliber score --out` folders read as they are; the printed diff, diff.json and the list
changes equal what is computed here from each file scored by the engine alone (or from
the folders' CSV files read with the csv module); bad input exits 2 with one line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from caliber.cli.main import main
from caliber.engine.config import Setup
from caliber.engine.decisions import lists_in_use
from caliber.engine.pipeline import score
from caliber.reports.dsp import split_entries
from tests.engine.exports import make_export

SETUP = ["-p", "trade_desk", "-g", "action", "-c", "display"]


@pytest.fixture(scope="module")
def weeks(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("weeks")
    one, two = folder / "week-1.csv", folder / "week-2.csv"
    one.write_text(make_export("trade_desk", "display", seed=41, names=60), encoding="utf-8")
    two.write_text(make_export("trade_desk", "display", seed=42, names=70), encoding="utf-8")
    return one, two


def _dsp(names: list[str]) -> list[str]:
    web, apps = split_entries(names)
    return [*web, *apps]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_files_scored_with_the_setup(
    weeks: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diff"
    args = ["diff", str(weeks[0]), str(weeks[1]), *SETUP, "--limit", "1000", "-o", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("week-1.csv -> week-2.csv: what changed")

    setup = Setup.create("trade_desk", "action", "display")
    old, new = (score(path, setup) for path in weeks)
    lists = [lists_in_use(r.results, "domain", setup) for r in (old, new)]
    got = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert (got["base"], got["head"]) == ("week-1.csv", "week-2.csv")
    for name in ("whitelist", "blacklist"):
        before = getattr(lists[0], name)["domain"].to_list()
        after = getattr(lists[1], name)["domain"].to_list()
        added = [n for n in after if n not in before]
        removed = [n for n in before if n not in after]
        assert [e["domain"] for e in got["lists"][name]["added"]] == added
        assert [e["domain"] for e in got["lists"][name]["removed"]] == removed
        assert got["lists"][name]["kept"] == len(set(before) & set(after))
        assert (out / f"{name}_add.txt").read_text() == "".join(f"{n}\n" for n in _dsp(added))
        assert (out / f"{name}_remove.txt").read_text() == "".join(f"{n}\n" for n in _dsp(removed))
        dv360 = json.loads((out / "list_changes_dv360.json").read_text())[name]
        assert dv360["deletedSites"] == _dsp(removed)
        ttd = json.loads((out / "list_changes_ttd.json").read_text())[name]
        assert [line["DomainFragment"] for line in ttd["add"]] == _dsp(added)
        if added:
            assert f"joins the {name} ({len(added)})" in printed
    scores = [dict(zip(r.results["domain"], r.results["score"], strict=True)) for r in (old, new)]
    both = scores[0].keys() & scores[1].keys()
    change = {n: round(scores[1][n] - scores[0][n], 2) for n in both}
    down = sorted((n for n, c in change.items() if c < 0), key=lambda n: (change[n], n))
    assert [m["domain"] for m in got["movers"]["down"]] == down
    assert got["domains"]["new"]["count"] == len(scores[1].keys() - scores[0].keys())
    campaign = got["campaign"]["campaign_score"]
    assert (campaign["base"], campaign["head"]) == (
        old.campaign["campaign_level_score"],
        new.campaign["campaign_level_score"],
    )
    score_line = f"campaign score     {campaign['base']:.2f} -> {campaign['head']:.2f}"
    assert score_line in printed


def test_two_score_folders_with_confidence(
    weeks: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = [tmp_path / "one", tmp_path / "two"]
    for week, folder in zip(weeks, folders, strict=True):
        args = ["score", str(week), *SETUP, "--confidence", "0.6", "-o", str(folder), "-q"]
        assert main(args) == 0
    out = tmp_path / "diff"
    assert main(["diff", *map(str, folders), "-o", str(out), "-q"]) == 0
    assert capsys.readouterr().out == ""
    got = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    for name in ("whitelist", "blacklist"):  # the confident lists each folder holds
        before = [r["domain"] for r in _read(folders[0] / f"{name}.csv")]
        after = [r["domain"] for r in _read(folders[1] / f"{name}.csv")]
        assert [e["domain"] for e in got["lists"][name]["added"]] == [
            n for n in after if n not in before
        ]
        assert [e["domain"] for e in got["lists"][name]["removed"]] == [
            n for n in before if n not in after
        ]
    # the same as the files scored with --confidence
    again = tmp_path / "again"
    files = ["diff", *map(str, weeks), *SETUP, "--confidence", "0.6", "-o", str(again), "-q"]
    assert main(files) == 0
    scored = json.loads((again / "diff.json").read_text(encoding="utf-8"))
    assert scored["lists"] == got["lists"]
    classic = tmp_path / "classic"
    assert main(["diff", *map(str, weeks), *SETUP, "-o", str(classic), "-q"]) == 0
    plain = json.loads((classic / "diff.json").read_text(encoding="utf-8"))
    assert plain["lists"] != got["lists"]  # the classic lists differ from the confident


def test_bad_input_exits_2_with_one_line(
    weeks: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    ctv = tmp_path / "ctv.csv"
    ctv.write_text(make_export("trade_desk", "ctv", seed=3), encoding="utf-8")
    ctv_out = tmp_path / "ctv-out"
    assert (
        main(
            [
                "score",
                str(ctv),
                "-p",
                "trade_desk",
                "-g",
                "action",
                "-c",
                "ctv",
                "-o",
                str(ctv_out),
                "-q",
            ]
        )
        == 0
    )
    cases = [
        (["diff", *map(str, weeks)], "needs --platform, --goal, --channel"),
        (["diff", str(weeks[0]), str(tmp_path / "none.csv"), *SETUP], "no such file"),
        (["diff", str(empty), str(empty)], "results.csv, whitelist.csv, blacklist.csv missing"),
        (["diff", *map(str, weeks), *SETUP, "--limit", "0"], "--limit must be between 1"),
        (["diff", str(ctv_out), str(weeks[1]), *SETUP], "by supply_vendor"),
    ]
    for args, message in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("caliber: error: ")
        assert message in err, err
        assert err.count("\n") == 1
