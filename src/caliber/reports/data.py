"""What a report or export is made of: plain data gathered from the database by
:mod:`caliber.reports.service`, so the renderers (``formats``, ``pdf``) are pure functions
of it and can be tested without a database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CampaignFacts:
    """The campaign's identity and setup."""

    id: str
    name: str
    platform: str  # "trade_desk" | "pulsepoint"
    goal: str  # "awareness" | "conversion" | ...
    channel: str  # "display" | "video" | "ctv" | ...
    ctr_sensitivity: bool
    analysis_level: str  # "domain" | "supply_vendor": what each result row names
    status: str
    created_at: datetime
    completed_at: datetime | None
    source_filename: str | None
    description: str | None = None


@dataclass(frozen=True)
class ResultLine:
    """One scored row (a domain, app or supply vendor), best first by ``rank``."""

    rank: int
    domain: str
    score: float
    quality_status: str  # "good" | "moderate" | "poor"
    percentile_rank: int
    impressions: float
    spend: float | None
    cpm: float | None
    ctr: float | None  # a fraction: 0.0012 is 0.12 %
    conversions: float | None
    conversion_rate: float | None  # a fraction


@dataclass(frozen=True)
class MetricStats:
    """Spread of one metric over all scored rows (None values left out)."""

    label: str  # "Score", "CTR", "CPM", "Impressions"
    mean: float | None
    median: float | None
    minimum: float | None
    maximum: float | None
    unit: str  # "points" | "fraction" (show as %) | "currency" | "count"
    description: str


@dataclass(frozen=True)
class ListSnapshot:
    """A whitelist or blacklist as built for the campaign (scoring.md §5)."""

    list_type: str  # "whitelist" | "blacklist"
    entries: tuple[ResultLine, ...]  # in list order
    criteria: dict[str, Any]  # min_impressions, eligible_rows, thresholds, counts
    average_score: float | None
    total_impressions: float

    @property
    def domains(self) -> list[str]:
        return [entry.domain for entry in self.entries]


@dataclass(frozen=True)
class Insight:
    """A stored AI insight (text written by a model or the offline analyst: untrusted)."""

    insight_type: str
    content: str
    created_at: datetime


@dataclass(frozen=True)
class ReportData:
    """Everything the PDF and the JSON export show about one completed campaign."""

    campaign: CampaignFacts
    generated_at: datetime
    # the stored summary (engine.lists.campaign_summary): campaign_level_score,
    # total_impressions, total_spend, average_cpm, row_count, score_distribution
    # {mean, median, std, min, max, q25, q75}, status_counts {good, moderate, poor},
    # top_performers / bottom_performers [{<dimension>, score, impressions, ...}]
    summary: dict[str, Any]
    weights: dict[str, float]  # metric -> weight (sums to 1)
    directions: dict[str, str]  # metric -> "higher_is_better" | "lower_is_better"
    metric_stats: tuple[MetricStats, ...]
    score_histogram: tuple[int, ...]  # 10 bins: [0,10), [10,20), ..., [90,100]
    top_rows: tuple[ResultLine, ...]  # the first rows by rank (up to 50)
    total_rows: int
    whitelist: ListSnapshot
    blacklist: ListSnapshot
    data_quality: dict[str, Any]  # engine ProcessingReport.to_dict(), may be empty
    insights: tuple[Insight, ...] = field(default_factory=tuple)
