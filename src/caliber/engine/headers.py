"""One file's header row against the catalogue and the user's column mapping: header
folding and the alias index, which header(s) each standard input is read from (the
user's mapping first, then the exact folded alias, the earlier alias preferred), and where
each metric of the setup comes from (counts preferred, else a rate column), failing
before any parsing when the file cannot give what the setup needs (``scoring.md`` §2-3;
what is missing and the columns that could give it: :mod:`caliber.engine.missing`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from caliber.engine.candidates import listing
from caliber.engine.columns import INPUT_COLUMNS, INPUTS
from caliber.engine.errors import InvalidParameterError
from caliber.engine.metrics import METRICS, STANDARD_OUTPUT_METRICS
from caliber.engine.missing import find_missing, missing_error
from caliber.engine.usercolumns import check_columns

if TYPE_CHECKING:
    from caliber.engine.config import ResolvedSetup

_PREFIX = re.compile(r"^\s*(?:ttd|pulsepoint|report)_", re.IGNORECASE)
_SEPARATORS = re.compile(r"(?:[^\w%+]|_)+")


def fold_header(header: str) -> str:
    """Fold a header for comparison: drop a TTD_/PulsePoint_/Report_ prefix, lower-case,
    and turn every run of characters other than letters, digits, ``%`` and ``+`` into one
    space (trimmed)."""
    text = _PREFIX.sub("", str(header), count=1).lower()
    return _SEPARATORS.sub(" ", text).strip()


def _build_alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for column in INPUT_COLUMNS:
        for alias in (column.name, *column.aliases):
            folded = fold_header(alias)
            owner = index.setdefault(folded, column.name)
            if owner != column.name:  # pragma: no cover - guarded by a unit test
                msg = f"alias {alias!r} maps to both {owner!r} and {column.name!r}"
                raise RuntimeError(msg)
    return index


ALIAS_INDEX: dict[str, str] = _build_alias_index()


def alias_rank(name: str, header: str) -> int:
    """Position of ``header`` among the aliases of ``name`` (lower is preferred)."""
    folded = fold_header(header)
    column = INPUTS[name]
    for position, alias in enumerate((*column.aliases, column.name)):
        if fold_header(alias) == folded:
            return position
    return len(column.aliases) + 1


@dataclass(frozen=True)
class ColumnMapping:
    """Which header(s) each standard input is read from, and what was left alone."""

    positions: dict[str, int]  # standard name -> its header's position (the first, if summed)
    mapped: dict[str, str]  # header -> standard name
    unmapped: list[str]
    ignored_duplicates: dict[str, list[str]]  # standard name -> headers not used
    # standard name -> every header position it is read from (several: added up per row)
    columns: dict[str, tuple[int, ...]] = field(default_factory=dict)
    given: frozenset[str] = frozenset()  # inputs the user mapped (ReadOptions.columns)
    headers: tuple[str, ...] = ()  # the file's header row

    def header_of(self, name: str) -> str:
        """The header input ``name`` is read from, as messages name it; several added up
        are ``sum(A, B)`` (headers hold "+" themselves: "Total Click + View Conversions")."""
        headers = [self.headers[p] for p in self.columns[name]]
        return headers[0] if len(headers) == 1 else f"sum({', '.join(headers)})"

    def header_names(self) -> dict[str, str]:
        """:meth:`header_of` for every mapped input."""
        return {name: self.header_of(name) for name in self.columns}

    def describe(self) -> dict[str, dict[str, Any]]:
        """For the processing report: per input (catalogue order), its headers, whether
        they are added up, and whether the user gave them or an alias matched."""
        return {
            column.name: {
                "headers": [self.headers[p] for p in self.columns[column.name]],
                "summed": len(self.columns[column.name]) > 1,
                "source": "given" if column.name in self.given else "matched",
            }
            for column in INPUT_COLUMNS
            if column.name in self.columns
        }


@dataclass(frozen=True)
class MetricSource:
    metric: str
    kind: str  # "counts" or "rate"
    columns: tuple[str, ...]  # standard input names used

    def describe(self, headers: dict[str, str]) -> str:
        names = [headers.get(c, c) for c in self.columns]
        if self.kind == "counts":
            recipe = METRICS[self.metric]
            scale = f" × {recipe.scale:g}" if recipe.scale != 1 else ""
            return f"{names[0]} / {names[1]}{scale} (summed per row)"
        return f"impression-weighted mean of {names[0]}"


def map_headers(
    headers: Sequence[str], columns: Mapping[str, Sequence[str]] | None = None
) -> ColumnMapping:
    """Map headers to standard names: the user's ``columns`` (standard input -> the
    file's header(s), as in ``ReadOptions.columns``) first, then, for the other inputs
    and headers, by exact folded alias, preferring the earlier alias. An alias match of
    an input the user mapped is left unused (``ignored_duplicates``).

    Raises :class:`InvalidParameterError` when the user's mapping names no input, a
    header that is not in the file (or matches several once folded), one header for two
    inputs, or several headers for an input that is not a count."""
    headers = tuple(headers)
    given = _find_given(headers, check_columns(columns or {}))
    taken = {p for positions in given.values() for p in positions}
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    unmapped: list[str] = []
    for position, header in enumerate(headers):
        if position in taken:
            continue
        standard = ALIAS_INDEX.get(fold_header(header))
        if standard is None:
            unmapped.append(header)
            continue
        candidates.setdefault(standard, []).append((alias_rank(standard, header), position, header))
    chosen: dict[str, tuple[int, ...]] = {}
    mapped: dict[str, str] = {}
    ignored: dict[str, list[str]] = {}
    for standard, options in candidates.items():
        options.sort()
        if standard in given:  # the user chose other columns for it
            ignored[standard] = [h for _, _, h in options]
            continue
        _, position, header = options[0]
        chosen[standard] = (position,)
        mapped[header] = standard
        if len(options) > 1:
            ignored[standard] = [h for _, _, h in options[1:]]
    for standard, positions in given.items():
        chosen[standard] = positions
        mapped.update((headers[p], standard) for p in positions)
    first = {standard: positions[0] for standard, positions in chosen.items()}
    return ColumnMapping(first, mapped, unmapped, ignored, chosen, frozenset(given), headers)


def _find_given(
    headers: tuple[str, ...], columns: dict[str, tuple[str, ...]]
) -> dict[str, tuple[int, ...]]:
    given: dict[str, tuple[int, ...]] = {}
    owner: dict[int, str] = {}
    for name, wanted in columns.items():
        positions: list[int] = []
        for header in wanted:
            position = find_header(headers, header, name)
            if position in owner:
                first = owner[position]
                what = f"both {first} and {name}" if first != name else f"{name} twice"
                raise InvalidParameterError(
                    f"the column mapping reads {what} from the file's column "
                    f"'{headers[position]}' (given as '{header}'): a column feeds one input, "
                    "once",
                    field="columns",
                    problem="header_mapped_twice",
                    header=headers[position],
                    inputs=sorted({first, name}),
                    headers=list(headers),
                )
            owner[position] = name
            positions.append(position)
        given[name] = tuple(positions)
    return given


def find_header(headers: Sequence[str], wanted: str, name: str) -> int:
    """The position of the file's header the user means by ``wanted``: the header written
    exactly so (the first, if the file repeats it), else the one header equal to it after
    the contract's folding (``scoring.md`` §2: case, punctuation, a ``TTD_`` prefix);
    never a partial or fuzzy match. :class:`InvalidParameterError` otherwise, naming the
    file's headers."""
    for position, header in enumerate(headers):
        if header == wanted:
            return position
    folded = fold_header(wanted)
    near = [p for p, h in enumerate(headers) if folded and fold_header(h) == folded]
    if len(near) == 1:
        return near[0]
    if near:
        raise InvalidParameterError(
            f"the column mapping's '{wanted}' (for {name}) matches several of the file's "
            f"columns once case and punctuation are ignored: "
            f"{listing([headers[p] for p in near])}; give the header exactly as written",
            field="columns",
            problem="ambiguous_header",
            input=name,
            header=wanted,
            matches=[headers[p] for p in near],
        )
    raise InvalidParameterError(
        f"the column mapping reads {name} from '{wanted}', but the file has no such column; "
        f"its headers are: {listing(headers)}",
        field="columns",
        problem="header_not_found",
        input=name,
        header=wanted,
        headers=list(headers),
    )


