"""The campaign context the analyst works from, built on the server from stored results.

Every insight and chat answer starts from :func:`campaign_context` (and, for one domain,
:func:`domain_context`); what a client sends is only added under ``client_context`` and
never replaces these figures. The shape (all JSON-able; rates are fractions, money in
the file's currency, scores 0-100):

``campaign``: id, name, platform, goal, channel, ctr_sensitivity, analysis_level
("domain" | "supply_vendor"), status, min_impressions.
``scored``: False when the campaign has no results yet (then only ``campaign`` is set).
``summary``: campaign_level_score, total_impressions, total_spend, average_cpm,
row_count, score_distribution {mean, median, std, min, max, q25, q75}, status_counts
{good, moderate, poor}, top_performers / bottom_performers [row], where row =
{name, score, impressions, percentile_rank, quality_status}.
``weights`` {metric: weight}, ``directions`` {metric: "higher_is_better" |
"lower_is_better"}, ``metric_averages`` {metric: mean of the rows' raw values}.
``whitelist`` / ``blacklist``: count, average_score, total_impressions,
share_of_impressions (0-1), share_of_spend (0-1 or None), score_threshold, entries
[row] (the first 10, in list order).
``outliers``: count, share (0-1), by_flag {metric: count}, examples [row + flags].
``confidence`` (only for a run scored with ``list_confidence``; the lists above are then
the confident ones): level, rule, decisions {whitelist|blacklist|undecided: {count,
impressions, spend, share_of_rows}}, classic_lists {whitelist_count, blacklist_count},
changes {list: {kept, dropped, added}}, priors {metric: {mean, strength, trials}},
thin_lists [list], notes [sentence] (when a list is thin because the data is thin).
``data_quality``: rows_read, rows_scored, rows_dropped_total, warnings [message].
``domain`` (domain insights, or a chat that names a scored domain): name, rank, score,
quality_status, percentile_rank, impressions, spend, cpm, ctr, conversions,
conversion_rate, on_whitelist, on_blacklist, is_outlier, flags, breakdown {metric:
{value, normalized, weight, contribution, higher_is_better, campaign_average}}; for a
confident run also decision, score_low, score_high, shrunk_score, impressions_needed.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from caliber.ai.offline.confidence import thin_lists, thin_notes
from caliber.campaigns import repository as campaign_repository
from caliber.core.lru import RunCache
from caliber.db.models import Campaign, CampaignStatus, ScoringRun
from caliber.reports.data import ListSnapshot, ReportData, ResultLine
from caliber.reports.gather import report_data, stored_run
from caliber.scoring import pages
from caliber.scoring.frames import Record, StoredRun
from caliber.scoring.runs import ResultsView, results_view
from caliber.scoring.service import campaign_setup

LIST_ENTRIES = 10
OUTLIER_EXAMPLES = 5


def _row(line: ResultLine | dict[str, Any]) -> dict[str, Any]:
    if isinstance(line, ResultLine):
        return {
            "name": line.domain,
            "score": round(line.score, 2),
            "impressions": line.impressions,
            "percentile_rank": line.percentile_rank,
            "quality_status": line.quality_status,
        }
    name = line.get("domain", line.get("supply_vendor", line.get("name")))
    return {
        "name": name,
        "score": line.get("score"),
        "impressions": line.get("impressions"),
        "percentile_rank": line.get("percentile_rank"),
        "quality_status": line.get("quality_status"),
    }


def _list(snapshot: ListSnapshot, data: ReportData, threshold_key: str) -> dict[str, Any]:
    total_impressions = float(data.summary.get("total_impressions") or 0)
    total_spend = data.summary.get("total_spend")
    spend = sum(e.spend or 0.0 for e in snapshot.entries)
    return {
        "count": len(snapshot.entries),
        "average_score": snapshot.average_score,
        "total_impressions": snapshot.total_impressions,
        "share_of_impressions": (
            round(snapshot.total_impressions / total_impressions, 4) if total_impressions else None
        ),
        "share_of_spend": round(spend / total_spend, 4) if total_spend else None,
        "score_threshold": snapshot.criteria.get(threshold_key),
        "min_impressions": snapshot.criteria.get("min_impressions"),
        "entries": [_row(e) for e in snapshot.entries[:LIST_ENTRIES]],
        # a confident list: its level (the threshold is then on the shrunk scores)
        **(
            {"list_confidence": level}
            if (level := snapshot.criteria.get("list_confidence"))
            else {}
        ),
    }


def _confidence(summary: dict[str, Any], noun: str) -> dict[str, Any] | None:
    """The run's decisions for the analyst (None for classic lists): the engine's block
    without its fitted bounds, each decision's share of the rows, and notes when a list
    is thin because the data is thin."""
    block = summary.get("confidence")
    if not isinstance(block, dict) or block.get("level") is None:
        return None
    level = float(block["level"])
    decisions = {k: dict(v) for k, v in (block.get("decisions") or {}).items()}
    total = sum(int(v.get("count") or 0) for v in decisions.values())
    for found in decisions.values():
        found["share_of_rows"] = round(int(found.get("count") or 0) / total, 4) if total else None
    classic = block.get("classic_lists") or {}
    made = {
        "level": level,
        "rule": (
            f"a row is whitelisted only when at least {level:.0%} sure its score is at or "
            "above the whitelist's bar, blacklisted only when at least as sure it is at or "
            "below the blacklist's; the rest is undecided (not enough evidence)"
        ),
        "decisions": decisions,
        "classic_lists": {
            "whitelist_count": classic.get("whitelist_count"),
            "blacklist_count": classic.get("blacklist_count"),
        },
        "changes": block.get("changes") or {},
        "priors": block.get("priors") or {},
    }
    made["thin_lists"] = thin_lists(made)
    made["notes"] = thin_notes(made, noun)
    return made


def _facts(campaign: Campaign) -> dict[str, Any]:
    setup = campaign_setup(campaign)
    return {
        "id": str(campaign.id),
        "name": campaign.name,
        "platform": str(setup.platform),
        "goal": str(setup.goal),
        "channel": str(setup.channel),
        "ctr_sensitivity": setup.ctr_sensitivity,
        "analysis_level": str(
            (campaign.config_snapshot or {}).get("analysis_level") or setup.resolve().level
        ),
        "status": campaign.status,
        "min_impressions": campaign.min_impressions,
    }


def _metric_averages(stored: StoredRun, metrics: list[str]) -> dict[str, Any]:
    """Each metric's mean over the rows that have a value, summed in rank order."""
    found: dict[str, Any] = {}
    for metric in metrics:
        column = stored.metric_values(metric)
        values = [] if column is None else [v for v in column.to_list() if v is not None]
        total = 0.0
        for value in values:
            total += float(value)
        found[metric] = total / len(values) if values else None
    return found


