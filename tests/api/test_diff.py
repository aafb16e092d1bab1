"""What changed (issue 18 §2), through the API on SQLite and PostgreSQL: two uploads of
consecutive weeks to one campaign (week 2 made from week 1 by changing chosen rows, so
what must move is known) give two runs; the diff, the list-change exports and the domain
history equal figures computed here from each week's file scored by the engine alone;
run 1's exports are the same bytes after run 2; the notification tells the list changes;
another user's campaign or run, or another campaign's run, is not found; bad parameters
are 422; fewer than two completed runs 409."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import polars as pl
from fastapi.testclient import TestClient

from caliber.api.container import Container
from caliber.engine.config import Setup
from caliber.engine.decisions import lists_in_use
from caliber.engine.pipeline import score
from caliber.reports.dsp import split_entries
from tests.api.test_runs import _score, _undated
from tests.api.test_scoring import API, TD_DISPLAY, create_campaign, scored_campaign
from tests.engine.exports import make_export

Auth = Callable[[str], dict[str, str]]
WEEK_1_TEXT = make_export("trade_desk", "display", seed=181, names=70)
VANISHED = "site003.com"  # not delivered in week 2
NEW = "brand-new.example"  # first delivered in week 2 (site004.com's rows, renamed)
SETUP = Setup.create(*TD_DISPLAY.values())


def _key(site: str) -> str:
    return site.strip().lower().removeprefix("www.")


def _week_2(week_1: str, sink: str, lift: str) -> bytes:
    """Week 1 with VANISHED's rows gone, NEW's added, ``sink`` made the worst of sites
    (no clicks or conversions, 1 % viewable, every impression with excessive ad load and
    fast refresh: its score must fall) and ``lift`` the best (clicks 2 % of its
    impressions, conversions a tenth of those, 99 % viewable, no ad load or refresh
    problem: its score must rise)."""
    rows = list(csv.reader(io.StringIO(week_1)))
    header = rows[0]
    site, imps = header.index("Site"), header.index("Impressions")
    clicks = header.index("Clicks")
    conversions = header.index("All Last Click + View Conversions")
    viewed = header.index("IAS Display Fully In View 1 Second Rate")
    bad = [header.index(c) for c in header if c.startswith(("Ad Load", "Ad Refresh"))]
    out = [header]
    for row in rows[1:]:
        if len(row) <= site:
            out.append(row)
            continue
        name = _key(row[site])
        if name == VANISHED:
            continue
        changed = [*row]
        volume = int(row[imps].replace(",", "").replace(".", "")) if row[imps] else 0
        if name == sink:
            changed[clicks] = changed[conversions] = "0"
            changed[viewed] = "1%"
            for column in bad:
                changed[column] = str(volume)
        if name == lift:
            changed[clicks] = str(volume // 50)
            changed[conversions] = str(volume // 500)
            changed[viewed] = "99%"
            for column in bad:
                changed[column] = "0"
        out.append(changed)
        if name == "site004.com":
            out.append([*row[:site], NEW, *row[site + 1 :]])
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(out)
    return text.getvalue().encode()


def _engine(data: bytes, name: str) -> tuple[pl.DataFrame, dict[str, list[str]]]:
    """A week's results scored by the engine alone, and its lists' names in order."""
    result = score(data, SETUP, filename=name)
    lists = lists_in_use(result.results, "domain", SETUP)
    return result.results, {
        "whitelist": lists.whitelist["domain"].to_list(),
        "blacklist": lists.blacklist["domain"].to_list(),
    }


def _get(client: TestClient, path: str, headers: dict[str, str], **params: Any) -> Any:
    response = client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, (path, response.text)
    return response.json()["data"]


def _exports(client: TestClient, campaign: str, run: str, headers: dict[str, str]) -> list[bytes]:
    """Run ``run``'s list and DSP exports (their export dates cut out)."""
    found = []
    for path in ("whitelist/csv", "blacklist/csv", "whitelist/txt", "blacklist/trade-desk"):
        response = client.get(
            f"{API}/reports/export/campaigns/{campaign}/{path}",
            params={"run_id": run},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        found.append(_undated(response.content))
    return found


def test_two_weeks_diff_exports_history_and_notification(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("diff-alice")
    week_1 = WEEK_1_TEXT.encode()
    results_1, lists_1 = _engine(week_1, "week-1.csv")
    eligible = results_1.filter(pl.col("impressions") >= SETUP.min_impressions)
    sink = eligible["domain"][0]  # the best eligible site of week 1
    lift = eligible["domain"][-1]  # the worst
    week_2 = _week_2(WEEK_1_TEXT, sink, lift)
    results_2, lists_2 = _engine(week_2, "week-2.csv")

    campaign = create_campaign(client, alice)
    _score(client, container, alice, campaign, week_1, "week-1.csv")
    (run_1,) = [r["id"] for r in _get(client, f"/campaigns/{campaign}/runs", alice)]
    # one completed run: nothing to compare yet
    one = client.get(f"{API}/scoring/diff/{campaign}", headers=alice)
    assert one.status_code == 409, one.text
    assert "1 completed run" in one.json()["message"]
    exports_before = _exports(client, campaign, run_1, alice)
    # a first run has no lists before it: nothing changed
    assert [n["kind"] for n in _get(client, "/notifications", alice)] == ["scoring_finished"]

    _score(client, container, alice, campaign, week_2, "week-2.csv")
    run_2 = _get(client, f"/campaigns/{campaign}/runs", alice)[0]["id"]
    assert _exports(client, campaign, run_1, alice) == exports_before

    got = _get(client, f"/scoring/diff/{campaign}", alice, limit=1000)
    assert (got["base"]["id"], got["head"]["id"]) == (run_1, run_2)
    assert (got["base"]["file_name"], got["head"]["file_name"]) == ("week-1.csv", "week-2.csv")
    named = _get(client, f"/scoring/diff/{campaign}", alice, base=run_1, head=run_2, limit=1000)
    assert named == got

    # the lists, from the engine's lists of each week
    rows_1 = {r["domain"]: r for r in results_1.iter_rows(named=True)}
    rows_2 = {r["domain"]: r for r in results_2.iter_rows(named=True)}
    for name in ("whitelist", "blacklist"):
        before, after = lists_1[name], lists_2[name]
        change = got["lists"][name]
        assert [e["domain"] for e in change["added"]] == [n for n in after if n not in before]
        assert [e["domain"] for e in change["removed"]] == [n for n in before if n not in after]
        assert change["kept"] == len(set(before) & set(after))
        for entry in change["added"]:
            row = rows_2[entry["domain"]]
            assert entry == {
                "domain": row["domain"],
                "score": row["score"],
                "impressions": row["impressions"],
                "quality_status": row["quality_status"],
            }
    assert sink in lists_1["whitelist"]
    assert sink not in lists_2["whitelist"]
    assert sink in [e["domain"] for e in got["lists"]["whitelist"]["removed"]]

    # new and vanished names
    assert got["domains"]["new"]["count"] == 1
    assert [e["domain"] for e in got["domains"]["new"]["items"]] == [NEW]
    assert got["domains"]["vanished"]["count"] == 1
    assert got["domains"]["vanished"]["items"][0]["domain"] == VANISHED
    assert got["domains"]["vanished"]["items"][0]["score"] == rows_1[VANISHED]["score"]

    # movers: every name in both weeks, by its change (ties by name)
    change = {
        n: round(rows_2[n]["score"] - rows_1[n]["score"], 2) for n in rows_1.keys() & rows_2.keys()
    }
    up = sorted((n for n, c in change.items() if c > 0), key=lambda n: (-change[n], n))
    down = sorted((n for n, c in change.items() if c < 0), key=lambda n: (change[n], n))
    assert [m["domain"] for m in got["movers"]["up"]] == up
    assert [m["domain"] for m in got["movers"]["down"]] == down
    assert change[sink] < 0 < change[lift]
    moved = [n for n in change if rows_1[n]["quality_status"] != rows_2[n]["quality_status"]]
    assert [m["domain"] for m in got["movers"]["status"]] == sorted(
        moved, key=lambda n: (-abs(change[n]), n)
    )
    sunk = next(m for m in got["movers"]["down"] if m["domain"] == sink)
    assert sunk == {
        "domain": sink,
        "base_score": rows_1[sink]["score"],
        "head_score": rows_2[sink]["score"],
        "change": change[sink],
        "base_status": rows_1[sink]["quality_status"],
        "head_status": rows_2[sink]["quality_status"],
        "impressions": rows_2[sink]["impressions"],
    }
    default = _get(client, f"/scoring/diff/{campaign}", alice)  # 20 of each by default
    assert [m["domain"] for m in default["movers"]["up"]] == up[:20]

    # the campaign: score and key metrics by hand from the rows
    def weighted(rows: pl.DataFrame, column: str) -> float:
        imps = rows["impressions"].cast(pl.Float64)
        return float((rows[column] * imps).sum()) / float(imps.sum())

    campaign_score = got["campaign"]["campaign_score"]
    assert campaign_score["base"] == round(weighted(results_1, "score"), 2)
    assert campaign_score["head"] == round(weighted(results_2, "score"), 2)
    assert abs(campaign_score["change"] - (campaign_score["head"] - campaign_score["base"])) < 1e-9
    metrics = got["campaign"]["metrics"]
    impressions = (int(results_1["impressions"].sum()), int(results_2["impressions"].sum()))
    assert metrics["total_impressions"] == {
        "base": impressions[0],
        "head": impressions[1],
        "change": impressions[1] - impressions[0],
    }
    assert metrics["row_count"]["change"] == 0  # one site gone, one new
    assert abs(metrics["ctr"]["base"] - weighted(results_1, "ctr")) < 1e-8
    assert abs(metrics["ctr"]["head"] - weighted(results_2, "ctr")) < 1e-8
    assert metrics["whitelist_count"]["head"] == len(lists_2["whitelist"])

    # the list changes for each DSP
    def dsp(names: list[str]) -> list[str]:
        web, apps = split_entries(names)
        return [*web, *apps]

    adds = {n: dsp([x for x in lists_2[n] if x not in lists_1[n]]) for n in lists_1}
    removes = {n: dsp([x for x in lists_1[n] if x not in lists_2[n]]) for n in lists_1}
    url = f"{API}/scoring/diff/{campaign}/export"
    text = client.get(url, params={"format": "text"}, headers=alice)
    assert text.status_code == 200, text.text
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert "list-changes-text" in text.headers["content-disposition"]
    expected = "\n".join(
        "\n".join([f"# {n}: {c} ({len(e)})", *e]) + "\n"
        for n in ("whitelist", "blacklist")
        for c, e in (("add", adds[n]), ("remove", removes[n]))
    )
    assert text.text == expected
    ttd = client.get(url, params={"format": "ttd", "base": run_1}, headers=alice)
    assert ttd.status_code == 200, ttd.text
    assert ttd.headers["content-disposition"].endswith('.json"')
    body = ttd.json()
    assert [line["DomainFragment"] for line in body["blacklist"]["add"]] == adds["blacklist"]
    assert [line["DomainFragment"] for line in body["whitelist"]["remove"]] == removes["whitelist"]
    assert {line["BidAdjustment"] for line in body["whitelist"]["add"]} <= {1.0}
    dv360 = client.get(url, params={"format": "dv360", "head": run_2}, headers=alice).json()
    for n in ("whitelist", "blacklist"):
        assert [s["urlOrAppId"] for s in dv360[n]["createdSites"]] == adds[n]
        assert dv360[n]["deletedSites"] == removes[n]

    # the domain history, oldest run first
    history = _get(client, f"/scoring/history/{campaign}/WWW.{sink.upper()}", alice)
    assert history["domain"] == sink
    assert [r["run_id"] for r in history["runs"]] == [run_1, run_2]
    for row, rows, lists, name in (
        (history["runs"][0], rows_1, lists_1, "week-1.csv"),
        (history["runs"][1], rows_2, lists_2, "week-2.csv"),
    ):
        listed = [n for n in ("whitelist", "blacklist") if sink in lists[n]]
        assert row["present"] is True
        assert row["original_filename"] == name
        assert row["completed_at"] is not None
        assert (row["score"], row["quality_status"]) == (
            rows[sink]["score"],
            rows[sink]["quality_status"],
        )
        assert row["impressions"] == rows[sink]["impressions"]
        assert row["spend"] == rows[sink]["spend"]
        assert row["list"] == (listed[0] if listed else None)
    gone = _get(client, f"/scoring/history/{campaign}/{VANISHED}", alice)["runs"]
    assert [r["present"] for r in gone] == [True, False]
    assert gone[1]["score"] is None
    assert gone[1]["list"] is None
    fresh = _get(client, f"/scoring/history/{campaign}/{NEW}", alice)["runs"]
    assert [r["present"] for r in fresh] == [False, True]
    unknown = client.get(f"{API}/scoring/history/{campaign}/nowhere.example", headers=alice)
    assert unknown.status_code == 404, unknown.text

    # the notification: run 2 changed the lists of run 1
    notes = _get(client, "/notifications", alice)
    changed = [n for n in notes if n["kind"] == "lists_changed"]
    assert len(changed) == 1
    parts = []
    for n in ("blacklist", "whitelist"):
        for count, verb in ((len(adds[n]), "join"), (len(removes[n]), "leave")):
            if count == 1:
                parts.append(f"1 domain {verb}s the {n}")
            elif count:
                parts.append(f"{count} domains {verb} the {n}")
    assert parts  # week 2 was made to change the lists
    sentence = ", ".join(parts)
    assert changed[0]["message"].startswith(sentence[0].upper() + sentence[1:] + " since the run")
    assert changed[0]["title"].endswith("the lists changed")

    # the same file again: a third run whose lists equal run 2's tells nothing more
    _score(client, container, alice, campaign, week_2, "week-2-again.csv")
    notes = _get(client, "/notifications", alice)
    assert len([n for n in notes if n["kind"] == "lists_changed"]) == 1
    third = _get(client, f"/scoring/diff/{campaign}", alice)
    assert third["base"]["id"] == run_2
    assert all(not c["added"] and not c["removed"] for c in third["lists"].values())


def test_a_name_with_a_slash_has_its_history(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice = auth("diff-slash")
    text = make_export("trade_desk", "display", seed=183, names=20)
    data = text.replace("site001.com", "news.example/sports").encode()
    campaign = scored_campaign(client, container, alice, data)
    for name in ("news.example/sports", "news.example%2Fsports"):
        history = _get(client, f"/scoring/history/{campaign}/{name}", alice)
        assert history["domain"] == "news.example/sports"
        assert [r["present"] for r in history["runs"]] == [True]


def test_other_users_campaigns_runs_and_bad_parameters(
    client: TestClient, container: Container, auth: Auth
) -> None:
    alice, bob = auth("diff-alice-2"), auth("diff-bob-2")
    data = make_export("trade_desk", "display", seed=182, names=30).encode()
    campaign = scored_campaign(client, container, alice, data)
    _score(client, container, alice, campaign, data, "again.csv")
    runs = [r["id"] for r in _get(client, f"/campaigns/{campaign}/runs", alice)]
    other = scored_campaign(client, container, alice, data)
    other_run = _get(client, f"/campaigns/{other}/runs", alice)[0]["id"]

    paths = (
        f"/scoring/diff/{campaign}",
        f"/scoring/diff/{campaign}/export?format=text",
        f"/scoring/history/{campaign}/site001.com",
    )
    for path in paths:  # another user: the campaign is not found
        response = client.get(f"{API}{path}", headers=bob)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["success"] is False
    # another campaign's run, named as base or head: not found
    for params in ({"base": other_run}, {"head": other_run}):
        response = client.get(f"{API}/scoring/diff/{campaign}", params=params, headers=alice)
        assert response.status_code == 404, response.text
    # the head's first run has nothing before it
    first = client.get(f"{API}/scoring/diff/{campaign}", params={"head": runs[-1]}, headers=alice)
    assert first.status_code == 409, first.text
    assert "name base" in first.json()["message"]
    for params in (
        {"base": "not-a-uuid"},
        {"limit": 0},
        {"limit": 1001},
    ):
        response = client.get(f"{API}/scoring/diff/{campaign}", params=params, headers=alice)
        assert response.status_code == 422, (params, response.text)
    for params in ({"format": "csv"}, {}):
        response = client.get(f"{API}/scoring/diff/{campaign}/export", params=params, headers=alice)
        assert response.status_code == 422, (params, response.text)
        assert "format" in response.text
    long_name = "a" * 600
    response = client.get(f"{API}/scoring/history/{campaign}/{long_name}", headers=alice)
    assert response.status_code == 422, response.text
    bad = client.get(f"{API}/scoring/history/not-a-uuid/site001.com", headers=alice)
    assert bad.status_code == 422, bad.text
    # a campaign never scored: nothing to compare, no history
    fresh = create_campaign(client, alice)
    for path, message in (
        (f"/scoring/diff/{fresh}", "0 completed runs"),
        (f"/scoring/diff/{fresh}/export?format=ttd", "0 completed runs"),
        (f"/scoring/history/{fresh}/site001.com", "no completed run"),
    ):
        response = client.get(f"{API}{path}", headers=alice)
        assert response.status_code == 409, (path, response.text)
        assert message in response.json()["message"]
    # the same file twice: nothing changed
    same = _get(client, f"/scoring/diff/{campaign}", alice)
    assert same["domains"]["new"]["count"] == same["domains"]["vanished"]["count"] == 0
    assert same["movers"] == {"up": [], "down": [], "status": []}
    assert json.loads(json.dumps(same["campaign"]["metrics"]["row_count"]))["change"] == 0
