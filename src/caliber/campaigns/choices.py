"""Reading choices (issue 16): how a file is to be read, beside the setup that says how it
is scored. The API takes them as four fields on templates, campaigns and uploads
(``number_format``, ``sheet``, ``header_row``, ``column_mapping``); they are stored as
the engine's :class:`~caliber.engine.options.ReadOptions` in its JSON shape (a
``read_options`` column, NULL when everything is left to detection), and a run reads
the file with the choices resolved at its start, field by field: the upload's, else the
campaign's, else what the engine detects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
)

from caliber.core.errors import InvalidInput
from caliber.engine.columns import INPUTS
from caliber.engine.errors import EngineError
from caliber.engine.options import NumberFormat, ReadOptions
from caliber.engine.usercolumns import check_columns

MAX_HEADERS_PER_INPUT = 50  # a count input may add up several columns (conversion tags)
MAX_HEADER_LENGTH = 255
MAX_SHEET_NAME = 100  # Excel allows 31 characters; leave room for other writers
MAX_SHEET_INDEX = 999
MAX_HEADER_ROW = 10_000
FIELDS = ("number_format", "sheet", "header_row", "column_mapping")


def check_mapping(value: Mapping[str, Any]) -> dict[str, list[str]]:
    """A column mapping as the engine takes it (its rules, :func:`check_columns`: names
    of standard inputs, case and spaces ignored; headers trimmed, non-empty, each used
    once; several only for a count, which adds them up), within the API's limits (headers
    per input, header length). Raises ``ValueError`` with the problem."""
    for raw_name, headers in value.items():
        listed = [headers] if isinstance(headers, str) else list(headers)
        if len(listed) > MAX_HEADERS_PER_INPUT:
            msg = f"{raw_name}: at most {MAX_HEADERS_PER_INPUT} headers, not {len(listed)}"
            raise ValueError(msg)
        if any(len(h.strip()) > MAX_HEADER_LENGTH for h in listed):
            msg = f"{raw_name}: a header is longer than {MAX_HEADER_LENGTH} characters"
            raise ValueError(msg)
    try:
        checked = check_columns(value)
    except EngineError as exc:
        raise ValueError(exc.message) from None
    return {name: list(headers) for name, headers in checked.items()}


# generous bounds against huge bodies; check_mapping says what the real limits are
Header = Annotated[str, StringConstraints(max_length=10 * MAX_HEADER_LENGTH)]
ColumnMappingIn = Annotated[
    dict[
        Annotated[str, StringConstraints(max_length=64)],
        Header | Annotated[list[Header], Field(max_length=1000)],
    ],
    Field(
        max_length=len(INPUTS),
        description="standard input (domain, supply_vendor, impressions, clicks, spend, "
        "conversions, player_starts, ...) -> the file's header, or a list of headers that "
        "are added up (count inputs only, e.g. several conversion tags); mapping the "
        "dimension scores by that column",
    ),
    AfterValidator(check_mapping),
]


def check_sheet(value: Any) -> int | str:
    """A sheet's name (trimmed, non-empty) or 0-based index (a whole number, not text:
    a sheet may be named "2024")."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        msg = "give the sheet's name (text) or its 0-based index (a whole number)"
        raise ValueError(msg)
    if isinstance(value, int):
        if not 0 <= value <= MAX_SHEET_INDEX:
            msg = f"a sheet index counts from 0 (the first sheet) to {MAX_SHEET_INDEX}, not {value}"
            raise ValueError(msg)
        return value
    name = value.strip()
    if not name:
        msg = "the sheet name is empty"
        raise ValueError(msg)
    if len(name) > MAX_SHEET_NAME:
        msg = f"a sheet name has at most {MAX_SHEET_NAME} characters"
        raise ValueError(msg)
    return name


SheetIn = Annotated[
    int | str,
    BeforeValidator(check_sheet),
    Field(description="a workbook's sheet: its name, or its 0-based index (a JSON number)"),
]
HeaderRowIn = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_HEADER_ROW, description="the 1-based line (or sheet row) of the header"),
]
NumberFormatIn = Annotated[
    NumberFormat,
    Field(description="decimal mark: point (1,234.56), comma (1.234,56) or auto (detect)"),
]


class ReadingFields(BaseModel):
    """The reading choices a create or update may carry (absent or null: detect)."""

    number_format: NumberFormatIn | None = None
    sheet: SheetIn | None = None
    header_row: HeaderRowIn | None = None
    column_mapping: ColumnMappingIn | None = None

    def reading_sent(self) -> dict[str, Any]:
        """The reading fields the client sent (an explicit null counts: detect)."""
        return {f: getattr(self, f) for f in FIELDS if f in self.model_fields_set}


