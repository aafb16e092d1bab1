"""The analyst and confidence (issue 17): a confident run's context carries its
decisions and, when a list is thin because the data is thin (most rows undecided, or a
list under half its classic size), says so; the offline analyst reports the decisions and
the reason, the prompts carry them to a model, and a classic campaign reads as before."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from caliber.ai import prompts
from caliber.ai.offline.confidence import thin_lists, thin_notes
from caliber.ai.offline.insights import INSIGHT_KINDS, offline_insight

SAMPLE: dict[str, Any] = json.loads((Path(__file__).parent / "sample_context.json").read_text())


def _block(white: int, black: int, undecided: int, classic: int = 122) -> dict[str, Any]:
    return {
        "level": 0.8,
        "decisions": {
            "whitelist": {"count": white, "impressions": 1000, "spend": 10.0},
            "blacklist": {"count": black, "impressions": 1000, "spend": 10.0},
            "undecided": {"count": undecided, "impressions": 1000, "spend": 10.0},
        },
        "classic_lists": {"whitelist_count": classic, "blacklist_count": classic},
    }


def confident(white: int, black: int, undecided: int) -> dict[str, Any]:
    """The sample campaign as if scored at 0.8, with these decisions."""
    ctx: dict[str, Any] = copy.deepcopy(SAMPLE["campaign"])
    block = _block(white, black, undecided)
    block["notes"] = thin_notes(block)
    ctx["confidence"] = block
    ctx["whitelist"]["count"] = white
    ctx["blacklist"]["count"] = black
    return ctx


def test_thin_notes_name_what_is_thin_and_why() -> None:
    # 400 of 489 rows undecided, both lists far under their classic 122
    thin = _block(40, 49, 400)
    notes = thin_notes(thin)
    assert notes[0].startswith("400 of the 489 domains (81.8%) are undecided")
    assert "the lists are short because the data is thin" in notes[0]
    assert "The whitelist holds 40 domains against 122 by the classic rule" in notes[1]
    assert "The blacklist holds 49 domains against 122" in notes[2]
    assert thin_lists(thin) == ["whitelist", "blacklist"]
    # most rows decided, both lists over half their classic size: nothing to say
    assert thin_notes(_block(125, 125, 239)) == []
    assert thin_lists(_block(125, 125, 239)) == []
    # only the blacklist is thin
    assert thin_lists(_block(100, 50, 339)) == ["blacklist"]
    # partial or junk blocks give fewer notes, never an error
    assert thin_notes({}) == []
    assert thin_notes({"level": "x", "decisions": None}) == []
    assert thin_notes({"level": 0.8, "decisions": {"undecided": {"count": None}}}) == []


def test_the_offline_analyst_says_a_thin_list_is_thin_because_the_data_is() -> None:
    ctx = confident(40, 49, 400)
    performance = offline_insight("performance", ctx)
    assert "**How sure the lists are**: at confidence 0.8" in performance
    assert "40 domains are decided for the whitelist, 49 for the blacklist and 400" in performance
    assert "the lists are short because the data is thin" in performance
    white = offline_insight("whitelist", ctx)
    assert "**Thin because the data is thin**: The whitelist holds 40 domains" in white
    assert "a score at least 80% sure to be >=" in white
    optimization = offline_insight("optimization", ctx)
    assert "**Let the undecided gather evidence**: 400 domains" in optimization
    for kind in INSIGHT_KINDS:
        text = offline_insight(
            kind, ctx if kind != "domain" else {**ctx, "domain": SAMPLE["domain_top"]}
        )
        assert 80 <= len(text.split()) <= 250, (kind, len(text.split()))
        assert not re.search(r"\bNone\b|\bnan\b|n/a|[{}]", text), kind


def test_well_decided_lists_are_not_called_thin() -> None:
    ctx = confident(125, 125, 239)
    performance = offline_insight("performance", ctx)
    assert "How sure the lists are" in performance
    assert "thin" not in performance
    assert "**Confident list**" in offline_insight("blacklist", ctx)
    assert "gather evidence" not in offline_insight("optimization", ctx)


@pytest.mark.parametrize("kind", INSIGHT_KINDS)
def test_a_classic_campaign_reads_as_before(kind: str) -> None:
    ctx = copy.deepcopy(SAMPLE["campaign"])
    if kind == "domain":
        ctx["domain"] = SAMPLE["domain_top"]
    text = offline_insight(kind, ctx)
    for word in ("How sure", "undecided", "thin because", "shrunk"):
        assert word not in text


def test_the_prompts_carry_the_decisions_to_a_model() -> None:
    ctx = confident(40, 49, 400)
    assert prompts.CONFIDENCE_NOTE in prompts.INSIGHT_SYSTEM
    assert prompts.CONFIDENCE_NOTE in prompts.CHAT_SYSTEM
    for kind in ("performance", "optimization", "campaign_overview", "whitelist", "blacklist"):
        values = {**ctx, "client_context": {}, "lists": {}, "level": "domain"}
        rendered = prompts.render(kind, values)
        block = rendered[rendered.index("<<<DATA confidence>>>") :]
        assert "the lists are short because the data is thin" in block, kind


def test_an_undecided_row_is_told_how_much_more_it_needs() -> None:
    ctx = confident(40, 49, 400)
    row = {
        **copy.deepcopy(SAMPLE["domain_top"]),
        "on_whitelist": False,
        "on_blacklist": False,
        "decision": "undecided",
        "score_low": 41.3,
        "score_high": 77.5,
        "impressions_needed": 12000,
    }
    text = offline_insight("domain", {**ctx, "domain": row})
    assert "**Recommendation: gather evidence.**" in text
    assert "anywhere from 41.3 to 77.5" in text
    assert "it needs about 12,000 more impressions" in text
    never = offline_insight("domain", {**ctx, "domain": {**row, "impressions_needed": None}})
    assert "no amount of volume will put it on a list" in never
    # a classic row (no decision) keeps the classic advice
    classic = offline_insight("domain", {**ctx, "domain": SAMPLE["domain_top"]})
    assert "gather evidence" not in classic
