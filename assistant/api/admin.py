"""Key-protected endpoints: the admin feedback export, and the partner-key check for `require_key` profiles.

`Authorization: Bearer <key>` carries the key (see assistant/apikeys.py). No key or an invalid one is a 401
(with `WWW-Authenticate: Bearer`); a valid key without the needed scope is a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from assistant.apikeys import ApiKeys, KeyInfo, bearer_token, scope_allows


class AuthError(Exception):
    """401 (no or unknown key) or 403 (the key lacks the scope)."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def authorize(request: Request, scope: str) -> KeyInfo:
    """The key of the request when it covers `scope`; raises AuthError otherwise."""
    keys: ApiKeys = request.app.state.api_keys
    token = bearer_token(request.headers.get("authorization"))
    if not token:
        raise AuthError(401, "unauthorized", "an API key is required: Authorization: Bearer <key>")
    info = keys.identify(token)
    if info is None:
        raise AuthError(401, "unauthorized", "the API key is not valid or has been revoked")
    if not scope_allows(info.scope, scope):
        raise AuthError(403, "forbidden", f"this API key does not allow {scope!r}")
    return info


def require_scope(scope: str) -> Callable[[Request], KeyInfo]:
    """A dependency (run in the thread pool: it reads the database) that demands a key with `scope`."""

    def check(request: Request) -> KeyInfo:
        return authorize(request, scope)

    return check


def require_partner_key(request: Request, profile_id: str) -> None:
    """For profiles with `require_key: true`: a partner key for this profile (or any partner/admin key)."""
    authorize(request, f"partner:{profile_id}")


router = APIRouter(prefix="/v1/admin", tags=["admin"])


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


@router.get("/feedback")
def export_feedback(request: Request, _key: KeyInfo = Depends(require_scope("admin"))) -> dict[str, Any]:
    """Every stored feedback item (comments are scrubbed before storage), oldest first. Needs an admin key."""
    rows = request.app.state.feedback.all()
    return {"count": len(rows), "feedback": [{k: _json(v) for k, v in row.items()} for row in rows]}


async def _auth_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status, headers=headers)


def install_admin(app: FastAPI, keys: ApiKeys) -> None:
    """Keys on `app.state.api_keys`, the AuthError handler and the admin routes."""
    app.state.api_keys = keys
    app.add_exception_handler(AuthError, _auth_error)
    app.include_router(router)
