"""The look of the PDF report shared by its pages and its charts: the palette and the fonts
(matplotlib's bundled DejaVu Sans, embedded in the PDF too, and the Adobe CID fonts for CJK
text it lacks). Free of ReportLab, like the charts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib
from matplotlib.ft2font import FT2Font

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT_REGULAR = FONT_DIR / "DejaVuSans.ttf"
FONT_BOLD = FONT_DIR / "DejaVuSans-Bold.ttf"
FONT_OBLIQUE = FONT_DIR / "DejaVuSans-Oblique.ttf"
FONT_BOLD_OBLIQUE = FONT_DIR / "DejaVuSans-BoldOblique.ttf"
# CJK glyphs are missing from DejaVu Sans: such runs use the standard Adobe CID fonts
CJK_FONTS = {"ja": "HeiseiKakuGo-W5", "ko": "HYGothic-Medium", "zh": "STSong-Light"}

ACCENT = "#1F4E79"
ACCENT_LIGHT = "#E8EFF6"
INK = "#1F2933"
MUTED = "#6B7280"
RULE = "#D9DEE4"
STATUS_COLOURS = {"good": "#2E7D32", "moderate": "#E09B00", "poor": "#C62828"}


@cache
def font_charset() -> frozenset[int]:
    """The code points DejaVu Sans can draw."""
    return frozenset(FT2Font(str(FONT_REGULAR)).get_charmap())
