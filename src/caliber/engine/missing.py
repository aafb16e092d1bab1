"""What a setup needs that a file does not give, and the error that says so.

The dimension, impressions, and every metric of the setup that neither counts nor a
rate column give (``scoring.md`` §3). Each is named with the headers that would give it,
the setup platform's own where it has them (a PulsePoint user reads 'Domain' and 'Total
Spend', not the Trade Desk's 'Site' and 'Advertiser Cost'), and with the file's columns
that look like it (:mod:`caliber.engine.candidates`) and the exact mapping that reads it
from them: in the message, and in the details (``candidates``, ``suggested_columns``,
``suggested_arguments``) for the API to show.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from caliber.engine.candidates import Suggestion, listing, suggest
from caliber.engine.columns import INPUTS
from caliber.engine.errors import EngineError, MissingColumnError, MissingMetricError
from caliber.engine.metrics import METRICS, input_headers, metric_requirement

if TYPE_CHECKING:
    from caliber.engine.config import ResolvedSetup


class HeaderRow(Protocol):
    """What is read here of a :class:`caliber.engine.headers.ColumnMapping` (which
    imports this module)."""

    @property
    def columns(self) -> Mapping[str, tuple[int, ...]]: ...  # input -> header positions

    @property
    def unmapped(self) -> Sequence[str]: ...

    @property
    def headers(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Missing:
    """One thing the setup needs that the file does not give."""

    kind: str  # "column" (the dimension or impressions) or "metric"
    name: str  # the input or the metric
    requirement: str  # the headers that would give it, quoted
    suggestions: tuple[Suggestion, ...]  # per input the user could map
    why: str = ""  # a column: why it is needed, after "no <column> column"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "requirement": self.requirement,
            **suggestion_details(self.suggestions),
        }


def find_missing(
    mapping: HeaderRow,
    resolved: ResolvedSetup,
    sources: Mapping[str, object],
    platform: str | None = None,
) -> list[Missing]:
    """Everything the setup needs and the file lacks, in the order scoring checks it:
    the dimension, impressions, then the setup's metrics missing from ``sources``."""
    found: list[Missing] = []
    for column in (str(resolved.level), "impressions"):
        if column not in mapping.columns:
            headers = ", ".join(f"'{h}'" for h in input_headers(column, platform))
            why = f": this setup scores by {column}" if column != "impressions" else ""
            suggestions = (suggest(column, mapping.unmapped),)
            found.append(Missing("column", column, headers, suggestions, why))
    for metric in resolved.metrics:
        if metric.name in sources:
            continue
        inputs = _inputs_to_map(metric.name, mapping)
        found.append(
            Missing(
                "metric",
                metric.name,
                metric_requirement(metric.name, platform),
                tuple(suggest(name, mapping.unmapped) for name in inputs),
            )
        )
    return found


def _inputs_to_map(metric: str, mapping: HeaderRow) -> list[str]:
    """The inputs a user could map to give ``metric``: the counts the file lacks, or the
    first rate column of a metric that has no counts."""
    recipe = METRICS[metric]
    if recipe.numerator is not None and recipe.denominator is not None:
        return [c for c in (recipe.numerator, recipe.denominator) if c not in mapping.columns]
    return list(recipe.rate_columns[:1])


def missing_error(missing: Sequence[Missing], mapping: HeaderRow) -> EngineError:
    """The error scoring raises: the first missing column alone (the dimension, then
    impressions), else every missing metric."""
    first = missing[0]
    if first.kind == "column":
        what = first.name.replace("_", " ")
        return MissingColumnError(
            f"no {what} column{first.why}; add one of these headers: {first.requirement}"
            + advice(first.suggestions, mapping.unmapped),
            column=first.name,
            accepted_headers=list(INPUTS[first.name].aliases),
            headers=list(mapping.headers),
            **suggestion_details(first.suggestions),
        )
    metrics = [m for m in missing if m.kind == "metric"]
    suggestions = _unique(s for m in metrics for s in m.suggestions)
    needs = "; ".join(f"{m.name} needs {m.requirement}" for m in metrics)
    return MissingMetricError(
        f"the file lacks what this setup needs: {needs}" + advice(suggestions, mapping.unmapped),
        missing_metrics=[m.name for m in metrics],
        requirements={m.name: m.requirement for m in metrics},
        headers=list(mapping.headers),
        **suggestion_details(suggestions),
    )


def advice(suggestions: Sequence[Suggestion], unmapped: Sequence[str]) -> str:
    """What to map, for a message: the candidates and arguments of each input that has
    some; for the others, the file's unmapped columns to choose from."""
    parts = [s.describe() for s in suggestions if s.candidates]
    bare = [s.input for s in suggestions if not s.candidates]
    if bare and unmapped:
        parts.append(
            f"no column looks like {' or '.join(bare)}; to read one from another column: "
            f"--column {bare[0]}=HEADER (the file's unmapped columns: {listing(unmapped)})"
        )
    return "".join(f". {part[0].upper()}{part[1:]}" for part in parts)


def suggestion_details(suggestions: Sequence[Suggestion]) -> dict[str, Any]:
    """The candidates, the suggested mapping (``ReadOptions.columns``' shape) and its
    ``--column`` arguments, for an error's details."""
    return {
        "candidates": {s.input: [c.to_dict() for c in s.candidates] for s in suggestions},
        "suggested_columns": {s.input: list(s.chosen) for s in suggestions if s.chosen},
        "suggested_arguments": [a for s in suggestions for a in s.arguments],
        "suggestion_notes": {s.input: s.note for s in suggestions if s.note},
    }


def _unique(suggestions: Any) -> list[Suggestion]:
    seen: dict[str, Suggestion] = {}
    for suggestion in suggestions:
        seen.setdefault(suggestion.input, suggestion)
    return list(seen.values())
