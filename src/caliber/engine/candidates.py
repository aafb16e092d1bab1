"""Which of a file's columns look like an input no standard header gave, and the exact
mapping to read it from them.

Keyword rules per input, on a header's words (lower-cased, split at anything but letters,
digits and ``%``), never fuzzy: a header is a candidate when one of its words names the
input and none names something else (a rate, a price, revenue). Conversions come per
tracking tag in real exports (``01 - Click Conversion``, ``01 - View Through
Conversion``, ``01 - Total Click + View Conversions``, ``<pixel> - Total Click + View
Conversions``): candidates are grouped by tag (the text before the last `` - ``), and
the suggestion takes each tag's total rather than its click and view parts (which the
total already counts), or adds up the click and view-through parts of a tag that has
no total. Inputs without rules (player starts, rates, ...) get no candidates: the
message then lists the file's unmapped headers.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# Words that make a header a price, a rate or a share rather than a count or a name.
_NOT_A_COUNT = frozenset(
    {
        "%",
        "rate",
        "rates",
        "ratio",
        "share",
        "percent",
        "percentage",
        "pct",
        "per",
        "avg",
        "average",
        "cpm",
        "ecpm",
        "cpc",
        "ecpc",
        "cpa",
        "ecpa",
        "cpv",
        "cpcv",
        "roas",
        "cvr",
        "ctr",
        "vcr",
        "revenue",
        "value",
        "currency",
    }
)
_NAME_EXCLUDED = _NOT_A_COUNT | {
    "impressions",
    "clicks",
    "cost",
    "spend",
    "conversions",
    "count",
    "fee",
    "fees",
    "category",
    "categories",
    "type",
}

# input -> (words, one of which the header must have; words it must not have)
RULES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "conversions": (
        frozenset({"conversion", "conversions", "conv", "convs"}),
        (_NOT_A_COUNT - {"cpa"}) | {"cost", "spend", "usd"},
    ),
    "impressions": (
        frozenset({"impression", "impressions", "imps", "imp", "impr"}),
        _NOT_A_COUNT | {"cost", "spend"},
    ),
    "clicks": (
        frozenset({"click", "clicks"}),
        _NOT_A_COUNT | {"conversion", "conversions", "through", "cost", "spend"},
    ),
    "spend": (frozenset({"cost", "costs", "spend", "spent"}), _NOT_A_COUNT),
    "domain": (
        frozenset({"site", "sites", "domain", "domains", "app", "apps", "url", "website"}),
        _NAME_EXCLUDED,
    ),
    "supply_vendor": (
        frozenset({"vendor", "publisher", "ssp", "exchange", "supply", "seller", "network"}),
        _NAME_EXCLUDED,
    ),
}
# Words a header may have before its keyword but not after: "Total Custom CPA
# Conversions" counts conversions, "01 - Total Click + View Conversions CPA" is a price.
_NOT_AFTER = frozenset({"cpa"})
# How messages call each input's candidates.
_NOUNS = {"domain": "domains", "supply_vendor": "supply vendors"}
_WORDS = re.compile(r"[a-z0-9]+|%")
_TAG_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]\s+")
# the text a shell leaves alone inside double quotes
_PLAIN = re.compile(r'^[^"\\$`!]*$')
MESSAGE_CANDIDATES = 12  # candidates named in a message (all of them in the details)


@dataclass(frozen=True)
class Candidate:
    """A header that looks like the input; for conversions its tag and part."""

    header: str
    tag: str | None = None  # the tracking tag ("01", a pixel's name), if the header has one
    part: str | None = None  # conversions: "total", "click", "view" or "other"

    def to_dict(self) -> dict[str, Any]:
        return {"header": self.header, "tag": self.tag, "part": self.part}


@dataclass(frozen=True)
class Suggestion:
    """The candidates for one input and the headers suggested to read it from."""

    input: str
    candidates: tuple[Candidate, ...]
    chosen: tuple[str, ...]  # suggested headers (several: added up)
    note: str  # why these, when there was a choice

    @property
    def arguments(self) -> list[str]:
        """The exact ``--column`` arguments of the suggestion."""
        return [column_argument(self.input, h) for h in self.chosen]

    def describe(self) -> str:
        """The suggestion as a message fragment (one line)."""
        what = _NOUNS.get(self.input, self.input.replace("_", " "))
        if not self.candidates:
            return ""
        shown = _listing(self.candidates)
        use = " ".join(self.arguments)
        them = "them" if len(self.chosen) > 1 else "it"
        text = f"columns that look like {what}: {shown}; to read {self.input} from {them}: {use}"
        return text + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "candidates": [c.to_dict() for c in self.candidates],
            "suggested_columns": {self.input: list(self.chosen)} if self.chosen else {},
            "suggested_arguments": self.arguments,
            "note": self.note,
        }


def column_argument(name: str, header: str) -> str:
    """``--column NAME="HEADER"``, quoted for a POSIX shell."""
    if _PLAIN.match(header):
        return f'--column {name}="{header}"'
    return "--column " + shlex.quote(f"{name}={header}")


def words(header: str) -> list[str]:
    """A header's words for the keyword rules."""
    return _WORDS.findall(header.lower())


