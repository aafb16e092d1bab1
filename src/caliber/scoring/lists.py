"""The whitelist and blacklist of a run's results (the campaign's latest completed run
unless one is named), rebuilt from the stored rows by the engine's ``lists_in_use`` (the
confident lists of a run scored with ``list_confidence``, else the classic ones), so
they equal what ``caliber score`` writes for the same file and setup. Never commits.

A run's rows never change, so each list is built once per run and threshold, and kept
encoded (:mod:`caliber.scoring.answers`); a 200k-row campaign's list is written straight
from the frame by polars.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

import orjson
import polars as pl
from sqlalchemy.orm import Session

from caliber.core import envelope
from caliber.engine.decisions import lists_in_use
from caliber.engine.lists import OptimizationLists
from caliber.scoring import answers, pages
from caliber.scoring.runs import ResultsView, results_view
from caliber.scoring.schemas import ListType, OptimizationListOut


def optimization_list(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    list_type: ListType,
    min_impressions: float | None = None,
    run_id: uuid.UUID | None = None,
) -> OptimizationListOut:
    """The whitelist or blacklist in use of the stored rows (:func:`run_lists`; default
    eligibility: the min_impressions the run was scored with)."""
    view = results_view(session, org_id, campaign_id, run_id)
    chosen, dimension, payload = _list_payload(session, view, list_type, min_impressions)
    return OptimizationListOut.model_validate({**payload, "entries": _entries(chosen, dimension)})


def optimization_list_json(
    session: Session,
    org_id: uuid.UUID,
    campaign_id: uuid.UUID,
    list_type: ListType,
    min_impressions: float | None = None,
    run_id: uuid.UUID | None = None,
) -> answers.Answer:
    """:func:`optimization_list` in its response envelope, encoded once per run, list
    and threshold. A 200k-row campaign's list is ~50,000 entries (~7 MB of JSON): polars
    writes them straight from the frame (not 50,000 dicts, let alone models)."""
    view = results_view(session, org_id, campaign_id, run_id)
    key = (view.run.id, list_type, min_impressions)

    def encode() -> bytes:
        chosen, dimension, payload = _list_payload(session, view, list_type, min_impressions)
        impressions = chosen["impressions"]
        if impressions.len() and (impressions != impressions.floor()).any():
            entries = answers.dumps(_entries(chosen, dimension))  # some fractional: value by value
        else:  # counts: written as integers, as answers.whole writes them
            entries = (
                chosen.select(
                    pl.col(dimension).alias("domain"),
                    "score",
                    pl.col("impressions").cast(pl.Int64),
                    "percentile_rank",
                    "quality_status",
                )
                .write_json()
                .encode()
            )
        # the payload's fields, then the entries, already encoded: in before its closing brace
        data = answers.dumps(payload)[:-1] + b',"entries":' + entries + b"}"
        return orjson.dumps(envelope.ok(orjson.Fragment(data)))

    return answers.with_run(answers.list_bodies.get_or_make(key, encode), view.marker)


def run_lists(
    session: Session, view: ResultsView, min_impressions: float | None = None
) -> OptimizationLists:
    """The lists the run puts to use (confident when it was scored with
    ``list_confidence``, else classic: ``decisions.lists_in_use``), built once per run and
    floor. Everything that reads a stored run's lists (routes, exports, reports, the diff,
    the impact) reads them here."""
    setup = view.setup
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    made = answers.run_values.get_or_make(
        ("lists", view.run.id, threshold),
        lambda: lists_in_use(
            pages.index().run(session, view.run).stored.list_frame(),
            str(setup.resolve().level),
            setup,
            threshold,
        ),
    )
    return cast(OptimizationLists, made)


def _list_payload(
    session: Session, view: ResultsView, list_type: ListType, min_impressions: float | None
) -> tuple[pl.DataFrame, str, dict[str, Any]]:
    """The chosen list's rows, the dimension, and every field of
    :class:`OptimizationListOut` but ``entries``."""
    setup = view.setup
    dimension = str(setup.resolve().level)
    threshold = setup.min_impressions if min_impressions is None else min_impressions
    lists = run_lists(session, view, threshold)
    chosen = lists.whitelist if list_type == "whitelist" else lists.blacklist
    whitelist = list_type == "whitelist"
    total_impressions = float(chosen["impressions"].sum()) if chosen.height else 0.0
    average = chosen["score"].mean() if chosen.height else None
    payload = {
        "list_type": list_type,
        "campaign_id": str(view.campaign.id),
        "analysis_level": dimension,
        "domains": chosen[dimension].to_list(),
        "count": chosen.height,
        "criteria_used": {
            **lists.criteria(),
            "list_type": list_type,
            "quantile": setup.whitelist_quantile if whitelist else setup.blacklist_quantile,
            "score_threshold": (
                lists.whitelist_threshold if whitelist else lists.blacklist_threshold
            ),
            "rule": _rule(whitelist, lists.confidence),
        },
        "total_impressions": answers.whole(total_impressions),
        "average_score": None if average is None else round(float(cast(float, average)), 2),
    }
    return chosen, dimension, payload


def _rule(whitelist: bool, level: float | None) -> str:
    """The list's rule in words: the classic contract's, or at a confidence level the
    one-sided bound against the quantile of the shrunk scores (engine/decisions.py)."""
    if level is None:
        if whitelist:
            return "eligible rows with score >= the quantile, best first"
        return "eligible rows with score <= the quantile, worst first"
    sure = f"{level:.0%}"
    if whitelist:
        return (
            f"eligible rows at least {sure} sure to score >= the quantile of the shrunk "
            "scores (score_low >= it), surest first; the rest of the data is undecided"
        )
    return (
        f"eligible rows at least {sure} sure to score <= the quantile of the shrunk "
        "scores (score_high <= it), surest first; the rest of the data is undecided"
    )


def _entries(chosen: pl.DataFrame, dimension: str) -> list[dict[str, Any]]:
    """The list's rows as :class:`ListEntry` dicts."""
    return [
        {
            "domain": domain,
            "score": score,
            "impressions": answers.whole(impressions),
            "percentile_rank": percentile,
            "quality_status": status,
        }
        for domain, score, impressions, percentile, status in zip(
            chosen[dimension].to_list(),
            chosen["score"].to_list(),
            chosen["impressions"].to_list(),
            chosen["percentile_rank"].to_list(),
            chosen["quality_status"].to_list(),
            strict=True,
        )
    ]
