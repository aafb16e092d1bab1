"""Charts, palette, fonts, value formatting and wording of the PDF report (:mod:`.document`).

Charts are drawn with matplotlib's object API only (``Figure`` + ``FigureCanvasAgg``, never
pyplot), so rendering keeps no global figure state. Each chart is a PNG sized in inches to the
space it takes on the page, so its text matches the document's: matplotlib's bundled DejaVu
Sans, which the PDF embeds too. Everything here is free of reportlab.
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from caliber.engine.columns import INPUTS
from caliber.reports.data import ReportData

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_OBLIQUE = FONT_DIR / "DejaVuSans-Oblique.ttf"
FONT_BOLD_OBLIQUE = FONT_DIR / "DejaVuSans-BoldOblique.ttf"
# CJK glyphs are missing from DejaVu Sans: such runs use the standard Adobe CID fonts
CJK_FONTS = {"ja": "HeiseiKakuGo-W5", "ko": "HYGothic-Medium", "zh": "STSong-Light"}
_CJK_RANGES = (
    (0x1100, 0x11FF), (0x2E80, 0x9FFF), (0xA960, 0xA97F), (0xAC00, 0xD7FF),
    (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFFEF), (0x20000, 0x2FFFF),
)  # fmt: skip

ACCENT = "#1F4E79"
ACCENT_LIGHT = "#E8EFF6"
INK = "#1F2933"
MUTED = "#6B7280"
RULE = "#D9DEE4"
STATUS_COLOURS = {"good": "#2E7D32", "moderate": "#E09B00", "poor": "#C62828"}
DPI = 180
CHART_WIDTH = 7.0  # inches: the text width of a Letter page with 0.75 in margins
DASH = "—"
LEVELS = ((80.0, "Excellent"), (60.0, "Good"), (40.0, "Moderate"), (-math.inf, "Poor"))
PLATFORMS = {"trade_desk": "The Trade Desk", "pulsepoint": "PulsePoint"}
_ACRONYMS = {"ctr", "cpm", "ecpm", "cpc", "cpa", "ias", "id", "ids", "tv", "xl", "url"}

_RC: dict[RcKeyType, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 8.0,
    "text.color": INK,
    "axes.edgecolor": RULE,
    "axes.labelcolor": MUTED,
    "axes.linewidth": 0.8,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "figure.facecolor": "white",
}


# --- values as text -----------------------------------------------------------------------


def performance_level(score: float | None) -> str:
    """Excellent (>= 80), Good (>= 60), Moderate (>= 40) or Poor; "Not available" for None."""
    number = finite(score)
    if number is None:
        return "Not available"
    return next(label for floor, label in LEVELS if number >= floor)


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def num(value: Any, decimals: int = 0) -> str:
    number = finite(value)
    return DASH if number is None else f"{number:,.{decimals}f}"


def money(value: Any, decimals: int = 2) -> str:
    number = finite(value)
    if number is None:
        return DASH
    return f"{'-' if number < 0 else ''}${abs(number):,.{decimals}f}"


def pct(value: Any, decimals: int | None = None) -> str:
    """A fraction as a percentage: 3 decimals below 1 %, else 2 (or ``decimals``)."""
    number = finite(value)
    if number is None:
        return DASH
    places = decimals if decimals is not None else (3 if abs(number) < 0.01 else 2)
    return f"{100 * number:.{places}f}%"


def share(part: Any, whole: Any) -> str:
    top, bottom = finite(part), finite(whole)
    return DASH if top is None or not bottom else pct(top / bottom, 1)


def by_unit(value: Any, unit: str) -> str:
    """ "fraction" as %, "currency" as $, "count" with separators, "points" with 1 decimal."""
    if unit == "fraction":
        return pct(value)
    if unit == "currency":
        return money(value)
    return num(value, {"count": 0, "points": 1}.get(unit, 2))


def date(value: datetime | None) -> str:
    """``27 Nov 2026 14:05 UTC`` (naive datetimes are taken as UTC)."""
    if value is None:
        return DASH
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.strftime("%d %b %Y %H:%M UTC")


def words(value: str) -> str:
    """``supply_vendor`` -> ``Supply Vendor``."""
    return value.replace("_", " ").strip().title() or DASH


def field_name(value: str) -> str:
    """``ias_display_fully_in_view_1s_rate`` -> ``IAS display fully in view 1s rate``."""
    parts = [p.upper() if p in _ACRONYMS else p for p in value.lower().split("_") if p]
    text = " ".join(parts) or DASH
    return text[0].upper() + text[1:]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, at a word end when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ", max(0, limit - 30))
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def _is_cjk(ch: str) -> bool:
    return any(low <= ord(ch) <= high for low, high in _CJK_RANGES)


def markup(value: object, limit: int = 400) -> str:
    """Untrusted ``value`` as safe reportlab Paragraph markup: control characters blanked,
    clipped to ``limit``, escaped, and CJK runs (which DejaVu Sans lacks) set in a CID font so
    they show and extract as text."""
    text = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in str(value))
    text = clip(text, limit)
    charset = font_charset()
    if all(ord(ch) in charset for ch in text):
        return escape(text)
    japanese = any(0x3040 <= ord(ch) <= 0x30FF for ch in text)  # kana: Han runs are Japanese
    parts = []
    for fallback, run in itertools.groupby(text, lambda c: ord(c) not in charset and _is_cjk(c)):
        chunk = "".join(run)
        if not fallback:
            parts.append(escape(chunk))
            continue
        korean = any(0xAC00 <= ord(ch) <= 0xD7FF or 0x1100 <= ord(ch) <= 0x11FF for ch in chunk)
        cjk = CJK_FONTS["ko" if korean else "ja" if japanese else "zh"]
        parts.append(f'<font name="{cjk}">{escape(chunk)}</font>')
    return "".join(parts)


# --- wording ---------------------------------------------------------------------------------


def noun(data: ReportData, count: int = 2) -> str:
    """What a result row names: "domain(s)" or "supply vendor(s)"."""
    word = "supply vendor" if data.campaign.analysis_level == "supply_vendor" else "domain"
    return word if count == 1 else word + "s"


def metric_name(metric: str) -> str:
    """The export header of a standard metric (``CTR``), else its name in words."""
    known = INPUTS.get(metric)
    return known.header if known else field_name(metric)


def title_facts(data: ReportData) -> list[tuple[str, str]]:
    c = data.campaign
    return [
        ("Platform", PLATFORMS.get(c.platform, words(c.platform))),
        ("Goal", words(c.goal)),
        ("Channel", words(c.channel)),
        ("CTR sensitivity", "On" if c.ctr_sensitivity else "Off"),
        ("Analysis level", words(c.analysis_level)),
        ("Status", words(c.status)),
        ("Created", date(c.created_at)),
        ("Completed", date(c.completed_at)),
        ("Source file", clip(c.source_filename or DASH, 120)),
        ("Report generated", date(data.generated_at)),
    ]


def overview_facts(data: ReportData) -> list[tuple[str, str]]:
    s, score = data.summary, data.summary.get("campaign_level_score")
    return [
        ("Impressions", num(s.get("total_impressions"))),
        ("Spend", money(s.get("total_spend"))),
        ("Average CPM", money(s.get("average_cpm"))),
        ("Campaign score", f"{num(score, 1)} / 100 ({performance_level(finite(score))})"),
        (f"Total {noun(data)}", num(data.total_rows)),
        ("Processing date", date(data.campaign.completed_at)),
    ]


def processing_facts(dq: dict[str, Any]) -> list[tuple[str, str]]:
    """Row counts of the engine's processing report (``ProcessingReport.to_dict()``)."""
    dropped = {str(k): v for k, v in (dq.get("rows_dropped") or {}).items()}
    reasons = ", ".join(f"{words(k).lower()}: {num(v)}" for k, v in dropped.items())
    total_dropped = dq.get("rows_dropped_total", sum(finite(v) or 0 for v in dropped.values()))
    return [
        ("Rows read", num(dq.get("rows_read"))),
        ("Rows scored", num(dq.get("rows_scored"))),
        ("Rows dropped", num(total_dropped) + (f" ({reasons})" if reasons else "")),
        ("Rows aggregated", num(dq.get("rows_aggregated"))),
        ("Rows filtered", num(dq.get("rows_filtered"))),
        ("File", " · ".join(str(dq[k]) for k in ("file_format", "encoding") if dq.get(k)) or DASH),
    ]


