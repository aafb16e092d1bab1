"""The processing report: what cleaning did to a file, for the user and for audits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class DataWarning:
    """A data-quality observation that did not stop scoring."""

    code: str
    message: str
    column: str | None = None
    count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "column": self.column,
            "count": self.count,
        }


@dataclass
class ProcessingReport:
    """What the cleaning did, for the user and for audits."""

    read_options: dict[str, Any] = field(default_factory=dict)  # as given (ReadOptions)
    file_format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    # the decimal mark read (engine/number_format.py): "used" (point | comma), "decided"
    # (detected | given | assumed), the cells that told, the columns read otherwise
    number_format: dict[str, Any] = field(default_factory=dict)
    # where the table starts (engine/locate.py): the header's 1-based line or sheet row,
    # how it was chosen ("detected", "given", "first line"/"first row"), the lines above
    # it ({"count", "lines"}), and for a workbook the sheet read and every sheet's name
    header_row: int | None = None
    header_row_chosen: str | None = None
    skipped_lines: dict[str, Any] = field(default_factory=lambda: {"count": 0, "lines": []})
    sheet: dict[str, Any] | None = None  # {"name", "index", "chosen"}
    sheets: list[str] = field(default_factory=list)
    column_mapping: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    ignored_duplicate_columns: dict[str, list[str]] = field(default_factory=dict)
    # standard input -> {"headers": [...], "summed": bool, "source": "given" | "matched"}
    input_columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric_sources: dict[str, str] = field(default_factory=dict)
    percent_columns: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_dropped: dict[str, int] = field(default_factory=dict)
    rows_aggregated: int = 0
    rows_filtered: int = 0
    rows_scored: int = 0
    filter_threshold: float = 0.0
    warnings: list[DataWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "read_options": dict(self.read_options),
            "file_format": self.file_format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "number_format": dict(self.number_format),
            "header_row": self.header_row,
            "header_row_chosen": self.header_row_chosen,
            "skipped_lines": {
                "count": self.skipped_lines["count"],
                "lines": list(self.skipped_lines["lines"]),
            },
            "sheet": None if self.sheet is None else dict(self.sheet),
            "sheets": list(self.sheets),
            "column_mapping": dict(self.column_mapping),
            "unmapped_columns": list(self.unmapped_columns),
            "ignored_duplicate_columns": {
                k: list(v) for k, v in self.ignored_duplicate_columns.items()
            },
            "input_columns": {k: dict(v) for k, v in self.input_columns.items()},
            "metric_sources": dict(self.metric_sources),
            "percent_columns": list(self.percent_columns),
            "rows_read": self.rows_read,
            "rows_dropped": dict(self.rows_dropped),
            "rows_dropped_total": sum(self.rows_dropped.values()),
            "rows_aggregated": self.rows_aggregated,
            "rows_filtered": self.rows_filtered,
            "rows_scored": self.rows_scored,
            "filter_threshold": self.filter_threshold,
            "warnings": [w.to_dict() for w in self.warnings],
        }
