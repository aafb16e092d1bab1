"""Number formats: which decimal mark a file and each of its numeric columns use.

Precedence, per column: the format given (``ReadOptions.number_format``), else what the
column's own cells say (:mod:`caliber.engine.numbers`; the majority when both kinds
occur), else what the file's columns say (one vote per column that decided; a tie in
columns goes to the side with more cells), else a decimal point, the contract's
reading, *assumed*. Only mapped numeric inputs vote: dates, names and unmapped columns
never do.

The file is decided on its first :data:`SAMPLE_ROWS` rows; the scoring pass then checks
every cell of every column it reads (``|unsure`` and ``|bad`` in
:mod:`caliber.engine.cells`). When a check fires, or when the sample could not tell
while holding cells that read either way, all rows are counted and the decision is made
again on them (:func:`needs_whole_file`). The decision, the cells that told and the columns read
otherwise go to the processing report (``number_format``), and what deserves attention
to its warnings: ``number_format_assumed``, ``number_format_mixed``,
``number_format_conflict`` and ``values_look_scaled`` (a CPM column at another scale
than spend / impressions).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import polars as pl

from caliber.engine.numbers import (
    COMMA,
    NAMES,
    POINT,
    evidence,
    other,
    parse_number,
    read_one,
    skeleton,
)
from caliber.engine.options import NumberFormat
from caliber.engine.report import DataWarning
from caliber.engine.table import Table

# Rows the file's format is decided on (then every cell is checked against it).
SAMPLE_ROWS = 5_000
# A CPM column this many times above or below spend / impressions x 1000 was read at
# another scale than the spend (or is in another currency): a real CPM column and the
# spend it was computed from agree to the cent.
SCALE_FACTOR = 5.0
_MONEY = ("spend", "cpm", "ecpm")
KINDS = ("point", "comma", "either")


class Decided(StrEnum):
    """How the file's number format was decided."""

    DETECTED = "detected"
    GIVEN = "given"
    ASSUMED = "assumed"


@dataclass(frozen=True)
class Tally:
    """What one column's cells say, with a cell of each kind."""

    point: int = 0
    comma: int = 0
    either: int = 0  # cells that read differently in the two formats ("1,234")
    examples: Mapping[str, str] = field(default_factory=dict)  # "point", "comma", "either"

    def own(self) -> NumberFormat | None:
        """The column's format by its own cells (the majority), or None."""
        if self.point == self.comma:
            return None
        return POINT if self.point > self.comma else COMMA

    def cells(self, fmt: NumberFormat) -> int:
        return self.point if fmt is POINT else self.comma


@dataclass(frozen=True)
class NumberColumn:
    """A numeric input column: its standard name, scan position and header."""

    name: str
    position: int
    header: str


