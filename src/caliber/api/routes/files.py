"""Routes: uploaded report files (upload, list, get, preview, validate, delete, assign).

Mounted at the API prefix, so paths are full (``/reports/...`` and
``/campaigns/{id}/upload``). The handlers are plain functions: FastAPI runs them in a
worker thread, where reading the spooled upload and talking to storage may block.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile, status

from caliber.api.deps import ContainerDep, CurrentMember, SessionDep
from caliber.campaigns import choices
from caliber.core.envelope import ok, page
from caliber.files import reading, service
from caliber.files.schemas import AssignCampaign, file_json
from caliber.orgs import audit
from caliber.orgs.policy import Action, authorize

router = APIRouter()

UploadDep = Annotated[UploadFile, File(description="A .csv, .tsv, .txt, .xlsx or .xls export")]


class ReadingForm:
    """The reading choices an upload may carry (each given one wins over the campaign's
    for this file; checked by :func:`choices.from_form`, a 422 naming the field)."""

    def __init__(
        self,
        number_format: Annotated[
            str | None,
            Form(max_length=16, description="auto, point (1,234.56) or comma (1.234,56)"),
        ] = None,
        sheet: Annotated[
            str | None,
            Form(max_length=200, description="a workbook's sheet: its name, or its 0-based index"),
        ] = None,
        header_row: Annotated[
            str | None, Form(max_length=16, description="the header's 1-based line (or sheet row)")
        ] = None,
        column_mapping: Annotated[
            str | None,
            Form(
                max_length=20_000,
                description='a JSON object: standard input -> header(s), e.g. {"conversions": '
                '["01 - Click Conversion", "02 - Click Conversion"]}',
            ),
        ] = None,
    ) -> None:
        self.number_format = number_format
        self.sheet = sheet
        self.header_row = header_row
        self.column_mapping = column_mapping


ReadingDep = Annotated[ReadingForm, Depends()]


def _upload(
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    upload: UploadFile,
    campaign_id: uuid.UUID | None,
    reading: ReadingForm,
) -> dict[str, Any]:
    authorize(session, member, Action.WORK, campaign=campaign_id)
    storage = container.storage
    options = choices.from_form(
        number_format=reading.number_format,
        sheet=reading.sheet,
        header_row=reading.header_row,
        column_mapping=reading.column_mapping,
    )
    record, campaign = service.upload_file(
        session,
        storage,
        org_id=member.organization_id,
        created_by=member.user_id,
        stream=upload.file,
        filename=upload.filename,
        limit=container.settings.max_upload_bytes,
        size_hint=upload.size,
        campaign_id=campaign_id,
        read_options=choices.stored(options),
    )
    audit.record(
        session,
        member,
        "upload.created",
        "upload",
        record.id,
        filename=record.original_filename,
        campaign_id=None if campaign is None else str(campaign.id),
        read_options=record.read_options,
    )
    service.commit_upload(session, storage, record)
    message = "file uploaded" if campaign is None else "file uploaded and assigned to the campaign"
    return ok(file_json(record, campaign_id=str(campaign.id) if campaign else None), message)


@router.post("/reports/upload", status_code=status.HTTP_201_CREATED)
def upload_report(
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    file: UploadDep,
    reading: ReadingDep,
    campaign_id: Annotated[uuid.UUID | None, Form()] = None,
) -> dict[str, Any]:
    """Upload an export, with optional reading choices; with ``campaign_id``, also make it
    that campaign's file."""
    return _upload(container, session, member, file, campaign_id, reading)


@router.post("/campaigns/{campaign_id}/upload", status_code=status.HTTP_201_CREATED)
def upload_campaign_file(
    campaign_id: uuid.UUID,
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    file: UploadDep,
    reading: ReadingDep,
) -> dict[str, Any]:
    """Upload an export (with optional reading choices) and make it the campaign's file
    in one step."""
    return _upload(container, session, member, file, campaign_id, reading)


@router.get("/reports/files")
def list_files(
    session: SessionDep,
    member: CurrentMember,
    page_number: Annotated[int, Query(alias="page", ge=1, le=10_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """The organization's files, newest first."""
    rows, total = service.list_files(
        session, member.organization_id, page=page_number, per_page=per_page
    )
    return page([file_json(r) for r in rows], total=total, page=page_number, per_page=per_page)


@router.get("/reports/files/{file_id}")
def get_file(file_id: uuid.UUID, session: SessionDep, member: CurrentMember) -> dict[str, Any]:
    return ok(file_json(service.get_file(session, member.organization_id, file_id)))


@router.delete("/reports/files/{file_id}")
def delete_file(
    file_id: uuid.UUID, container: ContainerDep, session: SessionDep, member: CurrentMember
) -> dict[str, Any]:
    """Delete the file's record and its stored bytes (409 while a campaign scores it)."""
    authorize(session, member, Action.WORK, upload=file_id)
    key = service.delete_file(session, member.organization_id, file_id)
    audit.record(session, member, "upload.deleted", "upload", file_id)
    session.commit()
    service.remove_stored(container.storage, key)
    return ok({"id": str(file_id), "deleted": True}, "file deleted")


@router.get("/reports/files/{file_id}/preview")
def preview_file(
    file_id: uuid.UUID,
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    rows: Annotated[int, Query(ge=1, le=reading.PREVIEW_MAX_ROWS)] = 10,
) -> dict[str, Any]:
    """The headers and the first ``rows`` rows, every cell as text (missing: null)."""
    return ok(reading.preview(session, container.storage, member.organization_id, file_id, rows))


@router.get("/reports/files/{file_id}/validate")
def validate_file(
    file_id: uuid.UUID,
    container: ContainerDep,
    session: SessionDep,
    member: CurrentMember,
    campaign_id: uuid.UUID | None = None,
    number_format: Annotated[str | None, Query(max_length=16)] = None,
    sheet: Annotated[str | None, Query(max_length=200)] = None,
    header_row: Annotated[str | None, Query(max_length=16)] = None,
    column_mapping: Annotated[str | None, Query(max_length=20_000)] = None,
) -> dict[str, Any]:
    """Whether the file can be scored (by ``campaign_id``, else the campaign it is
    assigned to) and how it is read: the reading choices in effect and where each came
    from, the number format, header row and sheet, each input's column, and what is
    missing with the columns that look like it. The reading fields (as on an upload;
    ``column_mapping`` a JSON object) try choices without saving them; a bad one is a 422
    naming it. An unreadable file is ``valid: false`` with the reason, not an error."""
    trying = None
    if any(v not in (None, "") for v in (number_format, sheet, header_row, column_mapping)):
        trying = choices.from_form(
            number_format=number_format,
            sheet=sheet,
            header_row=header_row,
            column_mapping=column_mapping,
        )
    result = reading.validate(
        session, container.storage, member.organization_id, file_id, campaign_id, trying
    )
    return ok(result, result["message"])


@router.post("/reports/files/{file_id}/assign-campaign")
def assign_campaign(
    file_id: uuid.UUID, body: AssignCampaign, session: SessionDep, member: CurrentMember
) -> dict[str, Any]:
    """Make the file the campaign's input (409 while the campaign is processing)."""
    authorize(session, member, Action.WORK, upload=file_id, campaign=body.campaign_id)
    campaign = service.assign_to_campaign(
        session, member.organization_id, file_id, body.campaign_id
    )
    audit.record(session, member, "upload.assigned", "campaign", campaign.id, file_id=str(file_id))
    session.commit()
    return ok(
        {"file_id": str(file_id), "campaign_id": str(campaign.id)},
        "file assigned to the campaign",
    )
