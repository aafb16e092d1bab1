"""A corpus of hostile or broken uploads, built in memory, each with what Caliber must
answer: refused at upload (status and words), refused when scoring starts (422 and
words), failed by the scoring job with a readable message, or scored (valid but odd)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass

from tests.engine import workbooks as wb
from tests.engine.exports import make_export

GOOD = make_export("trade_desk", "display", seed=9)
HEAD = GOOD.splitlines()[0]
# Large enough that its last rows lie beyond the first 64 KiB (what readers sniff).
LARGE = make_export("trade_desk", "display", seed=9, names=300)


@dataclass(frozen=True)
class Hostile:
    name: str
    filename: str
    data: bytes
    outcome: str  # "upload" | "start" | "job" | "scored"
    words: str = ""  # in the message (lower case)
    status: int = 0  # for "upload"


def _rows() -> list[list[str]]:
    return list(csv.reader(io.StringIO(GOOD)))


def _write(rows: list[list[str]], delimiter: str = ",") -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _mutate(column: str, change: Callable[[str], str]) -> bytes:
    rows = _rows()
    index = rows[0].index(column)
    for row in rows[1:]:
        if len(row) > index:
            row[index] = change(row[index])
    return _write(rows).encode()


def _mutate_first(column: str, value: str) -> bytes:
    """GOOD with one data row's ``column`` set to ``value``."""
    rows = _rows()
    rows[1][rows[0].index(column)] = value
    return _write(rows).encode()