@dataclass(frozen=True)
class NumberReading:
    """The number format of a file and of each of its numeric columns, and why."""

    used: NumberFormat  # the file's format
    decided: Decided
    detected: NumberFormat | None  # what the cells say, given or not (None: cannot tell)
    rows_examined: int  # the rows the cells were counted on
    whole_file: bool  # False: the first rows only (every cell is checked while scoring)
    columns: tuple[NumberColumn, ...]
    tallies: Mapping[int, Tally]  # by column position
    scale_warnings: tuple[DataWarning, ...] = ()

    def format_of(self, position: int) -> NumberFormat:
        """The format the column at ``position`` is read in."""
        if self.decided is Decided.GIVEN:
            return self.used
        own = self.tallies[position].own() if position in self.tallies else None
        return own or self.used

    @property
    def formats(self) -> dict[int, NumberFormat]:
        return {position: self.format_of(position) for position in self.tallies}

    def _column_decided(self, position: int) -> str:
        if self.decided is Decided.GIVEN:
            return "given"
        return "detected" if self.tallies[position].own() is not None else "file"

    def to_dict(self) -> dict[str, Any]:
        """For the processing report: the format, how it was decided, the cells that
        told, and the columns read otherwise or holding cells of the other format."""
        total = Tally(
            sum(t.point for t in self.tallies.values()),
            sum(t.comma for t in self.tallies.values()),
            sum(t.either for t in self.tallies.values()),
        )
        columns: dict[str, Any] = {}
        for column in self.columns:
            tally = self.tallies[column.position]
            fmt = self.format_of(column.position)
            if fmt is self.used and not tally.cells(other(fmt)):
                continue
            columns[column.header] = {
                "used": str(fmt),
                "decided": self._column_decided(column.position),
                "cells": _cells(tally),
            }
        return {
            "used": str(self.used),
            "decided": str(self.decided),
            "detected": str(self.detected) if self.detected else None,
            "rows_examined": self.rows_examined,
            "whole_file": self.whole_file,
            "cells": _cells(total),
            "columns": columns,
        }

    def warnings(self) -> list[DataWarning]:
        """The assumption, columns read otherwise than the file, cells of the other
        format, and a CPM column at another scale than the spend."""
        found: list[DataWarning] = []
        either = [c for c in self.columns if self.tallies[c.position].either]
        if self.decided is Decided.ASSUMED and either:
            cells = sum(self.tallies[c.position].either for c in either)
            # money shows best what is at stake ("1,500": 1500 or 1.5)
            shown = next((c for c in either if c.name in _MONEY), either[0])
            example = self.tallies[shown.position].examples.get("either", "")
            found.append(
                DataWarning(
                    "number_format_assumed",
                    f"no number in the file shows whether ',' or '.' is the decimal mark: "
                    f"{cells} cell(s) read either way, like {example!r} in '{shown.header}' "
                    f"({read_one(example, POINT)} with a decimal point, "
                    f"{read_one(example, COMMA)} with a decimal comma); they were read with "
                    "a decimal point (thousands separators removed), the default; set the "
                    "number format to comma if ',' is the decimal mark",
                    None,
                    cells,
                )
            )
        for column in self.columns:
            header, tally = column.header, self.tallies[column.position]
            fmt = self.format_of(column.position)
            if self.decided is not Decided.GIVEN and fmt is not self.used:
                example = tally.examples.get(str(fmt), "")
                found.append(
                    DataWarning(
                        "number_format_mixed",
                        f"'{header}' is written with {NAMES[fmt]} (like {example!r}) while "
                        f"the file's other numbers use {NAMES[self.used]}: it was read "
                        f"with {NAMES[fmt]}; check the export",
                        header,
                        tally.cells(fmt),
                    )
                )
            wrong = tally.cells(other(fmt))
            if wrong:
                example = tally.examples.get(str(other(fmt)), "")
                how = "as given" if self.decided is Decided.GIVEN else "as most of its cells"
                found.append(
                    DataWarning(
                        "number_format_conflict",
                        f"{wrong} cell(s) of '{header}' are written with "
                        f"{NAMES[other(fmt)]} (like {example!r}) but the column was read "
                        f"with {NAMES[fmt]} ({how}), so they are misread ({example!r} as "
                        f"{read_one(example, fmt)}); check the number format",
                        header,
                        wrong,
                    )
                )
        return found + list(self.scale_warnings)


def _cells(tally: Tally) -> dict[str, int]:
    return {"point": tally.point, "comma": tally.comma, "either": tally.either}


def detect(
    table: Table,
    columns: list[NumberColumn],
    given: NumberFormat,
    collect: Callable[[pl.LazyFrame], pl.DataFrame],
    rows: int | None = SAMPLE_ROWS,
    count: Callable[[pl.LazyFrame], pl.DataFrame] | None = None,
) -> NumberReading:
    """The format of ``columns`` from their first ``rows`` rows (None: every row),
    ``given`` (``auto``: detect) taking precedence; with the CPM scale check on the
    first :data:`SAMPLE_ROWS` rows. ``count`` collects the cells' counts (every row's:
    a streaming engine keeps the memory down; its sums are integers), ``collect`` the
    rest."""
    if not columns:
        return _decide((), {}, given, 0, whole_file=True)
    whole = table.scan([c.position for c in columns])
    scan = whole if rows is None else whole.head(rows)
    schema = scan.collect_schema()
    # numbers already (a DataFrame's) have nothing to tell
    texts = [s for s in dict.fromkeys(f"c{c.position}" for c in columns) if schema[s] == pl.String]
    # in stages, so that each cell is stripped once and each test run once
    staged = scan.with_columns(skeleton(pl.col(s)).alias(f"{s}|bare") for s in texts)
    flags = [
        flag.alias(f"{s}|{kind}")
        for s in texts
        for kind, flag in zip(KINDS, evidence(pl.col(f"{s}|bare")), strict=True)
    ]
    exprs: list[pl.Expr] = [pl.len().alias("__rows")]
    for s in texts:
        for kind in KINDS:
            flag = pl.col(f"{s}|{kind}")
            exprs += [flag.sum(), pl.col(s).filter(flag).first().alias(f"{s}|{kind}_example")]
    found = (count or collect)(staged.with_columns(flags).select(exprs)).row(0, named=True)
    examined = int(found["__rows"])
    tallies = {c.position: _tally(found, f"c{c.position}") for c in columns}
    reading = _decide(
        tuple(columns), tallies, given, examined, whole_file=rows is None or examined < rows
    )
    scaled = _scale_check(whole.head(SAMPLE_ROWS), schema, columns, reading, collect)
    return replace(reading, scale_warnings=(scaled,)) if scaled else reading


