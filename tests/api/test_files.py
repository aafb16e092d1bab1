"""Report files: upload (size, type and name checks), list, get, preview, validate,
delete, assignment to campaigns; owner scoping; S3 storage through the API."""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
import xlsxwriter
import xlwt
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from caliber.api.app import create_app
from caliber.api.container import Container
from caliber.core.errors import PayloadTooLarge
from caliber.core.settings import Settings
from caliber.db.models import Campaign, CampaignStatus, FileUpload, Organization, User
from caliber.files import checks, reading, service
from caliber.storage.s3 import S3Storage
from tests.engine import workbooks as wb
from tests.storage import create_bucket, moto_server

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"
LIMIT = 1024 * 1024  # MAX_UPLOAD_MB=1 in the API fixtures
HEADER = ["Domain", "Impressions", "Clicks", "Spend", "Conversions", "Notes"]
ROWS = [
    [f"site{i}.com", str(1000 + i), str(10 + i), f"{2.5 + i}", str(i % 3), ""] for i in range(12)
]
KEY = re.compile(r"^uploads/[0-9a-f]{32}\.(csv|tsv|txt|xlsx|xls)$")


def _delimited(delimiter: str = ",", header: list[str] | None = None) -> str:
    lines = [delimiter.join(header or HEADER)] + [delimiter.join(r) for r in ROWS]
    return "\n".join(lines) + "\n"


CSV = _delimited().encode()


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("Report")
    for r, row in enumerate([HEADER, *ROWS]):
        for c, cell in enumerate(row):
            if cell:
                sheet.write(r, c, cell)
    workbook.close()
    return buffer.getvalue()


def _xls() -> bytes:
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Report")
    for r, row in enumerate([HEADER, *ROWS]):
        for c, cell in enumerate(row):
            if cell:
                sheet.write(r, c, cell)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _zip(name: str = "hello.txt") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, "hello")
    return buffer.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


# --------------------------------------------------------------------------- helpers


def upload(
    client: TestClient,
    headers: dict[str, str],
    name: str = "report.csv",
    data: bytes = CSV,
    campaign_id: uuid.UUID | str | None = None,
    path: str = f"{API}/reports/upload",
) -> Any:
    form = {"campaign_id": str(campaign_id)} if campaign_id is not None else None
    return client.post(
        path, headers=headers, files={"file": (name, data, "application/octet-stream")}, data=form
    )


