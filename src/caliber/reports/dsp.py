"""DSP-ready whitelists and blacklists: plain text lists, The Trade Desk bid-list bodies and
Display & Video 360 channel-site bodies (``docs/exports.md`` says what each DSP expects).

:func:`split_entries` tells web domains from app identifiers and drops the rest; nothing
that could start a spreadsheet formula (``= + - @``, whitespace) ever reaches a DSP file,
because no real domain or app id can start with one: such entries are dropped, never
prefixed with ``'`` (a prefixed entry would be a wrong domain).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

LIST_TYPES = ("whitelist", "blacklist")

# First labels of reverse-DNS bundle ids (``com.example.game``). "com", "net" and "org"
# are never the first label of a web domain, so they mark a bundle even with two labels;
# the others only with three or more labels and a last label that is not a usual TLD
# ("tv.example.com" is a website, "tv.pluto.android" an app).
_STRONG_BUNDLE_PREFIXES = frozenset({"com", "net", "org"})
_BUNDLE_PREFIXES = _STRONG_BUNDLE_PREFIXES | frozenset(
    {"io", "co", "tv", "air", "me", "jp", "de", "uk", "fr", "it", "es", "nl", "br", "ru"}
    | {"kr", "cn", "in", "au", "ca", "us", "mobi", "app", "info", "biz", "edu", "gov"}
)
_USUAL_TLDS = (_BUNDLE_PREFIXES - {"air", "app"}) | frozenset({"eu", "ch", "se", "pl", "at"})

_STORE_ID = re.compile(r"(?:id)?([1-9][0-9]{0,19})", re.IGNORECASE)  # App Store / Roku ids
_ASIN = re.compile(r"B0[0-9A-Z]{8}")  # Amazon Fire TV apps
_BUNDLE_LABEL = re.compile(r"[A-Za-z0-9_-]+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_APPLE_PATH_ID = re.compile(r"/id([0-9]+)/?$")
DV360_MAX_BYTES = 240  # Site.urlOrAppId: UTF-8, at most 240 bytes


@dataclass(frozen=True)
class EntrySplit:
    """Entries sorted for DSP lists: ``web`` domains, ``apps`` ids, ``dropped`` inputs."""

    web: list[str] = field(default_factory=list)
    apps: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def is_dsp_safe(entry: str) -> bool:
    """True for an entry a DSP list may carry: starts with a letter or digit and holds
    only letters, digits, ``.``, ``_`` and ``-`` (so it is inert in a spreadsheet too)."""
    return (
        bool(entry)
        and entry[0].isalnum()
        and all(char.isalnum() or char in "._-" for char in entry)
    )


def _web_domain(text: str, *, to_ascii: bool) -> str | None:
    host = text.lower()
    host = _SCHEME.sub("", host, count=1).removeprefix("//")
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return None
    host = name.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    labels = host.split(".")
    if len(labels) < 2 or len(host) > 253 or labels[-1].isdigit():
        return None
    for label in labels:
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return None
        if not all(char.isalnum() or char in "-_" for char in label):
            return None
    if to_ascii:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host


def _store_url_app(text: str) -> str | None:
    """The app id in a Play Store or App Store page URL, else None."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host == "play.google.com":
        ids = parse_qs(parts.query).get("id", [])
        return ids[0] if ids and _is_bundle(ids[0], any_prefix=True) else None
    if host in {"apps.apple.com", "itunes.apple.com"}:
        found = _APPLE_PATH_ID.search(parts.path)
        return found.group(1) if found else None
    return None


def _is_bundle(text: str, *, any_prefix: bool = False) -> bool:
    labels = text.split(".")
    if len(labels) < 2 or not all(_BUNDLE_LABEL.fullmatch(label) for label in labels):
        return False
    if not labels[0][0].isalpha() or any(label[0] == "-" for label in labels):
        return False
    if any_prefix:
        return True
    first, last = labels[0].lower(), labels[-1].lower()
    if first in _STRONG_BUNDLE_PREFIXES:
        return True
    return first in _BUNDLE_PREFIXES and len(labels) >= 3 and last not in _USUAL_TLDS