def options_from_fields(values: Mapping[str, Any]) -> ReadOptions:
    """The engine's options from the API's fields (checked already)."""
    number_format = values.get("number_format")
    mapping = values.get("column_mapping") or {}
    return ReadOptions(
        number_format=NumberFormat(number_format or NumberFormat.AUTO),
        header_row=values.get("header_row"),
        sheet=values.get("sheet"),
        columns={name: tuple(headers) for name, headers in mapping.items()},
    )


def fields_of(options: ReadOptions) -> dict[str, Any]:
    """The API's four fields for stored options."""
    return {
        "number_format": str(options.number_format),
        "sheet": options.sheet,
        "header_row": options.header_row,
        "column_mapping": {name: list(headers) for name, headers in options.columns.items()},
    }


def stored(options: ReadOptions) -> dict[str, Any] | None:
    """The ``read_options`` column's value: NULL when everything is detected."""
    return None if options.is_default else options.to_dict()


def loaded(value: Mapping[str, Any] | None) -> ReadOptions:
    return ReadOptions.from_dict(value)


def with_sent(base: ReadOptions, sent: Mapping[str, Any]) -> ReadOptions:
    """``base`` with the fields a client sent replacing its own (null: detect)."""
    fields = fields_of(base)
    fields.update(sent)
    return options_from_fields(fields)


DETECTED = "detected"


@dataclass(frozen=True)
class Resolved:
    """The options a run reads a file with, and where each field came from (``upload``,
    ``campaign`` or ``detected``; per input for the column mapping)."""

    options: ReadOptions
    sources: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**fields_of(self.options), "sources": self.sources}


def resolve(campaign: ReadOptions, upload: ReadOptions) -> Resolved:
    """Field by field, the upload's choice, else the campaign's, else detection; the
    column mapping input by input (an upload's headers for an input replace the
    campaign's for it, the campaign's other inputs stay)."""
    return layered([("campaign", campaign), ("upload", upload)])


def layered(layers: list[tuple[str, ReadOptions]]) -> Resolved:
    """The options of ``layers`` (named, lowest first), each field from the highest layer
    that sets it (``auto`` and null set nothing), the column mapping input by input."""
    sources: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name, unset in (
        ("number_format", NumberFormat.AUTO),
        ("header_row", None),
        ("sheet", None),
    ):
        values[name], sources[name] = unset, DETECTED
        for origin, options in reversed(layers):
            if getattr(options, name) != unset:
                values[name], sources[name] = getattr(options, name), origin
                break
    columns: dict[str, tuple[str, ...]] = {}
    origin_of: dict[str, str] = {}
    for origin, options in layers:
        for name, headers in options.columns.items():
            columns[name] = headers
            origin_of[name] = origin
    sources["column_mapping"] = origin_of
    return Resolved(ReadOptions(**values, columns=columns), sources)


class _Form(ReadingFields):
    model_config = ConfigDict(extra="forbid")


def from_form(
    *,
    number_format: str | None = None,
    sheet: str | None = None,
    header_row: str | None = None,
    column_mapping: str | None = None,
) -> ReadOptions:
    """The reading choices of an upload's form fields (every form value is text: a sheet
    of digits is an index, as with ``caliber score --sheet``; ``column_mapping`` is a JSON
    object). A bad field is a 422 naming it."""
    values: dict[str, Any] = {}
    if number_format not in (None, ""):
        values["number_format"] = number_format.strip().lower()
    if sheet not in (None, ""):
        values["sheet"] = int(sheet.strip()) if sheet.strip().isdigit() else sheet
    if header_row not in (None, ""):
        text = header_row.strip()
        if not text.lstrip("-").isdigit():
            raise InvalidInput(
                f"header_row: give the header's line as a whole number from 1, not {header_row!r}",
                field="header_row",
            )
        values["header_row"] = int(text)
    if column_mapping not in (None, ""):
        try:
            values["column_mapping"] = json.loads(column_mapping)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"column_mapping: not valid JSON ({exc.msg} at position {exc.pos}); send an "
                'object such as {"conversions": ["01 - Click Conversion"]}',
                field="column_mapping",
            ) from None
        if not isinstance(values["column_mapping"], dict):
            raise InvalidInput(
                "column_mapping: send a JSON object of standard input -> header(s)",
                field="column_mapping",
            )
    try:
        form = _Form.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"]) or "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidInput(f"{field}: {message}", field=field) from None
    return options_from_fields(form.reading_sent())
