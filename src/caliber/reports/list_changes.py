"""List changes a DSP accepts (issue 18 §2): for each list, the entries to add and to
remove between two runs, as The Trade Desk bid lines, as the body of Display & Video 360's
``sites:bulkEdit``, and as plain text (``docs/exports.md`` says where each goes).

Entries go through the same rules as the DSP lists (:mod:`caliber.reports.dsp`): web
domains and app ids are told apart, normalised and de-duplicated, and anything that is
not a domain or an app id (a supply vendor's name, a formula) is dropped, so an entry is
never removed or added in a form the DSP's list does not hold.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from caliber.reports.dsp import DV360_MAX_BYTES, LIST_TYPES, split_entries

FORMATS = ("ttd", "dv360", "text")
MEDIA_TYPES = {"ttd": "application/json", "dv360": "application/json", "text": "text/plain"}
EXTENSIONS = {"ttd": "json", "dv360": "json", "text": "txt"}
CHANGES = ("add", "remove")
# the names of the files `caliber diff --out` writes, one per list, change and format
TEXT_FILES = {(name, change): f"{name}_{change}.txt" for name in LIST_TYPES for change in CHANGES}

Changes = Mapping[str, Mapping[str, Sequence[str]]]  # list -> add/remove -> names


def dsp_entries(names: Sequence[str]) -> list[str]:
    """The names as a DSP list holds them: web domains, then app ids (see ``dsp``)."""
    web, apps = split_entries(names)
    return [*web, *apps]


def trade_desk_changes(changes: Changes) -> dict[str, Any]:
    """Per list, The Trade Desk bid lines to add and to remove: the whitelist's
    (``TargetList``) with ``BidAdjustment`` 1, the blacklist's (``BlockList``) with 0, as
    ``trade_desk_bid_list`` writes them."""
    body: dict[str, Any] = {}
    for name in LIST_TYPES:
        adjustment = 0.0 if name == "blacklist" else 1.0
        body[name] = {
            "BidListAdjustmentType": "BlockList" if name == "blacklist" else "TargetList",
            **{
                change: [
                    {"DomainFragment": entry, "BidAdjustment": adjustment}
                    for entry in dsp_entries(changes[name][change])
                ]
                for change in CHANGES
            },
        }
    return body


def dv360_changes(changes: Changes) -> dict[str, Any]:
    """Per list, the body of DV360's ``advertisers.channels.sites.bulkEdit`` for that
    list's channel: ``createdSites`` (``Site`` objects) and ``deletedSites`` (their
    ``urlOrAppId``); entries over 240 UTF-8 bytes dropped, as ``dv360_sites`` does."""

    def fits(entries: Sequence[str]) -> list[str]:
        return [e for e in dsp_entries(entries) if len(e.encode("utf-8")) <= DV360_MAX_BYTES]

    return {
        name: {
            "createdSites": [{"urlOrAppId": entry} for entry in fits(changes[name]["add"])],
            "deletedSites": fits(changes[name]["remove"]),
        }
        for name in LIST_TYPES
    }


def text_list(entries: Sequence[str]) -> bytes:
    """One change of one list: one entry a line, ``\\n`` endings and a final newline,
    UTF-8 without BOM (``dsp.plain_list``'s format), web domains then app ids."""
    return "".join(f"{entry}\n" for entry in dsp_entries(entries)).encode("utf-8")


def text_changes(changes: Changes) -> bytes:
    """Every change in one text file: a ``# <list>: <add|remove> (<count>)`` heading
    line before each change's entries (one a line, as :func:`text_list`), whitelist then
    blacklist, additions then removals, a blank line between sections. Paste the lines
    under a heading into the DSP's list (a heading never starts an entry: ``#`` is not a
    DSP-safe first character)."""
    sections = []
    for name in LIST_TYPES:
        for change in CHANGES:
            entries = dsp_entries(changes[name][change])
            lines = [f"# {name}: {change} ({len(entries)})", *entries]
            sections.append("\n".join(lines) + "\n")
    return "\n".join(sections).encode("utf-8")


def render(changes: Changes, format_: str) -> bytes:
    """The list changes in ``format_`` (:data:`FORMATS`) as a file's bytes."""
    if format_ == "text":
        return text_changes(changes)
    if format_ == "ttd":
        body = trade_desk_changes(changes)
    elif format_ == "dv360":
        body = dv360_changes(changes)
    else:
        msg = f"format must be one of {', '.join(FORMATS)}, got {format_!r}"
        raise ValueError(msg)
    return (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
