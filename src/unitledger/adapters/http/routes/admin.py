"""Quarantine, API tokens and the ledger check."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query

from unitledger.adapters.http.deps import Admin, Service, Viewer
from unitledger.adapters.http.models import (
    ChainCheck,
    QuarantineItem,
    ReplayIn,
    ReplayResult,
    TokenCreated,
    TokenIn,
    TokenOut,
    problem_responses,
)
from unitledger.service.auth import Role

router = APIRouter()


@router.get(
    "/quarantine",
    response_model=list[QuarantineItem],
    tags=["quarantine"],
    responses=problem_responses(401, 403),
)
def quarantine(
    service: Service,
    _: Viewer,
    status: Literal["held", "replayed", "all"] = "held",
    extension_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """Reports that were not counted because no license covered a dimension."""
    return service.quarantine(None if status == "all" else status, extension_id)


@router.post(
    "/quarantine/replay",
    response_model=ReplayResult,
    tags=["quarantine"],
    responses=problem_responses(400, 401, 403, 404),
)
async def replay(body: ReplayIn, service: Service, principal: Admin) -> dict[str, Any]:
    """Count held reports that a license now covers (all held ones, or the given ids)."""
    return await service.replay_quarantine(principal, body.ids, body.extension_id)


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    tags=["tokens"],
    responses=problem_responses(400, 401, 403),
)
def create_token(body: TokenIn, service: Service, _: Admin) -> dict[str, Any]:
    """Create an API token. The token is shown once; only its hash is stored."""
    token, info = service.create_token(Role(body.role), body.name, body.extension_id)
    return {"token": token, "token_info": info}


@router.get(
    "/tokens", response_model=list[TokenOut], tags=["tokens"], responses=problem_responses(401, 403)
)
def list_tokens(service: Service, _: Admin) -> list[dict[str, Any]]:
    return service.queries.tokens()


@router.delete(
    "/tokens/{token_id}",
    status_code=204,
    tags=["tokens"],
    responses=problem_responses(401, 403, 404),
)
def revoke_token(token_id: Annotated[str, Path(max_length=32)], service: Service, _: Admin) -> None:
    service.revoke_token(token_id)


@router.get(
    "/ledger/verify",
    response_model=ChainCheck,
    tags=["ledger"],
    responses=problem_responses(401, 403),
)
def verify(service: Service, _: Admin) -> dict[str, Any]:
    """Re-check the hash chain of every usage record; names the first bad record."""
    return service.verify_ledger().to_dict()