def matches(name: str, header: str) -> bool:
    """Whether ``header`` looks like input ``name`` by its keyword rule."""
    rule = RULES.get(name)
    if rule is None:
        return False
    wanted, excluded = rule
    found = words(header)
    keys = [i for i, w in enumerate(found) if w in wanted]
    if not keys or any(w in excluded for w in found):
        return False
    return not any(w in _NOT_AFTER for w in found[keys[-1] + 1 :])


def suggest(name: str, headers: Sequence[str]) -> Suggestion:
    """The candidates for input ``name`` among ``headers`` (the file's unmapped ones), in
    file order, and the headers to read it from."""
    found = [h for h in headers if matches(name, h)]
    if name == "conversions":
        return _conversions([_conversion(h) for h in found])
    candidates = tuple(Candidate(h) for h in found)
    if len(found) > 1:
        return Suggestion(name, candidates, (found[0],), "or another of these columns")
    return Suggestion(name, candidates, tuple(found), "")


def _conversion(header: str) -> Candidate:
    separators = list(_TAG_SEPARATOR.finditer(header))
    tag: str | None = None
    rest = header
    if separators and matches("conversions", header[separators[-1].end() :]):
        last = separators[-1]
        tag, rest = header[: last.start()].strip() or None, header[last.end() :]
    found = set(words(rest))
    if "total" in found or "all" in found or {"click", "view"} <= found:
        part = "total"
    elif "click" in found or "clicks" in found:
        part = "click"
    elif found & {"view", "views", "vt", "through", "impression"}:
        part = "view"
    else:
        part = "other"
    return Candidate(header, tag, part)


def _conversions(candidates: list[Candidate]) -> Suggestion:
    groups: dict[str | None, list[Candidate]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.tag, []).append(candidate)
    tagged = [tag for tag in groups if tag is not None]
    chosen: list[str] = []
    notes: list[str] = []
    totals_over_parts = parts_added = False
    for tag, members in groups.items():
        if tag is None and tagged:
            listed = ", ".join(f"'{c.header}'" for c in members)
            notes.append(f"{listed} left out: it may already count the tags' conversions")
            continue
        by_part = {p: [c.header for c in members if c.part == p] for p in _PARTS}
        if by_part["total"]:
            chosen.append(by_part["total"][0])
            totals_over_parts |= bool(by_part["click"] or by_part["view"])
        elif by_part["click"] or by_part["view"]:
            chosen += by_part["click"][:1] + by_part["view"][:1]
            parts_added = True
        else:
            chosen += by_part["other"]
    if totals_over_parts:
        notes.insert(
            0, "each tag's total: its click and view parts are left out, the total counts them"
        )
    if parts_added:
        notes.append("click and view-through conversions added up where there is no total")
    if len(tagged) > 1:
        notes.append("leave out a tag that is not a conversion for this campaign")
    return Suggestion("conversions", tuple(candidates), tuple(chosen), "; ".join(notes))


_PARTS = ("total", "click", "view", "other")


def _listing(candidates: Sequence[Candidate]) -> str:
    """Candidates for a message: grouped by tag when they have tags, at most
    :data:`MESSAGE_CANDIDATES` of them."""
    shown = list(candidates[:MESSAGE_CANDIDATES])
    more = len(candidates) - len(shown)
    groups: dict[str | None, list[str]] = {}
    for candidate in shown:
        groups.setdefault(candidate.tag, []).append(f"'{candidate.header}'")
    parts = [
        (f"tag '{tag}': " if tag is not None else "") + ", ".join(headers)
        for tag, headers in groups.items()
    ]
    return "; ".join(parts) + (f"; and {more} more" if more else "")


def listing(headers: Sequence[str], limit: int = 30) -> str:
    """Headers for a message, quoted, at most ``limit`` of them."""
    shown = ", ".join(f"'{h}'" for h in headers[:limit])
    more = len(headers) - limit
    return shown + (f" and {more} more" if more > 0 else "")