def key_insights(data: ReportData) -> list[str]:
    """The Executive Summary bullets, as markup: only what the numbers hold."""
    s, what, items = data.summary, noun(data), []
    counts = {k: int(finite(v) or 0) for k, v in (s.get("status_counts") or {}).items()}
    good, total = counts.get("good", 0), sum(counts.values())
    if total:
        items.append(
            f"<b>{good:,} of {total:,} {what}</b> ({share(good, total)}) rated good, "
            f"{counts.get('moderate', 0):,} moderate and {counts.get('poor', 0):,} poor."
        )
    dist = s.get("score_distribution") or {}
    if finite(dist.get("min")) is not None and finite(dist.get("max")) is not None:
        items.append(
            f"Scores range from {num(dist['min'], 1)} to {num(dist['max'], 1)} "
            f"(median {num(dist.get('median'), 1)})."
        )
    if data.top_rows:
        best = data.top_rows[0]
        items.append(
            f"Best performer: <b>{markup(best.domain, 80)}</b>, score {num(best.score, 1)} on "
            f"{num(best.impressions)} impressions."
        )
    worst = next(iter(s.get("bottom_performers") or []), None)
    if isinstance(worst, dict):
        name = worst.get(data.campaign.analysis_level, worst.get("domain", DASH))
        items.append(
            f"Weakest performer: <b>{markup(name, 80)}</b>, score {num(worst.get('score'), 1)} "
            f"on {num(worst.get('impressions'))} impressions."
        )
    impressions = s.get("total_impressions")
    for snap in (data.whitelist, data.blacklist):
        part = share(snap.total_impressions, impressions)
        items.append(
            f"The {snap.list_type} holds {len(snap.entries):,} {noun(data, len(snap.entries))}"
            + (f" ({part} of impressions)." if snap.entries and part != DASH else ".")
        )
    black_spend = sum((finite(e.spend) or 0.0 for e in data.blacklist.entries), 0.0)
    if black_spend and finite(s.get("total_spend")):
        items.append(
            f"Blacklisted {what} absorbed {money(black_spend)} "
            f"({share(black_spend, s.get('total_spend'))}) of spend."
        )
    warnings = [w for w in data.data_quality.get("warnings") or [] if isinstance(w, dict)]
    if warnings:
        top = max(warnings, key=lambda w: finite(w.get("count")) or 0)
        items.append(
            f"Main data-quality note: {markup(top.get('message') or top.get('code'), 240)} "
            "(see Data Quality Notes)."
        )
    return items


