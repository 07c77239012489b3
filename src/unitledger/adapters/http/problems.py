"""The one place that maps unitledger errors to RFC 9457 problem details."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from unitledger.errors import Unavailable, UnitledgerError

__all__ = ["PROBLEM_JSON", "install_problem_handlers", "problem_response"]

PROBLEM_JSON = "application/problem+json"


def problem_response(error: UnitledgerError, instance: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://unitledger.dev/problems/{error.code}",
        **error.to_dict(),
    }
    if instance:
        body["instance"] = instance
    headers = {}
    if isinstance(error, Unavailable):
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    return JSONResponse(body, status_code=error.status, media_type=PROBLEM_JSON, headers=headers)


def _generic(
    status: int, title: str, detail: str, code: str, field: str | None = None
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://unitledger.dev/problems/{code}",
        "code": code,
        "status": status,
        "title": title,
        "detail": detail,
        "retryable": status in (429, 503),
    }
    if field:
        body["field"] = field
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(UnitledgerError)
    async def _domain(request: Request, exc: UnitledgerError) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        message = first.get("msg", "invalid request")
        detail = f"{field}: {message}" if field else str(message)
        return _generic(400, "Invalid input", detail, "invalid", field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status_code, "error"
        )
        return _generic(
            exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail), code
        )
