"""Installing, listing and revoking licenses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from unitledger.adapters.http.body import read_body
from unitledger.adapters.http.deps import Admin, Service, Viewer
from unitledger.adapters.http.models import LicenseOut, problem_responses

router = APIRouter(tags=["licenses"])

LicenseId = Annotated[str, Path(max_length=64)]


@router.post(
    "/licenses",
    response_model=LicenseOut,
    status_code=201,
    responses=problem_responses(400, 401, 403, 409, 413),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The signed license file, as produced by `unitledger license issue`.",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def install(request: Request, service: Service, principal: Admin) -> dict[str, Any]:
    """Install a signed license file. A tampered, malformed, wrong-deployment or expired
    file is refused with the reason, and nothing is installed."""
    return await service.install_license(await read_body(request), principal)


@router.get("/licenses", response_model=list[LicenseOut], responses=problem_responses(401, 403))
def list_licenses(service: Service, _: Viewer) -> list[dict[str, Any]]:
    return service.licenses()


@router.get(
    "/licenses/{license_id}", response_model=LicenseOut, responses=problem_responses(401, 403, 404)
)
def show(license_id: LicenseId, service: Service, _: Viewer) -> dict[str, Any]:
    return service.license(license_id)


@router.post(
    "/licenses/{license_id}/revoke",
    response_model=LicenseOut,
    responses=problem_responses(401, 403, 404, 409),
)
async def revoke(license_id: LicenseId, service: Service, principal: Admin) -> dict[str, Any]:
    """Revoke a license for good; a revoked license can never be installed again."""
    return await service.revoke_license(license_id, principal)