def recommended_actions(data: ReportData) -> list[str]:
    """The action guidance of the Optimization Recommendations, as markup."""
    what, white, black = noun(data), len(data.whitelist.entries), len(data.blacklist.entries)
    platform = PLATFORMS.get(data.campaign.platform, "the buying platform")
    moderate = int(finite((data.summary.get("status_counts") or {}).get("moderate")) or 0)
    eligible = finite(data.whitelist.criteria.get("eligible_rows"))
    unjudged = data.total_rows - int(eligible) if eligible is not None else 0
    actions = [
        (white, f"Upload the whitelist ({white:,} {what}) to {platform} as a target (inclusion) "
                "list so budget concentrates on proven inventory."),
        (black, f"Apply the blacklist ({black:,} {what}) as a block list to stop spend on the "
                "weakest inventory; check it for strategic partners first."),
        (moderate, f"Review the {moderate:,} moderate {what}: keep the strategically important "
                   "ones and watch those close to the blacklist threshold."),
        (unjudged > 0, f"{unjudged:,} {what} had too few impressions to be judged; let them "
                       "gather volume before deciding on them."),
        (True, "Re-score the campaign after two to four weeks of delivery with the lists in "
               "place to confirm the improvement."),
    ]  # fmt: skip
    return [escape(text) for keep, text in actions if keep]


def methodology(data: ReportData) -> str:
    """The Scoring Methodology paragraph, as markup."""
    return (
        "Each metric is normalized within the campaign to a 0–1 scale (inverted when lower is "
        f"better), multiplied by its weight and summed, giving every {noun(data, 1)} a score "
        "from 0 to 100. Labels follow the score percentile within the campaign: good from the "
        "75th percentile, moderate from the 25th, poor below. The campaign score is the "
        "impression-weighted average score; its level is <b>Excellent</b> from 80, <b>Good</b> "
        "from 60, <b>Moderate</b> from 40 and <b>Poor</b> below 40."
    )


# --- charts ----------------------------------------------------------------------------------


@cache
def font_charset() -> frozenset[int]:
    """The code points DejaVu Sans can draw."""
    return frozenset(FT2Font(str(FONT_REGULAR)).get_charmap())


