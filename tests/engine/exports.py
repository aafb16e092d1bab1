"""Random but realistic exports for tests, in the platforms' real headers and quirks."""

from __future__ import annotations

import csv
import io
import random

TD_COMMON = [
    "Date",
    "Site",
    "Supply Vendor",
    "Impressions",
    "Clicks",
    "Advertiser Cost (Adv Currency)",
    "All Last Click + View Conversions",
]
TD_CHANNEL = {
    "display": [
        "IAS Display Fully In View 1 Second Rate",
        "Ad Load - XL (Excessive) - Impressions",
        "Ad Refresh - Below 15s - Impressions",
    ],
    "video": [
        "Sampled Tracked Impressions",
        "Sampled Viewed Impressions",
        "Player Starts",
        "Player Completed Views",
        "Player Errors",
        "Player Mute",
    ],
    "ctv": [
        "TV Quality Index Raw",
        "TV Quality Index Measured Impressions",
        "Unique IDs",
    ],
}
TD_CHANNEL["audio"] = TD_CHANNEL["video"]
PP_COMMON = ["Date", "Domain", "Impressions", "Total Spend", "Clicks", "CTR", "Conversions", "eCPM"]

# The eight setups of scoring.md §1: (platform, goal, channel, ctr_sensitivity).
SETUPS: list[tuple[str, str, str, bool]] = [
    ("trade_desk", "awareness", "display", False),
    ("trade_desk", "awareness", "display", True),
    ("trade_desk", "action", "display", False),
    ("trade_desk", "awareness", "ctv", False),
    ("trade_desk", "action", "video", False),
    ("pulsepoint", "awareness", "display", False),
    ("pulsepoint", "action", "display", False),
    ("pulsepoint", "awareness", "video", False),
]


def headers(platform: str, channel: str) -> list[str]:
    if platform == "trade_desk":
        return TD_COMMON + TD_CHANNEL[channel]
    return PP_COMMON + (["Completion Rate"] if channel == "video" else [])


def _count(rng: random.Random, value: int) -> str:
    return f"{value:,}" if value >= 1000 and rng.random() < 0.5 else str(value)


def _money(value: float) -> str:
    return f"${value:,.2f}"


def _pct(rng: random.Random, value: float) -> str:
    if rng.random() < 0.04:
        return rng.choice(["N/A", "-", ""])
    return f"{value * 100:.2f}%"


def _spell(rng: random.Random, name: str) -> str:
    choice = rng.random()
    if choice < 0.15:
        return "www." + name
    if choice < 0.25:
        return " " + name.upper() + " "
    if choice < 0.3:
        return "WWW." + name.capitalize()
    return name


def make_export(platform: str, channel: str, *, seed: int, names: int = 40, days: int = 4) -> str:
    """CSV text: several days and vendors per name, a tail-aggregate row and a Total row."""
    rng = random.Random(seed)
    cols = headers(platform, channel)
    by_vendor = platform == "trade_desk" and channel == "ctv"
    base = [f"site{i:03d}.com" for i in range(names - 2)] + ["totalsportek.com", "summary.io"]
    vendors = ["Rubicon", "OpenX", "PubMatic", "Index Exchange", "Magnite", "TripleLift"]
    lines = [",".join(f'"{c}"' if "," in c else c for c in cols)]
    totals = {"Impressions": 0}
    for name in base:
        size = int(rng.lognormvariate(7.5, 1.3)) + 1
        quality = rng.random()
        for day in range(days):
            vendor = rng.choice(vendors)
            imps = max(1, int(size * rng.uniform(0.5, 1.5)))
            totals["Impressions"] += imps
            clicks = int(imps * rng.uniform(0.0005, 0.006) * (0.5 + quality))
            spend = imps / 1000 * rng.uniform(1.0, 20.0)
            conv = int(clicks * rng.uniform(0, 0.2))
            site = _spell(rng, name) if not by_vendor else rng.choice(["Roku", "Pluto TV", ""])
            dim_vendor = _spell(rng, vendor.lower()) if by_vendor else vendor
            values: dict[str, str] = {
                "Date": f"2024-03-{day + 1:02d}",
                "Site": site,
                "Supply Vendor": dim_vendor,
                "Domain": _spell(rng, name),
                "Impressions": _count(rng, imps),
                "Clicks": str(clicks),
                "Advertiser Cost (Adv Currency)": _money(spend),
                "Total Spend": _money(spend),
                "All Last Click + View Conversions": str(conv),
                "Conversions": str(conv),
                "CTR": _pct(rng, clicks / imps),
                "eCPM": _money(spend / imps * 1000),
                "IAS Display Fully In View 1 Second Rate": _pct(rng, rng.uniform(0.2, 0.9)),
                "Ad Load - XL (Excessive) - Impressions": str(int(imps * rng.uniform(0, 0.3))),
                "Ad Refresh - Below 15s - Impressions": str(int(imps * rng.uniform(0, 0.4))),
                "Completion Rate": _pct(rng, rng.uniform(0.3, 0.95)),
            }
            tracked = int(imps * rng.uniform(0.3, 0.9))
            starts = int(imps * rng.uniform(0.8, 1.0))
            values.update(
                {
                    "Sampled Tracked Impressions": str(tracked),
                    "Sampled Viewed Impressions": str(int(tracked * rng.uniform(0.3, 1.0))),
                    "Player Starts": str(starts),
                    "Player Completed Views": str(int(starts * rng.uniform(0.2, 0.95))),
                    "Player Errors": str(int(imps * rng.uniform(0, 0.05))),
                    "Player Mute": str(int(imps * rng.uniform(0, 0.3))),
                    "TV Quality Index Raw": f"{imps * rng.uniform(0.3, 1.0):.1f}",
                    "TV Quality Index Measured Impressions": str(imps),
                    "Unique IDs": str(int(imps * rng.uniform(0.1, 0.9))),
                }
            )
            lines.append(",".join(_quote(values[c]) for c in cols))
    tail = dict.fromkeys(cols, "")
    tail.update({"Date": "2024-03-01", "Site": "[tail aggregate]", "Domain": "[tail aggregate]"})
    tail.update({"Impressions": "5000", "Supply Vendor": "[Tail Aggregate]"})
    lines.append(",".join(_quote(tail[c]) for c in cols))
    total = dict.fromkeys(cols, "")
    total.update({"Date": "Total", "Impressions": _count(rng, totals["Impressions"])})
    lines.append(",".join(_quote(total[c]) for c in cols))
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    return f'"{value}"' if "," in value else value


def rename_sites(text: str, names: dict[str, str]) -> bytes:
    """``text`` (a Trade Desk export) with every spelling of a site (case, padding,
    ``www.``) in ``names`` replaced by its new name, re-quoted as CSV."""
    rows = list(csv.reader(io.StringIO(text)))
    site = rows[0].index("Site")
    for row in rows[1:]:
        if len(row) > site:
            row[site] = names.get(row[site].strip().lower().removeprefix("www."), row[site])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()