def _outliers(stored: StoredRun, rows: int) -> dict[str, Any]:
    flagged = stored.records(stored.outlier_positions())
    count = 0
    by_flag: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    for row in flagged:
        count += 1
        for flag in row.outlier_flags or []:
            by_flag[flag] = by_flag.get(flag, 0) + 1
        if len(examples) < OUTLIER_EXAMPLES:
            examples.append(
                {
                    "name": row.domain,
                    "score": round(row.score, 2),
                    "impressions": row.impressions,
                    "percentile_rank": row.percentile_rank,
                    "quality_status": row.quality_status,
                    "flags": list(row.outlier_flags or []),
                }
            )
    return {
        "count": count,
        "share": round(count / rows, 4) if rows else 0.0,
        "by_flag": by_flag,
        "examples": examples,
    }


def campaign_context(session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> dict[str, Any]:
    """The campaign's context (404 for another user's campaign). The scored figures are
    those of the results the campaign holds (its last successful run), also while a later
    run is in progress or after it failed: ``results`` says which run and whether a later
    one exists that they do not reflect."""
    campaign = campaign_repository.get_campaign(session, org_id, campaign_id)
    context: dict[str, Any] = {"campaign": _facts(campaign), "scored": False}
    if campaign.results_run_id is None or not campaign.summary:
        return context
    view = results_view(session, org_id, campaign_id)
    run_id = view.run.id
    # the scored figures do not change within a run: built once per run and process
    scored = _scored_parts.get_or_make(
        (campaign.id, run_id), lambda: _scored_figures(session, org_id, view)
    )
    results = {
        "run_id": str(run_id),
        "completed_at": None
        if campaign.completed_at is None
        else campaign.completed_at.isoformat(),
        "stale": campaign.status != CampaignStatus.COMPLETED,
    }
    return {**context, "scored": True, "results": results, **scored}


_scored_parts: RunCache[dict[str, Any]] = RunCache(64)


def _scored_figures(session: Session, org_id: uuid.UUID, view: ResultsView) -> dict[str, Any]:
    data = report_data(session, org_id, view.campaign.id, with_insights=False, view=view)
    stored = stored_run(session, view)
    summary = dict(data.summary)
    summary["top_performers"] = [_row(r) for r in summary.get("top_performers") or []]
    summary["bottom_performers"] = [_row(r) for r in summary.get("bottom_performers") or []]
    summary.pop("lists", None)
    noun = "supply vendors" if stored.layout.dimension == "supply_vendor" else "domains"
    confidence = _confidence(summary, noun)
    summary.pop("confidence", None)  # its curated form is the context's own ``confidence``
    quality = data.data_quality
    return {
        **({} if confidence is None else {"confidence": confidence}),
        "summary": summary,
        "weights": data.weights,
        "directions": data.directions,
        "metric_averages": _metric_averages(stored, list(data.weights)),
        "whitelist": _list(data.whitelist, data, "whitelist_min_score"),
        "blacklist": _list(data.blacklist, data, "blacklist_max_score"),
        "outliers": _outliers(stored, data.total_rows),
        "data_quality": {
            "rows_read": quality.get("rows_read"),
            "rows_scored": quality.get("rows_scored"),
            "rows_dropped_total": quality.get("rows_dropped_total"),
            "warnings": [w.get("message") for w in quality.get("warnings") or []],
        },
    }


def find_domain(session: Session, context: dict[str, Any], name: str) -> Record | None:
    """The row named ``name`` (case and a leading ``www.`` ignored) among the results a
    scored :func:`campaign_context` describes."""
    run = session.get(ScoringRun, uuid.UUID(context["results"]["run_id"]))
    if run is None:  # removed since the context was built
        return None
    return pages.index().run(session, run).stored.find(name)


def _on_list(row: Record, listed: dict[str, Any], *, above: bool) -> bool:
    """The lists' own rule (scoring.md §5): eligible by impressions, past the threshold;
    a confident run's row by its decision."""
    if row.confidence is not None:
        return row.confidence.get("decision") == ("whitelist" if above else "blacklist")
    threshold = listed.get("score_threshold")
    if threshold is None or row.impressions < float(listed.get("min_impressions") or 0):
        return False
    limit = float(threshold)
    return row.score >= limit if above else row.score <= limit


def domain_context(context: dict[str, Any], row: Record) -> dict[str, Any]:
    """One scored row with its breakdown against the campaign's averages."""
    averages = context.get("metric_averages") or {}
    breakdown = {
        metric: {**parts, "campaign_average": averages.get(metric)}
        for metric, parts in (row.score_breakdown or {}).items()
    }
    whitelist = context.get("whitelist") or {}
    blacklist = context.get("blacklist") or {}
    return {
        "name": row.domain,
        "rank": row.rank,
        "score": round(row.score, 2),
        "quality_status": row.quality_status,
        "percentile_rank": row.percentile_rank,
        "impressions": row.impressions,
        "spend": row.spend,
        "cpm": row.cpm,
        "ctr": row.ctr,
        "conversions": row.conversions,
        "conversion_rate": row.conversion_rate,
        "on_whitelist": _on_list(row, whitelist, above=True),
        "on_blacklist": _on_list(row, blacklist, above=False),
        "is_outlier": row.is_outlier,
        "flags": list(row.outlier_flags or []),
        "breakdown": breakdown,
        **_row_confidence(row),
    }


def _row_confidence(row: Record) -> dict[str, Any]:
    """A confident run's row: its decision, bounds and what it would need to be decided."""
    if row.confidence is None:
        return {}
    keys = ("decision", "score_low", "score_high", "shrunk_score", "impressions_needed")
    return {k: row.confidence.get(k) for k in keys}