def drawable(text: str, limit: int = 34) -> str:
    """``text`` clipped to ``limit`` characters; a name with glyphs the chart font lacks
    (CJK, say) shows each such label in its IDNA form (``xn--...``), which is still the
    real host name, instead of empty boxes."""
    charset = font_charset()
    if any(ord(ch) not in charset for ch in text):
        parts = []
        for label in text.split("."):
            if all(ord(ch) in charset for ch in label):
                parts.append(label)
            else:
                parts.append("xn--" + label.encode("punycode").decode("ascii"))
        text = ".".join(parts)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _figure(height: float) -> Figure:
    """A figure of the text width, drawn by the Agg canvas (no pyplot, no global state)."""
    figure = Figure(figsize=(CHART_WIDTH, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    """The figure as an opaque RGB PNG (no alpha channel, so no soft mask in the PDF)."""
    rgba = io.BytesIO()
    with warnings.catch_warnings():  # a glyph the font lacks is drawn as a box: no warning
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from", UserWarning)
        figure.savefig(rgba, format="png", dpi=DPI)
    rgba.seek(0)
    buffer = io.BytesIO()
    with Image.open(rgba) as image:
        image.convert("RGB").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def score_histogram_png(counts: Sequence[int], label: str = "domains") -> bytes:
    """Bars of the 10 score bins (0-10 ... 90-100) with their counts."""
    with matplotlib.rc_context(_RC):
        figure = _figure(2.6)
        axes = figure.add_subplot()
        values = [max(0, int(c)) for c in list(counts)[:10]] + [0] * max(0, 10 - len(counts))
        labels = [f"{10 * i}–{10 * i + 10}" for i in range(10)]
        bars = axes.bar(range(10), values, width=0.78, color=ACCENT, zorder=2)
        top = max(values)
        axes.set_ylim(0, top * 1.18 if top else 1)
        axes.bar_label(bars, [f"{v:,}" if v else "" for v in values], padding=2, fontsize=7)
        if not top:
            axes.text(0.5, 0.5, "No scores to show", transform=axes.transAxes, ha="center")
        axes.set_xticks(range(10), labels)
        axes.set_xlabel("Score")
        axes.set_ylabel(label.capitalize())
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        if not top:
            axes.set_yticks([])
        axes.grid(axis="y", color=RULE, linewidth=0.6, zorder=0)
        axes.spines[["top", "right", "left"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        return _png(figure)


def quality_mix_png(good: int, moderate: int, poor: int) -> bytes:
    """A donut of the good / moderate / poor counts with a legend of counts and shares."""
    with matplotlib.rc_context(_RC):
        figure = _figure(2.1)
        axes = figure.add_subplot()
        counts = [max(0, good), max(0, moderate), max(0, poor)]
        total = sum(counts)
        names = ("Good", "Moderate", "Poor")
        colours = [STATUS_COLOURS[n.lower()] for n in names]
        ring = {"width": 0.36, "edgecolor": "white", "linewidth": 1.5}
        if total:
            axes.pie(counts, colors=colours, startangle=90, counterclock=False, wedgeprops=ring)
        else:
            axes.pie([1], colors=[RULE], wedgeprops=ring)
        axes.text(0, 0.08, f"{total:,}", ha="center", va="center", fontsize=13, fontweight="bold")
        axes.text(0, -0.2, "rated", ha="center", va="center", fontsize=7, color=MUTED)
        axes.set_aspect("equal")
        share = [f"{100 * c / total:.0f}%" if total else "—" for c in counts]
        handles = [Patch(color=colour) for colour in colours]
        axes.legend(
            handles,
            [f"{n}  {c:,}  ({s})" for n, c, s in zip(names, counts, share, strict=True)],
            loc="center left",
            bbox_to_anchor=(1.15, 0.5),
            frameon=False,
            fontsize=8.5,
            handlelength=1.0,
            handleheight=1.0,
            labelspacing=1.0,
        )
        return _png(figure)


def top_height(rows: int) -> float:
    """The height in inches of :func:`top_scores_png` for ``rows`` bars."""
    return 0.5 + 0.3 * max(rows, 3)


def top_scores_png(rows: Sequence[tuple[str, float, str]]) -> bytes:
    """Horizontal bars of (name, score, status), best at the top, coloured by status."""
    with matplotlib.rc_context(_RC):
        figure = _figure(top_height(len(rows)))
        axes = figure.add_subplot()
        names = [f"{i}. {drawable(name)}" for i, (name, _, _) in enumerate(rows, start=1)]
        scores = [max(0.0, min(100.0, finite(score) or 0.0)) for _, score, _ in rows]
        colours = [STATUS_COLOURS.get(status, ACCENT) for *_, status in rows]
        bars = axes.barh(range(len(rows)), scores, color=colours, height=0.66, zorder=2)
        axes.bar_label(bars, [f"{score:.1f}" for score in scores], padding=3, fontsize=7.5)
        if not rows:
            axes.text(0.5, 0.5, "No scores to show", transform=axes.transAxes, ha="center")
        axes.set_yticks(range(len(rows)), names)
        axes.invert_yaxis()
        axes.set_xlim(0, 108)
        axes.set_xticks(range(0, 101, 20))
        axes.set_xlabel("Score (0–100)")
        axes.grid(axis="x", color=RULE, linewidth=0.6, zorder=0)
        axes.spines[["top", "right"]].set_visible(False)
        axes.tick_params(axis="y", length=0)
        return _png(figure)