def _real_xlsx() -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer)
    sheet = book.add_worksheet()
    for r, row in enumerate(_rows()):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def corpus() -> list[Hostile]:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<worksheet><sheetData><row><c><is><t>&b;</t></is></c></row></sheetData></worksheet>"
    )
    nested = b'<?xml version="1.0"?><worksheet>' + b"<a>" * 100_000 + b"</a>" * 100_000
    bomb = b'<?xml version="1.0"?><worksheet>' + b" " * (300 * 1024 * 1024) + b"</worksheet>"
    full = _real_xlsx()
    unicode = (
        GOOD.replace("site003.com", "bücher.de")
        .replace("site004.com", "例え.jp")
        .replace("site005.com", "пример.рф")
    )
    wide = ",".join(f"c{i}" for i in range(10_000)) + "\n" + ",".join("1" * 10_000) + "\n"
    return [
        Hostile("empty", "x.csv", b"", "upload", "empty", 422),
        Hostile("only blank space", "x.csv", b"\n\n   \n\t\n", "upload", "blank", 422),
        Hostile("binary", "x.csv", bytes(range(256)) * 40, "upload", "binary", 415),
        Hostile("png", "x.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 2000, "upload", ".png", 415),
        Hostile("pdf named csv", "x.csv", b"%PDF-1.7\n" + b"x" * 500, "upload", "pdf", 415),
        Hostile("utf-16 without bom", "x.csv", GOOD.encode("utf-16-le"), "upload", "binary", 415),
        Hostile(
            "nul bytes",
            "x.csv",
            GOOD.encode().replace(b"site002", b"s\0ite"),
            "upload",
            "binary",
            415,
        ),
        Hostile(
            "60 MB",
            "x.csv",
            b"Site,Impressions\n" + b"a.com,1\n" * 7_900_000,
            "upload",
            "larger than",
            413,
        ),
        Hostile("header only", "x.csv", (HEAD + "\n").encode(), "start", "no data rows"),
        Hostile("truncated xlsx", "x.xlsx", full[: len(full) // 2], "start", "damaged"),
        Hostile("zip bomb xlsx", "x.xlsx", wb.xlsx(bomb), "start", "compression ratio"),
        Hostile("billion laughs xlsx", "x.xlsx", wb.xlsx(laughs), "start", "dtd"),
        Hostile("deeply nested xml xlsx", "x.xlsx", wb.xlsx(nested), "start", "empty"),
        Hostile(
            "xls garbage",
            "x.xls",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000,
            "start",
            "xls",
        ),
        Hostile("huge single line", "x.csv", b"a," * 400_000, "start", "header row) is longer"),
        Hostile(
            "html named csv",
            "x.csv",
            b"<!DOCTYPE html><html><body>Site</body></html>",
            "start",
            "no data rows",
        ),
        Hostile(
            "json named csv",
            "x.csv",
            b'[{"Site": "a.com", "Impressions": 5}]',
            "start",
            "no data rows",
        ),
        Hostile(
            "unbalanced quotes",
            "x.csv",
            (HEAD + '\n"site001.com,2024-03-01,1\n').encode(),
            "start",
            "could not be parsed",
        ),
        Hostile("ten thousand columns", "x.csv", wide.encode(), "start", "no domain column"),
        Hostile(
            "duplicate headers",
            "x.csv",
            GOOD.replace("Clicks", "Impressions", 1).encode(),
            "start",
            "ctr needs",
        ),
        Hostile(
            "negative counts",
            "x.csv",
            _mutate("Impressions", lambda v: "-" + v),
            "job",
            "no positive value",
        ),
        Hostile(
            "non-numeric counts",
            "x.csv",
            _mutate("Impressions", lambda v: "lots"),
            "job",
            "no positive value",
        ),
        Hostile(
            "only a total row",
            "x.csv",
            (HEAD + "\nTotal,,,100,1,$1,0,50%,1,1\n").encode(),
            "job",
            "aggregate row",
        ),
        Hostile(
            "formula cells",
            "x.csv",
            GOOD.replace("site006.com", '"=HYPERLINK(""http://x"")"').encode(),
            "scored",
        ),
        Hostile(
            "invalid utf-8 bytes",
            "x.csv",
            GOOD.encode().replace(b"site001", b"site\xff\xfe"),
            "scored",
        ),
        Hostile("unicode domains", "x.csv", unicode.encode(), "scored"),
        Hostile("semicolon separated", "x.csv", _write(_rows(), ";").encode(), "scored"),
        Hostile("traversal filename", "../../../etc/passwd.csv", GOOD.encode(), "scored"),
        Hostile("long filename", "a" * 300 + ".csv", GOOD.encode(), "scored"),
        # issue 14: workbooks whose reader would allocate without bound
        Hostile("sparse xlsx", "x.xlsx", wb.sparse_xlsx(), "start", "span a1:xfd1048576"),
        Hostile(
            "sparse xls",
            "x.xls",
            wb.xls([(0, 0, "Site"), (65535, 255, "x")]),
            "start",
            "16,777,216 cells",
        ),
        Hostile(
            "xls declaring 4 billion rows",
            "x.xls",
            wb.with_dimensions(wb.small_xls(), 5, 1, 0, 1),
            "start",
            "4,294,967,292 rows",
        ),
        Hostile(
            "xls header declaring 2 billion fat sectors",
            "x.xls",
            wb.with_header_count(wb.small_xls(), 44, 0x7FFFFFFF),
            "start",
            "fat sectors",
        ),
        # issue 14: cells and encodings the engine now decides the same way everywhere
        Hostile("impressions of 1e19", "x.csv", _mutate_first("Impressions", "1e19"), "scored"),
        Hostile("a 600-character site", "x.csv", _mutate_first("Site", "x" * 600), "scored"),
        Hostile("cr line endings", "x.csv", GOOD.replace("\n", "\r").encode(), "scored"),
        Hostile(
            "utf-8 with windows-1252 after 64 KB",
            "x.csv",
            LARGE.replace("site001.com", "café.fr").encode()
            + "2024-03-01,bücher.de,Rubicon,1000,1,$1,0,50%,1,1\n".encode("cp1252"),
            "scored",
        ),
        Hostile(
            "nul in a name after 64 KB",
            "x.csv",
            LARGE.encode().replace(b"site290.com", b"site\x00290.com"),
            "scored",
        ),
    ]