def available_sources(mapping: ColumnMapping, resolved: ResolvedSetup) -> dict[str, MetricSource]:
    """Where each metric of the setup, and each standard output one, comes from, for the
    metrics the file can give."""
    sources: dict[str, MetricSource] = {}
    wanted = [m.name for m in resolved.metrics]
    wanted += [m for m in STANDARD_OUTPUT_METRICS if m not in wanted]
    for name in wanted:
        source = _source_for(name, mapping)
        if source is not None:
            sources[name] = source
    return sources


def plan_sources(
    mapping: ColumnMapping, resolved: ResolvedSetup, platform: str | None = None
) -> dict[str, MetricSource]:
    """Where each metric (of the setup, plus the standard output ones) comes from.

    Raises before any parsing when the dimension, impressions or a setup metric is
    missing: :class:`MissingColumnError` or :class:`MissingMetricError`, whose message
    names the headers that would fix it (``platform``'s own, when given) and the file's
    columns that look like what is missing, with the exact mapping to read them."""
    sources = available_sources(mapping, resolved)
    missing = find_missing(mapping, resolved, sources, platform)
    if missing:
        raise missing_error(missing, mapping)
    return sources


def _source_for(metric: str, mapping: ColumnMapping) -> MetricSource | None:
    recipe = METRICS[metric]
    have = mapping.columns
    numerator, denominator = recipe.numerator, recipe.denominator
    if numerator is not None and denominator is not None and {numerator, denominator} <= set(have):
        return MetricSource(metric, "counts", (numerator, denominator))
    for rate in recipe.rate_columns:
        if rate in have:
            return MetricSource(metric, "rate", (rate,))
    return None