def classify_entry(name: str, *, to_ascii: bool = False) -> tuple[str, str] | None:
    """``("web", domain)``, ``("app", id)`` or None (dropped) for one raw list entry."""
    text = name.strip()
    if not text or any(char.isspace() or not char.isprintable() for char in text):
        return None
    store_id = _STORE_ID.fullmatch(text)
    if store_id:
        return "app", store_id.group(1)
    if _ASIN.fullmatch(text):
        return "app", text
    if _SCHEME.match(text):
        app = _store_url_app(text)
        if app is not None:
            return "app", app
    elif _is_bundle(text):
        return "app", text
    domain = _web_domain(text, to_ascii=to_ascii)
    if domain is None or not is_dsp_safe(domain):
        return None
    return "web", domain


def split_entries_report(names: Iterable[str], *, to_ascii: bool = False) -> EntrySplit:
    """Sort raw names into web domains and app ids, de-duplicated in first-seen order,
    with the dropped inputs (as given) listed too."""
    result = EntrySplit()
    seen: set[tuple[str, str]] = set()
    for name in names:
        kind_value = classify_entry(name, to_ascii=to_ascii) if isinstance(name, str) else None
        if kind_value is None:
            result.dropped.append(str(name))
            continue
        if kind_value in seen:
            continue
        seen.add(kind_value)
        kind, value = kind_value
        (result.web if kind == "web" else result.apps).append(value)
    return result


def split_entries(names: Iterable[str], *, to_ascii: bool = False) -> tuple[list[str], list[str]]:
    """``(web domains, app ids)`` of :func:`split_entries_report`."""
    report = split_entries_report(names, to_ascii=to_ascii)
    return report.web, report.apps


def _clean(entries: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for entry in entries:
        if is_dsp_safe(entry) and entry not in seen:
            seen.add(entry)
            kept.append(entry)
    return kept


def plain_list(entries: Sequence[str]) -> bytes:
    """One entry a line, ``\\n`` endings and a final newline, UTF-8 without BOM, no header;
    duplicates and unsafe entries (see :func:`is_dsp_safe`) dropped."""
    kept = _clean(entries)
    return "".join(f"{entry}\n" for entry in kept).encode("utf-8")


def _check_list_type(list_type: str) -> None:
    if list_type not in LIST_TYPES:
        raise ValueError(f"list_type must be 'whitelist' or 'blacklist', got {list_type!r}")


def trade_desk_bid_list(
    list_type: str,
    domains: Sequence[str],
    apps: Sequence[str],
    *,
    name: str,
    owner: str = "Advertiser",
    owner_id: str | None = None,
) -> dict[str, Any]:
    """The body of The Trade Desk ``POST /v3/bidlist``: a ``BlockList`` (blacklist,
    ``BidAdjustment`` 0) or ``TargetList`` (whitelist, ``BidAdjustment`` 1) with one bid
    line per domain or app id in ``DomainFragment``. ``BidListOwnerId`` stays null until
    the user fills in the advertiser (or ad group/campaign) id."""
    _check_list_type(list_type)
    adjustment = 0.0 if list_type == "blacklist" else 1.0
    return {
        "Name": name,
        "BidListAdjustmentType": "BlockList" if list_type == "blacklist" else "TargetList",
        "ResolutionType": "ApplyMultiplyAdjustment",
        "BidListOwner": owner,
        "BidListOwnerId": owner_id,
        "BidLines": [
            {"DomainFragment": entry, "BidAdjustment": adjustment}
            for entry in _clean([*domains, *apps])
        ],
    }


def dv360_sites(domains: Sequence[str], apps: Sequence[str]) -> dict[str, Any]:
    """The body of Display & Video 360 ``advertisers.channels.sites.replace``:
    ``{"newSites": [{"urlOrAppId": ...}, ...]}``; entries over 240 UTF-8 bytes dropped."""
    kept = [
        entry
        for entry in _clean([*domains, *apps])
        if len(entry.encode("utf-8")) <= DV360_MAX_BYTES
    ]
    return {"newSites": [{"urlOrAppId": entry} for entry in kept]}
