"""One file's header row against the catalogue: header folding and the alias index,
which header became which standard column (exact folded alias, the earlier alias
preferred), and where each metric of the setup comes from (counts preferred, else a rate
column), failing before any parsing when the file cannot give what the setup needs
(``scoring.md`` §2-3)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from caliber.engine.columns import INPUT_COLUMNS, INPUTS
from caliber.engine.errors import MissingColumnError, MissingMetricError
from caliber.engine.metrics import METRICS, STANDARD_OUTPUT_METRICS, metric_requirement

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
    """Which header became which standard column, and what was left alone."""

    positions: dict[str, int]  # standard name -> header position
    mapped: dict[str, str]  # header -> standard name
    unmapped: list[str]
    ignored_duplicates: dict[str, list[str]]  # standard name -> headers not used


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


def map_headers(headers: Sequence[str]) -> ColumnMapping:
    """Map headers to standard names by exact folded alias; prefer the earlier alias."""
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    unmapped: list[str] = []
    for position, header in enumerate(headers):
        standard = ALIAS_INDEX.get(fold_header(header))
        if standard is None:
            unmapped.append(header)
            continue
        candidates.setdefault(standard, []).append((alias_rank(standard, header), position, header))
    positions: dict[str, int] = {}
    mapped: dict[str, str] = {}
    ignored: dict[str, list[str]] = {}
    for standard, options in candidates.items():
        options.sort()
        _, position, header = options[0]
        positions[standard] = position
        mapped[header] = standard
        if len(options) > 1:
            ignored[standard] = [h for _, _, h in options[1:]]
    return ColumnMapping(positions, mapped, unmapped, ignored)


def plan_sources(mapping: ColumnMapping, resolved: ResolvedSetup) -> dict[str, MetricSource]:
    """Where each metric (of the setup, plus the standard output ones) comes from.

    Raises before any parsing when the dimension, impressions or a setup metric is missing.
    """
    level = str(resolved.level)
    if level not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS[level].aliases)
        raise MissingColumnError(
            f"no {level.replace('_', ' ')} column: this setup scores by {level}; "
            f"add one of these headers: {accepted}",
            column=level,
            accepted_headers=list(INPUTS[level].aliases),
        )
    if "impressions" not in mapping.positions:
        accepted = ", ".join(f"'{a}'" for a in INPUTS["impressions"].aliases)
        raise MissingColumnError(
            f"no impressions column; add one of these headers: {accepted}",
            column="impressions",
            accepted_headers=list(INPUTS["impressions"].aliases),
        )
    sources: dict[str, MetricSource] = {}
    missing: list[str] = []
    wanted = [m.name for m in resolved.metrics]
    wanted += [m for m in STANDARD_OUTPUT_METRICS if m not in wanted]
    for name in wanted:
        source = _source_for(name, mapping)
        if source is not None:
            sources[name] = source
        elif name in {m.name for m in resolved.metrics}:
            missing.append(name)
    if missing:
        needs = "; ".join(f"{m} needs {metric_requirement(m)}" for m in missing)
        raise MissingMetricError(
            f"the file lacks what this setup needs: {needs}",
            missing_metrics=missing,
            requirements={m: metric_requirement(m) for m in missing},
        )
    return sources


def _source_for(metric: str, mapping: ColumnMapping) -> MetricSource | None:
    recipe = METRICS[metric]
    have = mapping.positions
    numerator, denominator = recipe.numerator, recipe.denominator
    if numerator is not None and denominator is not None and {numerator, denominator} <= set(have):
        return MetricSource(metric, "counts", (numerator, denominator))
    for rate in recipe.rate_columns:
        if rate in have:
            return MetricSource(metric, "rate", (rate,))
    return None
