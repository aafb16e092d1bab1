"""The charts of the PDF report: score distribution, quality mix and top scores.

Charts are drawn with matplotlib's object API only (``Figure`` + ``FigureCanvasAgg``, never
pyplot), so rendering keeps no global figure state. Each chart is a PNG sized in inches to the
space it takes on the page, so its text matches the document's: matplotlib's bundled DejaVu
Sans, which the PDF embeds too (:mod:`.theme`). Everything here is free of reportlab.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PIL import Image

from caliber.reports.pdf.text import finite
from caliber.reports.pdf.theme import ACCENT, INK, MUTED, RULE, STATUS_COLOURS, font_charset

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 180
CHART_WIDTH = 7.0  # inches: the text width of a Letter page with 0.75 in margins

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
