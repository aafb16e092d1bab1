"""List-change exports for a DSP (issue 18 §2): The Trade Desk bid lines, DV360's
bulkEdit body and plain text, each with the entries to add and to remove per list, by the
DSP lists' own entry rules."""

from __future__ import annotations

import json

import pytest

from caliber.reports import list_changes

CHANGES = {
    "whitelist": {
        "add": ["News.example", "com.game.app", "id422689480"],
        "remove": ["old.example"],
    },
    "blacklist": {
        "add": ["bad.example", "=HYPERLINK(1)", "Rubicon", "bad.example"],
        "remove": ["www.gone.example"],
    },
}


def test_trade_desk_lines_to_add_and_remove_per_list() -> None:
    body = json.loads(list_changes.render(CHANGES, "ttd"))
    assert body == {
        "whitelist": {
            "BidListAdjustmentType": "TargetList",
            "add": [
                {"DomainFragment": "news.example", "BidAdjustment": 1.0},
                {"DomainFragment": "com.game.app", "BidAdjustment": 1.0},
                {"DomainFragment": "422689480", "BidAdjustment": 1.0},
            ],
            "remove": [{"DomainFragment": "old.example", "BidAdjustment": 1.0}],
        },
        "blacklist": {
            "BidListAdjustmentType": "BlockList",
            # the formula and the vendor's name are no domains: dropped; the repeat once
            "add": [{"DomainFragment": "bad.example", "BidAdjustment": 0.0}],
            "remove": [{"DomainFragment": "gone.example", "BidAdjustment": 0.0}],
        },
    }


def test_dv360_bulk_edit_bodies_per_list() -> None:
    long_name = "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com"
    changes = {**CHANGES, "whitelist": {"add": ["x.example", long_name], "remove": []}}
    body = json.loads(list_changes.render(changes, "dv360"))
    assert body == {
        "whitelist": {"createdSites": [{"urlOrAppId": "x.example"}], "deletedSites": []},
        "blacklist": {
            "createdSites": [{"urlOrAppId": "bad.example"}],
            "deletedSites": ["gone.example"],
        },
    }


def test_plain_text_sections() -> None:
    text = list_changes.render(CHANGES, "text").decode("utf-8")
    assert text == (
        "# whitelist: add (3)\nnews.example\ncom.game.app\n422689480\n\n"
        "# whitelist: remove (1)\nold.example\n\n"
        "# blacklist: add (1)\nbad.example\n\n"
        "# blacklist: remove (1)\ngone.example\n"
    )
    assert list_changes.text_list(CHANGES["blacklist"]["add"]) == b"bad.example\n"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="ttd, dv360, text"):
        list_changes.render(CHANGES, "csv")
