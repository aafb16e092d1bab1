"""Workbooks that used to kill the server, sent to a real `caliber serve` on loopback.

Before issue 14, a 1.4 KB .xlsx with a cell at XFD1048576 made the workbook reader ask
for 549,755,813,888 bytes at preview, validate or /scoring/start, and the API process
aborted. Now each answer names the problem, and the same process keeps serving.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_server import Server, _headers, server
from tests.engine import workbooks as wb

__all__ = ["server"]  # the module's fixture: one `caliber serve` for these tests

HOSTILE = {
    "sparse.xlsx": (wb.sparse_xlsx(), "A1:XFD1048576"),
    "far-corner.xlsx": (wb.sparse_xlsx("AX1048576"), "A1:AX1048576"),
    "sparse.xls": (wb.xls([(0, 0, "Site"), (65535, 255, "x")]), "16,777,216 cells"),
    "wrapped.xls": (wb.with_dimensions(wb.small_xls(), 5, 1, 0, 1), "4,294,967,292 rows"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_workbook_is_refused_and_the_server_keeps_serving(
    server: Server, name: str
) -> None:
    data, words = HOSTILE[name]
    pid = server.process.pid
    headers = _headers(server.certs, "mallory-e2e")
    with httpx.Client(base_url=f"{server.base}/api/v1", headers=headers, timeout=30) as http:
        created = http.post(
            "/campaigns",
            json={
                "name": name,
                "platform": "trade_desk",
                "goal": "awareness",
                "channel": "display",
            },
        )
        assert created.status_code == 201, created.text
        campaign_id = created.json()["data"]["id"]
        uploaded = http.post(
            f"/campaigns/{campaign_id}/upload",
            files={"file": (name, data, "application/octet-stream")},
        )
        assert uploaded.status_code == 201, uploaded.text
        file_id = uploaded.json()["data"]["id"]

        preview = http.get(f"/reports/files/{file_id}/preview")
        assert preview.status_code == 422, preview.text
        assert preview.json()["error"] == "unsafe_file"
        assert words in preview.json()["message"]

        validate = http.get(f"/reports/files/{file_id}/validate")
        assert validate.status_code == 200, validate.text  # a verdict, by its contract
        verdict = validate.json()["data"]
        assert verdict["valid"] is False
        assert verdict["errors"][0]["error"] == "unsafe_file"
        assert words in verdict["message"]

        started = http.post("/scoring/start", json={"campaign_id": campaign_id})
        assert started.status_code == 422, started.text
        assert words in started.json()["message"]
        progress = http.get(f"/scoring/progress/{campaign_id}").json()["data"]
        assert progress["status"] == "pending"

        assert server.process.poll() is None
        assert server.process.pid == pid
        assert httpx.get(f"{server.base}/health", timeout=10).status_code == 200
        assert http.get("/campaigns").status_code == 200
