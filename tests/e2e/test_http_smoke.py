"""End to end over HTTP against a real server: install a license, report, read back."""

from __future__ import annotations

from support import ServerProcess


def test_report_is_converted_with_license_rates(server: ServerProcess) -> None:
    server.install_license(capacity_units=100)
    with server.client() as c:
        response = c.post(
            "/usage",
            json={
                "extension_id": "oracle-cdc",
                "dimensions": {"tables_replicated": 5, "bytes_transferred_gb": 4},
                "idempotency_key": "k-1",
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["units"] == 7.0
        assert body["units_by_dimension"] == {"tables_replicated": 5.0, "bytes_transferred_gb": 2.0}
        assert body["state"] == "OK"
        summary = c.get("/usage/summary").json()
        assert summary["used_units"] == 7.0
        assert summary["remaining_units"] == 93.0
