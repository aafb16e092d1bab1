"""What a file's header row gives a setup, answered without reading a data row: the
entry point behind the service's validation (``GET /reports/files/{id}/validate``) and
anything else that wants to show, before scoring, where each input will be read from.

:func:`inspect_columns` applies the same rules as scoring (:func:`map_headers`: the
user's mapping first, then the aliases; :func:`plan_sources`: counts before rates) and
reports instead of raising: each input the setup reads and its header(s), whether they
are added up and whether the user gave them; each metric's source; what is missing with
the columns that look like it and the mapping that reads it; and the errors scoring
would raise (``problems``, each ``{"error", "message", "details"}`` as
:meth:`EngineError.to_dict` gives them). Pure: same headers, same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from caliber.engine.candidates import Suggestion, suggest
from caliber.engine.config import Setup
from caliber.engine.errors import EngineError
from caliber.engine.headers import ColumnMapping, available_sources, map_headers
from caliber.engine.missing import Missing, find_missing, missing_error
from caliber.engine.options import ReadOptions

_OUTPUT_COUNTS = ("spend", "clicks", "conversions")  # read for the results whenever present


@dataclass(frozen=True)
class ColumnInspection:
    """The answer of :func:`inspect_columns`."""

    ready: bool  # scoring would get past the columns (no problem below)
    analysis_level: str | None  # "domain" / "supply_vendor"; None without a setup
    inputs: dict[str, dict[str, Any]]  # input -> headers, summed, source, metrics it feeds
    metric_sources: dict[str, str]  # metric -> how it is computed, in the file's headers
    missing: tuple[Missing, ...]
    column_mapping: dict[str, str]  # header -> input (every header used)
    unmapped_columns: list[str]
    ignored_duplicate_columns: dict[str, list[str]]
    problems: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, keys as above; ``missing`` entries carry ``kind``, ``name``,
        ``requirement``, ``candidates``, ``suggested_columns``, ``suggested_arguments`` and
        ``suggestion_notes``."""
        return {
            "ready": self.ready,
            "analysis_level": self.analysis_level,
            "inputs": {k: dict(v) for k, v in self.inputs.items()},
            "metric_sources": dict(self.metric_sources),
            "missing": [m.to_dict() for m in self.missing],
            "column_mapping": dict(self.column_mapping),
            "unmapped_columns": list(self.unmapped_columns),
            "ignored_duplicate_columns": {
                k: list(v) for k, v in self.ignored_duplicate_columns.items()
            },
            "problems": [dict(p) for p in self.problems],
        }


def inspect_columns(
    headers: Sequence[str], setup: Setup | None = None, options: ReadOptions | None = None
) -> ColumnInspection:
    """What scoring ``headers`` (a file's header row, e.g. ``Table.headers``) under
    ``setup`` with ``options.columns`` would read, without reading any data row.

    Without a setup: every input the headers give, and what every setup needs (an
    impressions column; a domain or supply vendor column). A user mapping that does not
    fit the file (a header it lacks, a header for two inputs, ...) is a problem; the rest
    of the answer then shows the headers as the aliases alone map them. Never raises an
    :class:`EngineError`: an unsupported setup or bad weights are problems too."""
    problems: list[dict[str, Any]] = []
    mapping = _mapping(headers, options or ReadOptions(), problems)
    if setup is None:
        return _without_setup(mapping, problems)
    try:
        resolved = setup.resolve()
    except EngineError as exc:
        problems.append(exc.to_dict())
        return _answer(mapping, None, {}, {}, (), problems)
    sources = available_sources(mapping, resolved)
    missing = find_missing(mapping, resolved, sources, str(setup.platform))
    if missing:
        problems.append(missing_error(missing, mapping).to_dict())
    level = str(resolved.level)
    feeds: dict[str, list[str]] = {level: [], "impressions": []}
    for metric, source in sources.items():
        for name in source.columns:
            feeds.setdefault(name, []).append(metric)
    for name in _OUTPUT_COUNTS:
        feeds.setdefault(name, [])
    names = mapping.header_names()
    described = {m: s.describe(names) for m, s in sources.items()}
    return _answer(mapping, level, feeds, described, tuple(missing), problems)


def _mapping(
    headers: Sequence[str], options: ReadOptions, problems: list[dict[str, Any]]
) -> ColumnMapping:
    try:
        return map_headers(headers, options.columns)
    except EngineError as exc:
        problems.append(exc.to_dict())
        return map_headers(headers)


def _without_setup(mapping: ColumnMapping, problems: list[dict[str, Any]]) -> ColumnInspection:
    missing: list[Missing] = []
    suggestions: tuple[Suggestion, ...]
    if not {"domain", "supply_vendor"} & set(mapping.columns):
        suggestions = (
            suggest("domain", mapping.unmapped),
            suggest("supply_vendor", mapping.unmapped),
        )
        why = " (nor a supply vendor column): every setup scores by one"
        accepted = "'Site', 'Domain' or 'Supply Vendor'"
        missing.append(Missing("column", "domain", accepted, suggestions, why))
    if "impressions" not in mapping.columns:
        suggestions = (suggest("impressions", mapping.unmapped),)
        missing.append(Missing("column", "impressions", "'Impressions'", suggestions))
    problems += [missing_error([m], mapping).to_dict() for m in missing]
    feeds: dict[str, list[str]] = {name: [] for name in mapping.columns}
    return _answer(mapping, None, feeds, {}, tuple(missing), problems)


def _answer(
    mapping: ColumnMapping,
    level: str | None,
    feeds: dict[str, list[str]],
    described: dict[str, str],
    missing: tuple[Missing, ...],
    problems: list[dict[str, Any]],
) -> ColumnInspection:
    every = mapping.describe()
    inputs = {
        name: {**info, "metrics": feeds[name]} for name, info in every.items() if name in feeds
    }
    return ColumnInspection(
        ready=not problems,
        analysis_level=level,
        inputs=inputs,
        metric_sources=described,
        missing=missing,
        column_mapping=dict(mapping.mapped),
        unmapped_columns=list(mapping.unmapped),
        ignored_duplicate_columns=dict(mapping.ignored_duplicates),
        problems=problems,
    )
