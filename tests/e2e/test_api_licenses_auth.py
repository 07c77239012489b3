"""Licenses and tokens over HTTP: refusals leave nothing installed; roles are enforced."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from support import ServerProcess, license_spec, stamp
from unitledger.issuing import issue_license
from unitledger.signing import KeyPair


def installed(server: ServerProcess) -> list[str]:
    with server.client() as c:
        return [lic["license_id"] for lic in c.get("/licenses").json()]


def test_a_valid_license_installs_and_shows_its_status(server: ServerProcess) -> None:
    view = server.install_license(license_id="GOOD-1", capacity_units=500)
    assert view["status"] == "ACTIVE"
    assert view["remaining_units"] == 500
    assert installed(server) == ["GOOD-1"]
    with server.client() as c:
        assert c.get("/licenses/GOOD-1").json()["capacity_units"] == 500
        assert c.get("/licenses/NOPE").status_code == 404


def refused(server: ServerProcess, body: str | bytes) -> dict[str, object]:
    with server.client() as c:
        response = c.post("/licenses", content=body)
    assert response.status_code in (400, 409), response.text
    result: dict[str, object] = response.json()
    return result


def test_a_tampered_license_is_refused_and_nothing_is_installed(server: ServerProcess) -> None:
    text = server.license_file(capacity_units=100)
    tampered = text.replace('"capacity_units": 100', '"capacity_units": 100000')
    assert tampered != text
    problem = refused(server, tampered)
    assert "signature" in str(problem["detail"])
    assert installed(server) == []


def test_a_license_for_another_deployment_is_refused(server: ServerProcess) -> None:
    spec = license_spec("dep_someoneelse")
    problem = refused(server, json.dumps(issue_license(spec, server.vendor)))
    assert problem["field"] == "deployment_id"
    assert "dep_someoneelse" in str(problem["detail"])
    assert installed(server) == []


def test_an_already_expired_license_is_refused(server: ServerProcess) -> None:
    now = datetime.now(UTC)
    problem = refused(
        server,
        server.license_file(
            valid_from=stamp(now - timedelta(days=100)),
            issued_at=stamp(now - timedelta(days=100)),
            expires_at=stamp(now - timedelta(days=30)),
            grace_days=5,
        ),
    )
    assert "expired" in str(problem["detail"])
    assert installed(server) == []


def test_malformed_and_foreign_key_licenses_are_refused(server: ServerProcess) -> None:
    assert "JSON" in str(refused(server, b"not json at all")["detail"])
    foreign = json.dumps(issue_license(license_spec(server.deployment_id), KeyPair.generate()))
    assert "signature" in str(refused(server, foreign)["detail"])
    assert installed(server) == []


def test_a_revoked_license_cannot_be_installed_again(server: ServerProcess) -> None:
    text = server.license_file(license_id="ONCE")
    with server.client() as c:
        assert c.post("/licenses", content=text).status_code == 201
        assert c.post("/licenses/ONCE/revoke").status_code == 200
        again = c.post("/licenses", content=text)
    assert again.status_code == 409
    assert "revoked" in again.json()["detail"]


@pytest.mark.parametrize("path", ["/usage/summary", "/licenses", "/usage/records", "/enforcement"])
def test_endpoints_need_a_token(server: ServerProcess, path: str) -> None:
    with server.client(token="") as c:
        response = c.get(path)
    assert response.status_code == 401
    assert "token" in response.json()["detail"]


def test_open_endpoints_answer_without_a_token(server: ServerProcess) -> None:
    with server.client(token="") as c:
        assert c.get("/ping").json() == {"message": "pong"}
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        info = c.get("/info").json()
        assert info["deployment_id"] == server.deployment_id
        assert c.get("/openapi.json").status_code == 200


def test_roles_are_enforced(server: ServerProcess) -> None:
    server.install_license()
    viewer = server.token("viewer")
    ext = server.token("extension", "oracle-cdc")
    body = {
        "extension_id": "oracle-cdc",
        "dimensions": {"tables_replicated": 1},
        "idempotency_key": "r1",
    }
    with server.client(viewer) as c:
        assert c.get("/usage/summary").status_code == 200
        denied = c.post("/usage", json=body)
        assert denied.status_code == 403
        assert "role" in denied.json()["detail"]
        assert c.post("/licenses", content=server.license_file()).status_code == 403
        assert c.post("/tokens", json={"role": "admin", "name": "x"}).status_code == 403
    with server.client(ext) as c:
        assert c.post("/usage", json=body).status_code == 200
        other = c.post(
            "/usage", json={**body, "extension_id": "kafka-bridge", "idempotency_key": "r2"}
        )
        assert other.status_code == 403
        assert "oracle-cdc" in other.json()["detail"]
        assert c.get("/usage/records").status_code == 403
    with server.client("ul_forged_token") as c:
        assert c.get("/usage/summary").status_code == 401


def test_revoked_token_stops_working(server: ServerProcess) -> None:
    viewer = server.token("viewer")
    with server.client() as admin:
        token_id = next(t["token_id"] for t in admin.get("/tokens").json() if t["role"] == "viewer")
        assert admin.delete(f"/tokens/{token_id}").status_code == 204
    with server.client(viewer) as c:
        assert c.get("/usage/summary").status_code == 401


def test_tokens_are_stored_only_as_hashes(server: ServerProcess) -> None:
    token = server.token("viewer")
    db = server.data_dir / "unitledger.db"
    if server.database_url and "sqlite" in server.database_url:
        db = __import__("pathlib").Path(server.database_url.removeprefix("sqlite:///"))
    if db.exists():
        assert token.encode() not in db.read_bytes()
    assert token not in server.log_text()
