"""Who the caller is: lets a client show only the actions its token's role allows."""

from __future__ import annotations

from fastapi import APIRouter

from unitledger.adapters.http.deps import Caller
from unitledger.adapters.http.models import WhoAmI, problem_responses

router = APIRouter(tags=["tokens"])


@router.get("/whoami", response_model=WhoAmI, responses=problem_responses(401, 429))
def whoami(principal: Caller) -> WhoAmI:
    """The calling token's id, role, name and extension. The server still checks the
    role on every request; this only tells a client what to offer."""
    return WhoAmI(
        token_id=principal.token_id,
        role=principal.role.value,
        name=principal.name,
        extension_id=principal.extension_id,
    )