def uploaded(client: TestClient, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    response = upload(client, headers, **kwargs)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def user_id(
    client: TestClient, container: Container, headers: dict[str, str], uid: str
) -> uuid.UUID:
    """The user's id (an authenticated request creates the user first)."""
    assert client.get(f"{API}/reports/files", headers=headers).status_code == 200
    with container.sessions() as session:
        found = session.scalar(select(User.id).where(User.firebase_uid == uid))
    assert found is not None
    return found


def personal_org(container: Container, owner: uuid.UUID) -> uuid.UUID:
    """The user's personal organization (made by their first request)."""
    with container.sessions() as session:
        found = session.scalar(
            select(Organization.id).where(Organization.personal_user_id == owner)
        )
    assert found is not None
    return found


def make_campaign(
    container: Container,
    owner: uuid.UUID,
    *,
    status: CampaignStatus = CampaignStatus.PENDING,
    platform: str = "pulsepoint",
    goal: str = "awareness",
    channel: str = "display",
) -> uuid.UUID:
    with container.sessions() as session:
        campaign = Campaign(
            owner_id=owner,
            organization_id=personal_org(container, owner),
            name="Spring",
            platform=platform,
            goal=goal,
            channel=channel,
            status=status,
        )
        session.add(campaign)
        session.commit()
        return campaign.id


def campaign_file(container: Container, campaign_id: uuid.UUID) -> uuid.UUID | None:
    with container.sessions() as session:
        return session.scalar(select(Campaign.file_upload_id).where(Campaign.id == campaign_id))


def rows_in_db(container: Container) -> list[FileUpload]:
    with container.sessions() as session:
        return list(session.scalars(select(FileUpload)).all())


def storage_key(container: Container, file_id: str) -> str:
    with container.sessions() as session:
        key = session.scalar(
            select(FileUpload.storage_key).where(FileUpload.id == uuid.UUID(file_id))
        )
    assert key is not None
    return key


def stored_files(settings: Settings) -> list[str]:
    root = settings.storage_dir
    if not root.exists():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def assert_nothing_kept(container: Container, settings: Settings) -> None:
    assert rows_in_db(container) == []
    assert stored_files(settings) == []


def assert_error(response: Any, status: int, code: str, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["error"] == code
    assert set(body) == {"success", "error", "message", "details"}
    for fragment in fragments:
        assert fragment in body["message"], body["message"]
    return body


def multipart(filename: str, data: bytes, boundary: str = "caliber-test-boundary") -> bytes:
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


def raw_post(
    app: FastAPI, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any]]:
    """Call the ASGI app directly, sending ``chunks`` as the body with exactly ``headers``
    (so a Content-Length can lie, or be absent as with chunked encoding)."""

    async def call() -> tuple[int, dict[str, Any]]:
        pending = [
            {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
            for i, chunk in enumerate(chunks)
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return pending.pop(0) if pending else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        await app(scope, receive, send)  # type: ignore[arg-type]
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return status, json.loads(body)

    return anyio.run(call)


def exactly(size: int) -> bytes:
    """A valid CSV of exactly ``size`` bytes."""
    data = b"Domain,Impressions\n"
    data += b"a.com,1\n" * ((size - len(data)) // 8)
    return data + b"b" * (size - len(data))


@pytest.fixture
def alice(auth: Auth) -> dict[str, str]:
    return auth("alice")


@pytest.fixture
def bob(auth: Auth) -> dict[str, str]:
    return auth("bob")


# --------------------------------------------------------------------------- upload


def test_upload_csv_then_get_it(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    response = upload(client, alice, name="Q1 report.csv")
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {
        "id",
        "original_filename",
        "file_format",
        "size_bytes",
        "sha256",
        "content_type",
        "created_at",
        "campaign_id",
        "number_format",
        "sheet",
        "header_row",
        "column_mapping",
    }
    assert data["original_filename"] == "Q1 report.csv"
    # no reading choices sent: everything is detected
    assert (data["number_format"], data["sheet"], data["header_row"]) == ("auto", None, None)
    assert data["column_mapping"] == {}
    assert data["file_format"] == "csv"
    assert data["content_type"] == "text/csv"
    assert data["size_bytes"] == len(CSV)
    assert data["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert data["campaign_id"] is None
    assert data["created_at"].endswith(("+00:00", "Z"))

    got = client.get(f"{API}/reports/files/{data['id']}", headers=alice)
    assert got.status_code == 200
    assert got.json()["data"] == {k: v for k, v in data.items() if k != "campaign_id"}
    assert "storage_key" not in json.dumps(got.json())

    key = storage_key(container, data["id"])
    assert KEY.match(key)
    assert key.endswith(".csv")
    assert container.storage.read(key) == CSV


@pytest.mark.parametrize(
    ("name", "data", "fmt", "expected_format"),
    [
        ("report.tsv", _delimited("\t").encode(), "tsv", "csv"),
        ("report.txt", _delimited(";").encode(), "txt", "csv"),
        ("REPORT.CSV", CSV, "csv", "csv"),
        ("utf16.csv", codecs.BOM_UTF16_LE + _delimited().encode("utf-16-le"), "csv", "csv"),
        (
            "latin.csv",
            _delimited(header=["Domain", "Impressions", "Café"]).encode("cp1252"),
            "csv",
            "csv",
        ),
        ("report.xlsx", _xlsx(), "xlsx", "xlsx"),
        ("report.XLS", _xls(), "xls", "xls"),
    ],
)
def test_upload_each_format_and_preview_it(
    client: TestClient,
    alice: dict[str, str],
    name: str,
    data: bytes,
    fmt: str,
    expected_format: str,
) -> None:
    file = uploaded(client, alice, name=name, data=data)
    assert file["file_format"] == fmt
    assert file["size_bytes"] == len(data)
    assert file["sha256"] == hashlib.sha256(data).hexdigest()
    preview = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice).json()["data"]
    assert preview["format"] == expected_format
    assert preview["headers"][:2] == ["Domain", "Impressions"]
    assert preview["rows"][0][:3] == ["site0.com", "1000", "10"]
    assert len(preview["rows"]) == 10
    assert preview["total_rows"] == 12
    if name == "latin.csv":
        assert preview["headers"][2] == "Café"
        assert preview["encoding"] == "windows-1252"


def test_upload_with_campaign_id_assigns_it(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    campaign = make_campaign(container, user_id(client, container, alice, "alice"))
    file = uploaded(client, alice, campaign_id=campaign)
    assert file["campaign_id"] == str(campaign)
    assert campaign_file(container, campaign) == uuid.UUID(file["id"])


def test_campaign_upload_route_sets_the_campaigns_file(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    campaign = make_campaign(container, user_id(client, container, alice, "alice"))
    first = uploaded(client, alice, path=f"{API}/campaigns/{campaign}/upload")
    assert first["campaign_id"] == str(campaign)
    assert campaign_file(container, campaign) == uuid.UUID(first["id"])
    second = uploaded(client, alice, name="newer.csv", path=f"{API}/campaigns/{campaign}/upload")
    assert campaign_file(container, campaign) == uuid.UUID(second["id"])


def test_campaign_upload_refuses_processing_and_foreign_campaigns(
    client: TestClient,
    container: Container,
    settings: Settings,
    alice: dict[str, str],
    bob: dict[str, str],
) -> None:
    busy = make_campaign(
        container, user_id(client, container, alice, "alice"), status=CampaignStatus.PROCESSING
    )
    bobs = make_campaign(container, user_id(client, container, bob, "bob"))
    response = upload(client, alice, path=f"{API}/campaigns/{busy}/upload")
    assert_error(response, 409, "conflict", "processing")
    assert_error(upload(client, alice, path=f"{API}/campaigns/{bobs}/upload"), 404, "not_found")
    assert_error(upload(client, alice, campaign_id=bobs), 404, "not_found")
    assert_error(upload(client, alice, campaign_id="not-a-uuid"), 422, "validation_error")
    assert campaign_file(container, busy) is None
    assert campaign_file(container, bobs) is None
    assert_nothing_kept(container, settings)


# --------------------------------------------------------------------------- limits


def test_a_file_of_exactly_the_limit_passes(client: TestClient, alice: dict[str, str]) -> None:
    data = exactly(LIMIT)
    file = uploaded(client, alice, data=data)
    assert file["size_bytes"] == LIMIT
    assert file["sha256"] == hashlib.sha256(data).hexdigest()


def test_one_byte_over_the_limit_is_413(
    client: TestClient, container: Container, settings: Settings, alice: dict[str, str]
) -> None:
    assert settings.max_upload_bytes == LIMIT
    body = assert_error(
        upload(client, alice, data=exactly(LIMIT + 1)), 413, "payload_too_large", "1,048,576"
    )
    assert body["details"] == {"limit_bytes": LIMIT}
    assert_nothing_kept(container, settings)


@pytest.mark.parametrize("length", ["200", None], ids=["lying-content-length", "chunked"])
def test_a_lying_or_absent_content_length_does_not_help(
    client: TestClient,
    container: Container,
    settings: Settings,
    alice: dict[str, str],
    length: str | None,
) -> None:
    body = multipart("big.csv", exactly(LIMIT + 1))
    headers = {
        **alice,
        "host": "testserver",
        "content-type": "multipart/form-data; boundary=caliber-test-boundary",
    }
    if length is not None:
        headers["content-length"] = length
    else:
        headers["transfer-encoding"] = "chunked"
    chunks = [body[i : i + 64 * 1024] for i in range(0, len(body), 64 * 1024)]
    status, answer = raw_post(client.app, f"{API}/reports/upload", headers, chunks)  # type: ignore[arg-type]
    assert status == 413
    assert answer["error"] == "payload_too_large"
    assert_nothing_kept(container, settings)


def _past_the_cap(client: TestClient, alice: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A chunked upload (no Content-Length) of 3 MiB: past the middleware's hard cap."""
    body = multipart("huge.csv", exactly(3 * LIMIT))
    headers = {
        **alice,
        "host": "testserver",
        "content-type": "multipart/form-data; boundary=caliber-test-boundary",
        "transfer-encoding": "chunked",
    }
    chunks = [body[i : i + 256 * 1024] for i in range(0, len(body), 256 * 1024)]
    return raw_post(client.app, f"{API}/reports/upload", headers, chunks)  # type: ignore[arg-type]


def test_a_body_past_the_hard_cap_is_refused(
    client: TestClient, container: Container, settings: Settings, alice: dict[str, str]
) -> None:
    status, answer = _past_the_cap(client, alice)
    assert 400 <= status < 500, answer
    assert answer["success"] is False
    assert_nothing_kept(container, settings)


def test_a_body_past_the_hard_cap_is_413(client: TestClient, alice: dict[str, str]) -> None:
    status, answer = _past_the_cap(client, alice)
    assert (status, answer["error"]) == (413, "payload_too_large")


def test_the_limit_is_enforced_while_streaming(
    client: TestClient, container: Container, settings: Settings, alice: dict[str, str]
) -> None:
    """Without a size up front, the byte count decides; what was stored is removed."""
    owner = user_id(client, container, alice, "alice")

    def store(size: int) -> FileUpload:
        with container.sessions() as session:
            record, _ = service.upload_file(
                session,
                container.storage,
                org_id=personal_org(container, owner),
                created_by=owner,
                stream=io.BytesIO(exactly(size)),
                filename="s.csv",
                limit=LIMIT,
            )
            session.rollback()
            return record

    with pytest.raises(PayloadTooLarge):
        store(LIMIT + 1)
    assert stored_files(settings) == []
    record = store(LIMIT)  # the same path lets exactly the limit through
    assert record.size_bytes == LIMIT
    assert stored_files(settings) == [record.storage_key]
    container.storage.delete(record.storage_key)
    assert_nothing_kept(container, settings)


# --------------------------------------------------------------------------- types


REFUSED: list[tuple[str, bytes, int, str, tuple[str, ...]]] = [
    ("setup.exe", b"MZ\x90\x00\x03\x00\x00\x00", 415, "unsupported_media_type", (".exe",)),
    ("report.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 415, "unsupported_media_type", (".pdf",)),
    ("report", CSV, 415, "unsupported_media_type", ("no extension",)),
    ("../../etc/passwd", b"root:x:0:0\n", 415, "unsupported_media_type", ("no extension",)),
    ("image.csv", PNG, 415, "unsupported_media_type", ("named .csv", "PNG image")),
    ("report.xlsx", CSV, 415, "unsupported_media_type", ("named .xlsx", "text", "rename")),
    ("report.xls", _zip(), 415, "unsupported_media_type", ("named .xls", "zip", ".xlsx")),
    ("report.csv", _xlsx(), 415, "unsupported_media_type", ("named .csv", "zip")),
    ("report.csv", OLE, 415, "unsupported_media_type", ("OLE2",)),
    ("report.tsv", b"a\tb\n\x00\x01\x02\x03", 415, "unsupported_media_type", ("binary",)),
    ("report.xlsx", PNG, 415, "unsupported_media_type", ("PNG image",)),
    ("empty.csv", b"", 422, "invalid_input", ("empty",)),
    ("blank.csv", b"  \r\n\n", 422, "invalid_input", ("blank",)),
]


def test_wrong_types_are_refused(
    client: TestClient,
    container: Container,
    settings: Settings,
    alice: dict[str, str],
    subtests: pytest.Subtests,
) -> None:
    for name, data, status, code, fragments in REFUSED:
        with subtests.test(name=name, data=data[:12]):
            response = upload(client, alice, name=name, data=data)
            body = assert_error(response, status, code, *fragments)
            assert body["details"], "the refusal says what was found"
    assert_nothing_kept(container, settings)


def test_path_like_names_are_metadata_only(
    client: TestClient, container: Container, alice: dict[str, str], subtests: pytest.Subtests
) -> None:
    for name, kept in [
        ("../../etc/report.csv", "report.csv"),
        ("C:\\Users\\me\\Desktop\\y.csv", "y.csv"),
        ("/var/www/../x.csv", "x.csv"),
        ("a" * 300 + ".csv", "a" * 251 + ".csv"),
    ]:
        with subtests.test(name=name):
            file = uploaded(client, alice, name=name)
            assert file["original_filename"] == kept
            key = storage_key(container, file["id"])
            assert KEY.match(key)
            assert container.storage.read(key) == CSV


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\y.csv", "y.csv"),
        ("re\x00po\x1brt\x7f.csv", "report.csv"),
        ("line\nbreak\r.csv", "linebreak.csv"),
        ("\u202egnp.csv", "gnp.csv"),
        ("  spaced name.csv  ", "spaced name.csv"),
        ("..", ""),
        (None, ""),
        ("x" * 400, "x" * 255),
    ],
)
def test_safe_filename(raw: str | None, clean: str) -> None:
    assert checks.safe_filename(raw) == clean


def test_sniff_names_what_it_finds() -> None:
    assert checks.sniff(b"PK\x03\x04rest") == "xlsx"
    assert checks.sniff(OLE) == "xls"
    assert checks.sniff(PNG) == "a PNG image"
    assert checks.sniff("Domäne,Impressions\n".encode()) == "text"
    assert checks.sniff("Domäne,Impressions\n".encode("cp1252")) == "text"
    assert checks.sniff(codecs.BOM_UTF16_BE + "a,b\n".encode("utf-16-be")) == "text"
    assert checks.sniff("a,b\n".encode("utf-16-le")) == "binary data"  # NULs without a BOM
    # a UTF-8 character cut at the end of the sniffed head is still text
    assert checks.sniff("ab,é".encode()[:-1]) == "text"


# --------------------------------------------------------------------------- list, preview


def test_list_is_paginated_newest_first(client: TestClient, alice: dict[str, str]) -> None:
    for name in ("one.csv", "two.csv", "three.csv"):
        uploaded(client, alice, name=name)
    first = client.get(f"{API}/reports/files?page=1&per_page=2", headers=alice).json()
    assert [f["original_filename"] for f in first["data"]] == ["three.csv", "two.csv"]
    assert (first["total"], first["page"], first["per_page"]) == (3, 1, 2)
    assert (first["has_next"], first["has_prev"]) == (True, False)
    second = client.get(f"{API}/reports/files?page=2&per_page=2", headers=alice).json()
    assert [f["original_filename"] for f in second["data"]] == ["one.csv"]
    assert (second["has_next"], second["has_prev"]) == (False, True)
    default = client.get(f"{API}/reports/files", headers=alice).json()
    assert (default["total"], default["per_page"], len(default["data"])) == (3, 20, 3)
    for query in ("per_page=101", "per_page=0", "page=0"):
        response = client.get(f"{API}/reports/files?{query}", headers=alice)
        assert_error(response, 422, "validation_error")


def test_preview_rows(client: TestClient, alice: dict[str, str]) -> None:
    file = uploaded(client, alice)
    url = f"{API}/reports/files/{file['id']}/preview"
    preview = client.get(url, headers=alice).json()["data"]
    assert preview["headers"] == HEADER
    assert preview["rows"] == [[*row[:5], None] for row in ROWS[:10]]
    assert (preview["format"], preview["delimiter"], preview["encoding"]) == ("csv", ",", "utf-8")
    assert preview["total_rows"] == 12
    three = client.get(f"{url}?rows=3", headers=alice).json()["data"]
    assert [r[0] for r in three["rows"]] == ["site0.com", "site1.com", "site2.com"]
    assert len(client.get(f"{url}?rows=100", headers=alice).json()["data"]["rows"]) == 12
    for rows in ("0", "101", "x"):
        assert_error(client.get(f"{url}?rows={rows}", headers=alice), 422, "validation_error")


def test_preview_of_an_unreadable_file_is_422(client: TestClient, alice: dict[str, str]) -> None:
    file = uploaded(client, alice, name="report.xlsx", data=_zip())
    response = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice)
    assert_error(response, 422, "unreadable_file", "not an Excel workbook")


def test_preview_cuts_long_cells(client: TestClient, alice: dict[str, str]) -> None:
    """A 40 MB cell (a quote left open) must not become a 40 MB answer."""
    rows = [[*row[:5], "n" * 5_000 if i == 1 else ""] for i, row in enumerate(ROWS)]
    data = "\n".join(",".join(r) for r in [HEADER, *rows]).encode()
    file = uploaded(client, alice, data=data)
    preview = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice).json()["data"]
    assert preview["rows"][1][5] == "n" * reading.PREVIEW_MAX_CELL + "…"
    assert preview["rows"][0][5] is None
    assert preview["cells_cut"] == 1


def test_a_sparse_workbook_is_refused_by_preview_and_validate(
    client: TestClient, alice: dict[str, str]
) -> None:
    file = uploaded(client, alice, name="sparse.xlsx", data=wb.sparse_xlsx())
    response = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice)
    assert_error(response, 422, "unsafe_file", "A1:XFD1048576", "stray cell at XFD1048576")
    result = client.get(f"{API}/reports/files/{file['id']}/validate", headers=alice).json()
    assert result["data"]["valid"] is False
    assert result["data"]["errors"][0]["error"] == "unsafe_file"
    assert "A1:XFD1048576" in result["message"]


def test_preview_and_validate_name_windows_1252_lines(
    client: TestClient, alice: dict[str, str]
) -> None:
    filler = "".join(f"site{i}.com,{1000 + i},1,2.5,0,\n" for i in range(3_000))  # > 64 KiB
    data = (",".join(HEADER) + "\ncafé.fr,900,1,2.5,0,\n" + filler).encode()
    data += "bücher.de,900,1,2.5,0,\n".encode("cp1252")
    file = uploaded(client, alice, data=data)
    preview = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice).json()["data"]
    assert preview["rows"][0][0] == "café.fr"
    assert preview["encoding"] == "utf-8"
    result = client.get(f"{API}/reports/files/{file['id']}/validate", headers=alice).json()["data"]
    assert result["valid"] is True
    [warning] = [w for w in result["warnings"] if "Windows-1252" in w]
    assert "1 line(s)" in warning
    assert "the first at line 3003" in warning
    assert preview["warnings"] == [warning]


# --------------------------------------------------------------------------- validate


def test_validate_without_a_campaign(client: TestClient, alice: dict[str, str]) -> None:
    file = uploaded(client, alice)
    response = client.get(f"{API}/reports/files/{file['id']}/validate", headers=alice)
    assert response.status_code == 200
    result = response.json()["data"]
    assert result["valid"] is True
    assert result["errors"] == []
    assert (result["format"], result["encoding"], result["delimiter"]) == ("csv", "utf-8", ",")
    assert result["row_count"] == 12
    # header -> input as read (column_mapping: the user's choice, none here)
    assert result["column_mapping"] == {}
    assert result["column_mapping_used"] == {
        "Domain": "domain",
        "Impressions": "impressions",
        "Clicks": "clicks",
        "Spend": "spend",
        "Conversions": "conversions",
    }
    assert result["unmapped_columns"] == ["Notes"]
    assert result["campaign"] is None


def test_validate_against_a_campaign(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    owner = user_id(client, container, alice, "alice")
    fits = make_campaign(container, owner)  # PulsePoint display: ecpm, ctr, conversion rate
    needs_more = make_campaign(container, owner, platform="trade_desk")
    file = uploaded(client, alice)
    url = f"{API}/reports/files/{file['id']}/validate"

    good = client.get(f"{url}?campaign_id={fits}", headers=alice).json()["data"]
    assert good["valid"] is True
    assert good["campaign"]["ready"] is True
    assert good["campaign"]["analysis_level"] == "domain"
    assert set(good["campaign"]["metric_sources"]) >= {"ecpm", "ctr", "conversion_rate"}
    assert "Clicks / Impressions" in good["campaign"]["metric_sources"]["ctr"]

    bad = client.get(f"{url}?campaign_id={needs_more}", headers=alice).json()["data"]
    assert bad["valid"] is False
    assert bad["campaign"]["ready"] is False
    assert bad["errors"][0]["error"] == "missing_metric"
    assert "ias_display_fully_in_view_1s_rate" in bad["message"]

    # without campaign_id: the campaign the file is assigned to
    assign = client.post(
        f"{API}/reports/files/{file['id']}/assign-campaign",
        headers=alice,
        json={"campaign_id": str(needs_more)},
    )
    assert assign.status_code == 200
    assigned = client.get(url, headers=alice).json()["data"]
    assert assigned["campaign"]["campaign_id"] == str(needs_more)
    assert assigned["valid"] is False


@pytest.mark.parametrize(
    ("name", "data", "code", "fragment"),
    [
        ("header-only.csv", b"Domain,Impressions\n", "empty_file", "no data rows"),
        ("fake.xlsx", _zip(), "unreadable_file", "not an Excel workbook"),
        ("noimps.csv", b"Domain,Clicks\na.com,1\n", "missing_column", "impressions"),
        ("nodomain.csv", b"Impressions,Clicks\n10,1\n", "missing_column", "domain"),
    ],
)
def test_validate_reports_problems_as_results(
    client: TestClient, alice: dict[str, str], name: str, data: bytes, code: str, fragment: str
) -> None:
    file = uploaded(client, alice, name=name, data=data)
    response = client.get(f"{API}/reports/files/{file['id']}/validate", headers=alice)
    assert response.status_code == 200
    result = response.json()["data"]
    assert result["valid"] is False
    assert result["errors"][0]["error"] == code
    assert fragment in result["message"]


# --------------------------------------------------------------------------- delete, assign


def test_delete_removes_row_and_bytes(
    client: TestClient, container: Container, settings: Settings, alice: dict[str, str]
) -> None:
    file = uploaded(client, alice)
    key = storage_key(container, file["id"])
    assert container.storage.exists(key)
    response = client.delete(f"{API}/reports/files/{file['id']}", headers=alice)
    assert response.status_code == 200
    assert response.json()["data"] == {"id": file["id"], "deleted": True}
    assert not container.storage.exists(key)
    assert_error(client.get(f"{API}/reports/files/{file['id']}", headers=alice), 404, "not_found")
    assert_error(
        client.delete(f"{API}/reports/files/{file['id']}", headers=alice), 404, "not_found"
    )
    assert_nothing_kept(container, settings)


def test_missing_stored_bytes_do_not_leak_the_key(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    file = uploaded(client, alice)
    key = storage_key(container, file["id"])
    container.storage.delete(key)
    for route in ("preview", "validate"):
        response = client.get(f"{API}/reports/files/{file['id']}/{route}", headers=alice)
        body = assert_error(response, 404, "not_found", "missing")
        assert "uploads/" not in json.dumps(body)
    assert client.delete(f"{API}/reports/files/{file['id']}", headers=alice).status_code == 200


def test_a_failed_commit_removes_the_stored_bytes(
    client: TestClient,
    container: Container,
    settings: Settings,
    alice: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = user_id(client, container, alice, "alice")
    with container.sessions() as session:
        record, _ = service.upload_file(
            session,
            container.storage,
            org_id=personal_org(container, owner),
            created_by=owner,
            stream=io.BytesIO(CSV),
            filename="r.csv",
            limit=LIMIT,
        )
        assert stored_files(settings) == [record.storage_key]

        def broken() -> None:
            raise RuntimeError("database went away")

        monkeypatch.setattr(session, "commit", broken)
        with pytest.raises(RuntimeError, match="went away"):
            service.commit_upload(session, container.storage, record)
    assert_nothing_kept(container, settings)


def test_delete_respects_campaigns(
    client: TestClient, container: Container, alice: dict[str, str]
) -> None:
    owner = user_id(client, container, alice, "alice")
    busy = make_campaign(container, owner, status=CampaignStatus.PROCESSING)
    done = make_campaign(container, owner, status=CampaignStatus.COMPLETED)
    file = uploaded(client, alice)
    with container.sessions() as session:
        for campaign_id in (busy, done):
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            campaign.file_upload_id = uuid.UUID(file["id"])
        session.commit()
    url = f"{API}/reports/files/{file['id']}"
    assert_error(client.delete(url, headers=alice), 409, "conflict", "processing")
    assert container.storage.exists(storage_key(container, file["id"]))

    with container.sessions() as session:
        campaign = session.get(Campaign, busy)
        assert campaign is not None
        campaign.status = CampaignStatus.FAILED
        session.commit()
    assert client.delete(url, headers=alice).status_code == 200
    assert campaign_file(container, busy) is None
    assert campaign_file(container, done) is None


def test_assign_campaign(
    client: TestClient, container: Container, alice: dict[str, str], bob: dict[str, str]
) -> None:
    owner = user_id(client, container, alice, "alice")
    campaign = make_campaign(container, owner)
    busy = make_campaign(container, owner, status=CampaignStatus.PROCESSING)
    bobs = make_campaign(container, user_id(client, container, bob, "bob"))
    file = uploaded(client, alice)
    url = f"{API}/reports/files/{file['id']}/assign-campaign"

    response = client.post(url, headers=alice, json={"campaign_id": str(campaign)})
    assert response.status_code == 200
    assert response.json()["data"] == {"file_id": file["id"], "campaign_id": str(campaign)}
    assert campaign_file(container, campaign) == uuid.UUID(file["id"])

    assert_error(client.post(url, headers=alice, json={"campaign_id": str(busy)}), 409, "conflict")
    assert campaign_file(container, busy) is None
    assert_error(client.post(url, headers=alice, json={"campaign_id": str(bobs)}), 404, "not_found")
    assert campaign_file(container, bobs) is None
    unknown = client.post(url, headers=alice, json={"campaign_id": str(campaign), "x": 1})
    assert_error(unknown, 422, "validation_error", "x")
    assert_error(
        client.post(url, headers=alice, json={"campaign_id": "nope"}), 422, "validation_error"
    )
    assert_error(client.post(url, headers=alice, json={}), 422, "validation_error")
    missing = uuid.uuid4()
    elsewhere = client.post(
        f"{API}/reports/files/{missing}/assign-campaign",
        headers=alice,
        json={"campaign_id": str(campaign)},
    )
    assert_error(elsewhere, 404, "not_found")


# --------------------------------------------------------------------------- ownership


def test_another_users_file_is_not_found(
    client: TestClient, container: Container, alice: dict[str, str], bob: dict[str, str]
) -> None:
    file = uploaded(client, alice)
    bobs_campaign = make_campaign(container, user_id(client, container, bob, "bob"))
    alices_campaign = make_campaign(container, user_id(client, container, alice, "alice"))
    base = f"{API}/reports/files/{file['id']}"
    attempts = [
        client.get(base, headers=bob),
        client.get(f"{base}/preview", headers=bob),
        client.get(f"{base}/validate", headers=bob),
        client.delete(base, headers=bob),
        client.post(
            f"{base}/assign-campaign", headers=bob, json={"campaign_id": str(bobs_campaign)}
        ),
        client.get(f"{base}/validate?campaign_id={bobs_campaign}", headers=alice),
        client.get(f"{base}/validate?campaign_id={alices_campaign}", headers=bob),
    ]
    for response in attempts:
        assert_error(response, 404, "not_found")
    assert client.get(f"{API}/reports/files", headers=bob).json()["total"] == 0
    assert client.get(base, headers=alice).status_code == 200
    assert container.storage.exists(storage_key(container, file["id"]))
    assert campaign_file(container, bobs_campaign) is None


def test_every_route_needs_a_token(client: TestClient, settings: Settings) -> None:
    some = uuid.uuid4()
    base = f"{API}/reports/files/{some}"
    files = {"file": ("r.csv", CSV, "text/csv")}
    attempts = [
        client.post(f"{API}/reports/upload", files=files),
        client.post(f"{API}/campaigns/{some}/upload", files=files),
        client.get(f"{API}/reports/files"),
        client.get(base),
        client.delete(base),
        client.get(f"{base}/preview"),
        client.get(f"{base}/validate"),
        client.post(f"{base}/assign-campaign", json={"campaign_id": str(some)}),
    ]
    for response in attempts:
        assert_error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"
    assert stored_files(settings) == []


# --------------------------------------------------------------------------- S3 storage


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


def test_upload_through_the_api_with_s3_storage(
    settings: Settings, s3_endpoint: str, alice: dict[str, str]
) -> None:
    bucket = create_bucket(s3_endpoint)
    s3 = settings.model_copy(
        update={
            "AWS_BUCKET_NAME": bucket,
            "AWS_ENDPOINT_URL": s3_endpoint,
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
    )
    container = Container.build(s3)
    assert isinstance(container.storage, S3Storage)
    with TestClient(create_app(s3, container)) as client:
        workbook = _xlsx()
        file = uploaded(client, alice, name="report.xlsx", data=workbook)
        key = storage_key(container, file["id"])
        assert container.storage.read(key) == workbook
        preview = client.get(f"{API}/reports/files/{file['id']}/preview", headers=alice)
        assert preview.json()["data"]["rows"][0][0] == "site0.com"
        assert_error(upload(client, alice, data=exactly(LIMIT + 1)), 413, "payload_too_large")
        assert client.delete(f"{API}/reports/files/{file['id']}", headers=alice).status_code == 200
        assert not container.storage.exists(key)
        with container.sessions() as session:
            assert session.scalar(select(func.count()).select_from(FileUpload)) == 0
    assert stored_files(settings) == []
