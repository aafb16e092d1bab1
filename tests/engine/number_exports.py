"""Exports in other number formats (issue 16 §1), each beside its plainly spelled twin:
the same rows, written once in the documented spellings (``$1,234.56``, ``1,234``,
``84.12%``, ISO dates) and once the way the file really comes:

- the Trade Desk's "International" number format: decimal commas (``16,25``), percent
  strings with a comma (``84,12%``), counts without grouping, dates DD/MM/YYYY,
  comma-delimited with the cells quoted (or semicolon-delimited);
- a German Excel re-save of an export: semicolon-delimited, Windows-1252 with CRLF line
  ends, money as ``1.234,56 €``, counts grouped with points (``1.234``), percent strings
  as ``84,12 %``, dates DD.MM.YYYY;
- the same re-save as an .xlsx workbook, where Excel holds real numbers (money,
  counts) and percentages as fractions with a percent format, so the format of the
  text never matters.

Missing markers, names, the tail-aggregate and Total rows are left as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass

from tests.engine.exports import make_export

_TEXT_COLUMNS = {"Site", "Supply Vendor", "Domain"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PLAIN_NUMBER = re.compile(
    r"^(?P<money>\$)?(?P<int>\d{1,3}(?:,\d{3})*|\d+)(?:\.(?P<frac>\d+))?(?P<pct>%)?$"
)


@dataclass(frozen=True)
class Style:
    """How an export writes its numbers, dates and lines."""

    delimiter: str
    group: str  # the thousands separator of counts and money ("" for none)
    money: str  # how money is written around the number: "{} €", "{}"
    percent: str  # "{}%", "{} %"
    date: str  # strftime format
    encoding: str = "utf-8"
    newline: str = "\n"


INTERNATIONAL = Style(",", "", "{}", "{}%", "%d/%m/%Y")
INTERNATIONAL_SEMICOLON = Style(";", "", "{}", "{}%", "%d/%m/%Y")
GERMAN_RESAVE = Style(";", ".", "{} €", "{} %", "%d.%m.%Y", "cp1252", "\r\n")


def plain_export(seed: int, channel: str = "display") -> str:
    """A Trade Desk export in the documented spellings."""
    return make_export("trade_desk", channel, seed=seed)


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def _grouped(digits: str, mark: str) -> str:
    if not mark:
        return digits
    head = len(digits) % 3 or 3
    groups = [digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)]
    return mark.join(groups)


def _cell(value: str, header: str, style: Style) -> str:
    """One plain cell in ``style``: dates and numbers rewritten, the rest as it is."""
    if header == "Date":
        if _ISO_DATE.match(value):
            return dt.date.fromisoformat(value).strftime(style.date)
        return value
    if header in _TEXT_COLUMNS:
        return value
    found = _PLAIN_NUMBER.match(value.strip())
    if found is None:
        return value  # a missing marker
    number = _grouped(found["int"].replace(",", ""), style.group)
    if found["frac"] is not None:
        number += "," + found["frac"]
    if found["pct"]:
        return style.percent.format(number)
    if found["money"]:
        return style.money.format(number)
    return number


def restyle(text: str, style: Style) -> bytes:
    """The plain export ``text`` with its numbers and dates written in ``style``."""
    rows = _rows(text)
    header = rows[0]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=style.delimiter, lineterminator=style.newline)
    writer.writerow(header)
    for row in rows[1:]:
        writer.writerow(_cell(v, h, style) for h, v in zip(header, row, strict=True))
    return out.getvalue().encode(style.encoding)


def _number(value: str) -> float | int | None:
    found = _PLAIN_NUMBER.match(value.strip())
    if found is None:
        return None
    whole = found["int"].replace(",", "")
    if found["frac"] is None:
        return int(whole)
    return float(f"{whole}.{found['frac']}")


def german_xlsx(text: str) -> bytes:
    """The plain export ``text`` as Excel holds it after a German re-save: counts and
    money as numbers (money with a euro format), percentages as fractions with a
    percent format, dates as dates; names, markers and labels as text."""
    import xlsxwriter

    rows = _rows(text)
    header = rows[0]
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Bericht")
    euro = book.add_format({"num_format": "#,##0.00 [$€-407]"})
    percent = book.add_format({"num_format": "0.00%"})
    day = book.add_format({"num_format": "dd.mm.yyyy"})
    for col, name in enumerate(header):
        sheet.write_string(0, col, name)
    for r, row in enumerate(rows[1:], start=1):
        for col, (name, value) in enumerate(zip(header, row, strict=True)):
            number = None if name in _TEXT_COLUMNS | {"Date"} else _number(value)
            if name == "Date" and _ISO_DATE.match(value):
                sheet.write_datetime(r, col, dt.datetime.fromisoformat(value), day)
            elif number is None:
                if value:
                    sheet.write_string(r, col, value)
            elif value.strip().endswith("%"):
                sheet.write_number(r, col, number / 100, percent)
            elif value.strip().startswith("$"):
                sheet.write_number(r, col, number, euro)
            else:
                sheet.write_number(r, col, number)
    book.close()
    return buffer.getvalue()


def number_twins(seed: int) -> dict[str, bytes]:
    """The plain export and its twins in other number formats, by file name."""
    text = plain_export(seed)
    return {
        "plain.csv": text.encode("utf-8"),
        "ttd_international.csv": restyle(text, INTERNATIONAL),
        "ttd_international_semicolon.csv": restyle(text, INTERNATIONAL_SEMICOLON),
        "german_resave.csv": restyle(text, GERMAN_RESAVE),
        "german_resave.xlsx": german_xlsx(text),
    }