def _tally(found: dict[str, Any], source: str) -> Tally:
    if f"{source}|point" not in found:
        return Tally()
    examples = {
        kind: str(found[f"{source}|{kind}_example"])
        for kind in KINDS
        if found[f"{source}|{kind}_example"] is not None
    }
    return Tally(
        int(found[f"{source}|point"] or 0),
        int(found[f"{source}|comma"] or 0),
        int(found[f"{source}|either"] or 0),
        examples,
    )


def _decide(
    columns: tuple[NumberColumn, ...],
    tallies: Mapping[int, Tally],
    given: NumberFormat,
    examined: int,
    *,
    whole_file: bool,
) -> NumberReading:
    """One vote per column that decided by its own cells; a tie in columns goes to the
    side with more cells; a tie in both, or no vote, cannot tell."""
    votes = {POINT: [0, 0], COMMA: [0, 0]}  # columns, cells
    for tally in tallies.values():
        own = tally.own()
        if own is not None:
            votes[own][0] += 1
            votes[own][1] += tally.cells(own)
    point, comma = tuple(votes[POINT]), tuple(votes[COMMA])
    detected = None if point == comma else POINT if point > comma else COMMA
    used: NumberFormat
    if given is not NumberFormat.AUTO:
        used, decided = given, Decided.GIVEN
    elif detected is None:
        used, decided = POINT, Decided.ASSUMED
    else:
        used, decided = detected, Decided.DETECTED
    return NumberReading(used, decided, detected, examined, whole_file, columns, tallies)


def _scale_check(
    scan: pl.LazyFrame,
    schema: pl.Schema,
    columns: list[NumberColumn],
    reading: NumberReading,
    collect: Callable[[pl.LazyFrame], pl.DataFrame],
) -> DataWarning | None:
    """A CPM (or eCPM) column against spend / impressions x 1000, over the rows that
    hold all three: :data:`SCALE_FACTOR` or more apart is a misreading."""
    by_name: dict[str, NumberColumn] = {}
    for column in columns:
        by_name.setdefault(column.name, column)
    rate = next((n for n in ("cpm", "ecpm") if n in by_name), None)
    if rate is None or "spend" not in by_name or "impressions" not in by_name:
        return None

    def value(name: str) -> pl.Expr:
        source = f"c{by_name[name].position}"
        return parse_number(
            pl.col(source), schema[source], reading.format_of(by_name[name].position)
        )

    imps, spend, cpm = value("impressions"), value("spend"), value(rate)
    usable = (imps > 0) & (spend > 0) & (cpm > 0)
    usable = usable & imps.is_finite() & spend.is_finite() & cpm.is_finite()
    sums = collect(
        scan.select(
            (cpm * imps).filter(usable).sum().alias("weighted"),
            spend.filter(usable).sum().alias("spend"),
            imps.filter(usable).sum().alias("imps"),
        )
    ).row(0, named=True)
    if not sums["spend"] or not sums["imps"]:
        return None
    given = sums["weighted"] / sums["imps"]
    derived = sums["spend"] / sums["imps"] * 1000
    ratio = given / derived
    if 1 / SCALE_FACTOR < ratio < SCALE_FACTOR:
        return None
    header = by_name[rate].header
    return DataWarning(
        "values_look_scaled",
        f"'{header}' averages {given:,.4g}, {ratio:,.3g} times the CPM computed from "
        f"'{by_name['spend'].header}' and '{by_name['impressions'].header}' "
        f"({derived:,.4g}): one of them was read at another scale (check the number "
        "format) or they are in different currencies",
        header,
    )


def needs_whole_file(reading: NumberReading, unsure: Mapping[str, int]) -> bool:
    """Whether to count every row: a cell of a read column may contradict its format
    (``unsure``: such cells per column), or the sample could not tell while holding
    cells that read either way."""
    if reading.whole_file:
        return False
    if any(unsure.values()):
        return True
    return reading.decided is Decided.ASSUMED and any(t.either for t in reading.tallies.values())
