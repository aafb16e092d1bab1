"""Exports whose columns the user has to choose (issue 16 §3), each beside its plainly
spelled twin: the same rows, written once in the documented headers and once in the
shape real exports come in.

- A Trade Desk display export whose conversions come per tracking tag, as the Trade
  Desk writes them when a report carries several tags: for each tag ``<tag> - Click
  Conversion``, ``<tag> - View Through Conversion`` and ``<tag> - Total Click + View
  Conversions`` (click + view-through = total), plus the tag's CPA in the advertiser's
  currency; no ``All Last Click + View Conversions``. The counted tags' totals add up to
  the plain twin's conversions; the other tags hold conversions the campaign does not
  count.
- A Trade Desk CTV report keyed by ``Publisher Name`` instead of ``Supply Vendor``.
"""

from __future__ import annotations

import csv
import io
import random

from tests.engine.exports import make_export

PLAIN_CONVERSIONS = "All Last Click + View Conversions"


def click(tag: str) -> str:
    return f"{tag} - Click Conversion"


def view(tag: str) -> str:
    return f"{tag} - View Through Conversion"


def total(tag: str) -> str:
    return f"{tag} - Total Click + View Conversions"


def cpa(tag: str) -> str:
    return f"{tag} - Total Click + View Conversions CPA (Adv Currency)"


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


def _split(rng: random.Random, value: int, parts: int) -> list[int]:
    """``value`` as ``parts`` random non-negative integers adding up to it."""
    cuts = sorted(rng.randint(0, value) for _ in range(parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, value], strict=True)]


def per_tag_twins(
    *,
    seed: int,
    tags: tuple[str, ...] = ("01", "02", "03"),
    counted: tuple[str, ...] = ("01", "02"),
    names: int = 40,
) -> tuple[bytes, bytes]:
    """(plain, tagged): one Trade Desk display export, its conversions once in ``All Last
    Click + View Conversions`` and once split over the ``counted`` tags (the others get
    conversions of their own, which the plain file does not count)."""
    rng = random.Random(seed)
    rows = _rows(make_export("trade_desk", "display", seed=seed, names=names))
    header = rows[0]
    at = header.index(PLAIN_CONVERSIONS)
    tag_headers = [h for tag in tags for h in (click(tag), view(tag), total(tag), cpa(tag))]
    tagged = [header[:at] + tag_headers + header[at + 1 :]]
    spend_at = header.index("Advertiser Cost (Adv Currency)")
    for row in rows[1:]:
        cell = row[at]
        cells: dict[str, str] = {}
        if cell.strip():
            shares = iter(_split(rng, int(cell.replace(",", "")), len(counted)))
            for tag in tags:
                count = next(shares) if tag in counted else rng.randint(0, 3)
                clicks = rng.randint(0, count)
                spend = float(row[spend_at].replace("$", "").replace(",", "") or 0)
                cells |= {
                    click(tag): str(clicks),
                    view(tag): str(count - clicks),
                    total(tag): str(count),
                    cpa(tag): f"{spend / count:.2f}" if count else "",
                }
        tagged.append(row[:at] + [cells.get(h, "") for h in tag_headers] + row[at + 1 :])
    return _csv(rows), _csv(tagged)


def publisher_twins(*, seed: int) -> tuple[bytes, bytes]:
    """(plain, by publisher): one Trade Desk CTV report keyed by ``Supply Vendor``, and
    the same keyed by ``Publisher Name``."""
    rows = _rows(make_export("trade_desk", "ctv", seed=seed))
    renamed = [["Publisher Name" if h == "Supply Vendor" else h for h in rows[0]], *rows[1:]]
    return _csv(rows), _csv(renamed)
