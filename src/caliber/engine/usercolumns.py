"""The user's column mapping (``ReadOptions.columns``: standard input -> the file's
header(s) it is read from), checked before any file is opened, and the cells of several
headers of one count input added up.

A mapping names standard inputs of the catalogue (:mod:`caliber.engine.columns`); only a
count (impressions, clicks, spend, conversions, player starts, ...) may take several
headers, which are summed per row: a dimension, a CPM or a rate has one column, and the
same header cannot feed two inputs. Finding the headers in a file's header row is
:func:`caliber.engine.headers.map_headers`; what each input is then read from is recorded
in the processing report (``input_columns``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import polars as pl

from caliber.engine.columns import INPUT_COLUMNS, INPUTS, Kind
from caliber.engine.errors import InvalidParameterError

_NAME_SEPARATORS = re.compile(r"[\s\-]+")


def input_names() -> list[str]:
    """Every standard input a mapping may name, in catalogue order."""
    return [c.name for c in INPUT_COLUMNS]


def summable(name: str) -> bool:
    """Whether input ``name`` may be read from several headers added up (a count)."""
    return INPUTS[name].kind is Kind.COUNT


def check_columns(columns: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The mapping with its names normalized (``Supply Vendor`` -> ``supply_vendor``) and
    its headers trimmed; :class:`InvalidParameterError` (``field="columns"``) for a name
    that is no standard input, an input given no header or an empty one, several headers
    for an input that is not a count, and a header given twice."""
    checked: dict[str, tuple[str, ...]] = {}
    owner: dict[str, str] = {}
    for raw_name, raw_headers in columns.items():
        name = _NAME_SEPARATORS.sub("_", str(raw_name).strip().lower())
        if name not in INPUTS:
            raise InvalidParameterError(
                f"the column mapping names {str(raw_name)!r}, which is no input; the inputs "
                f"are: {', '.join(input_names())}",
                field="columns",
                problem="unknown_input",
                input=str(raw_name),
                inputs=input_names(),
            )
        given = (raw_headers,) if isinstance(raw_headers, str) else tuple(raw_headers)
        headers = tuple(str(h).strip() for h in given)
        if not headers or not all(headers):
            raise InvalidParameterError(
                f"the column mapping gives {name} no header (or an empty one)",
                field="columns",
                problem="empty_header",
                input=name,
            )
        for header in headers:
            if header in owner:
                raise InvalidParameterError(
                    _twice(header, owner[header], name), **_twice_details(header)
                )
            owner[header] = name
        # two spellings of one name (`supply vendor`, `supply_vendor`) add up
        headers = (*checked.get(name, ()), *headers)
        if len(headers) > 1 and not summable(name):
            listed = ", ".join(f"'{h}'" for h in headers)
            raise InvalidParameterError(
                f"{name} is read from one column, not {len(headers)} ({listed}): only counts "
                f"(impressions, clicks, spend, conversions, ...) add several columns up; "
                f"{name} is a {_kind_words(name)}",
                field="columns",
                problem="several_headers",
                input=name,
                headers=list(headers),
            )
        checked[name] = headers
    return checked


def _twice(header: str, first: str, second: str) -> str:
    if first == second:
        return f"the column mapping gives '{header}' twice for {first}: it would be counted twice"
    return (
        f"the column mapping reads both {first} and {second} from '{header}': a column feeds "
        "one input"
    )


def _twice_details(header: str) -> dict[str, str]:
    return {"field": "columns", "problem": "header_mapped_twice", "header": header}


def _kind_words(name: str) -> str:
    kind = INPUTS[name].kind
    if kind is Kind.DIMENSION:
        return "dimension (what results are keyed by)"
    if kind is Kind.MONEY_RATE:
        return "price per thousand impressions (an average, not a sum)"
    return "rate (an average, not a sum)"


def sum_parts(name: str, parts: Sequence[Sequence[pl.Expr]]) -> list[pl.Expr]:
    """One input read from several columns: the per-cell expressions of each column (as
    :func:`caliber.engine.cells.cell_exprs` builds them for ``name``: the number, aliased
    ``name``, and boolean flags aliased ``name|<flag>``) combined into one set. The number
    is the sum of the columns that have one in that row (missing when none has: a row
    where one tag has no conversions still counts the others'); a flag is set when any
    column's is. One column: its expressions unchanged. Vectorized: a horizontal sum."""
    if len(parts) == 1:
        return list(parts[0])
    named = [{e.meta.output_name(): e.meta.undo_aliases() for e in part} for part in parts]
    combined: list[pl.Expr] = []
    for output in named[0]:
        exprs = [part[output] for part in named]
        if output == name:
            present = pl.any_horizontal(e.is_not_null() for e in exprs)
            combined.append(pl.when(present).then(pl.sum_horizontal(exprs)).alias(name))
        else:
            combined.append(pl.any_horizontal(exprs).alias(output))
    return combined
