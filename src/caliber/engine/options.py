"""Reading choices: how a file is to be read, beside the setup that says how it is scored.

Every choice has an automatic default that the engine detects and reports (the
processing report says what was used and why); a value given here overrides the
detection. Frozen, JSON-able both ways, so the service stores it on templates, campaigns
and uploads and hands it back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from caliber.engine.errors import InvalidParameterError
from caliber.engine.usercolumns import check_columns


class NumberFormat(StrEnum):
    """Which character is the decimal mark: detected (``auto``), ``.`` or ``,``."""

    AUTO = "auto"
    POINT = "point"  # 1,234.56
    COMMA = "comma"  # 1.234,56


@dataclass(frozen=True)
class ReadOptions:
    """How to read a file. ``None`` / ``auto`` / empty: detect.

    - ``number_format``: the decimal mark of every numeric column.
    - ``header_row``: the 1-based line (or sheet row) of the header; the lines above are
      skipped.
    - ``sheet``: a workbook's sheet, by name or 0-based index.
    - ``columns``: standard input name -> the file's header(s) it is read from; several
      headers of one count input are added up, and the dimension (``domain`` or
      ``supply_vendor``) may be mapped to any header.
    """

    number_format: NumberFormat = NumberFormat.AUTO
    header_row: int | None = None
    sheet: str | int | None = None
    columns: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.header_row is not None and self.header_row < 1:
            raise InvalidParameterError(
                f"header_row must be 1 or more (the line of the header), not {self.header_row}",
                field="header_row",
            )
        if isinstance(self.sheet, int) and self.sheet < 0:
            raise InvalidParameterError(
                f"sheet must be a name or an index of 0 or more, not {self.sheet}",
                field="sheet",
            )
        # names that are standard inputs, trimmed headers, several only for a count
        frozen = check_columns(self.columns)
        object.__setattr__(self, "columns", frozen)

    @property
    def is_default(self) -> bool:
        return self == ReadOptions()

    def to_dict(self) -> dict[str, Any]:
        return {
            "number_format": str(self.number_format),
            "header_row": self.header_row,
            "sheet": self.sheet,
            "columns": {k: list(v) for k, v in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ReadOptions:
        """Options from :meth:`to_dict`'s shape (missing keys: detect). A header given as
        one string is a one-header mapping."""
        if not data:
            return cls()
        try:
            number_format = NumberFormat(str(data.get("number_format") or "auto").lower())
        except ValueError:
            raise InvalidParameterError(
                f"number_format must be one of auto, point, comma, not "
                f"{data.get('number_format')!r}",
                field="number_format",
            ) from None
        columns: dict[str, tuple[str, ...]] = {}
        for name, headers in dict(data.get("columns") or {}).items():
            listed = [headers] if isinstance(headers, str) else list(headers or [])
            columns[str(name)] = tuple(str(h) for h in listed)
        return cls(
            number_format=number_format,
            header_row=data.get("header_row"),
            sheet=data.get("sheet"),
            columns=columns,
        )
