"""Typed dependencies: routes read as plain functions of what they need."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.services import Services


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ApiError(503, "the service is still starting", "starting")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(request: Request) -> None:
    """With POLRAG_API_KEYS set, every /v1 route needs ``Authorization: Bearer <key>``."""
    if not has_valid_key(request):
        raise ApiError(401, "missing or wrong API key: send 'Authorization: Bearer <key>'", "unauthorized")


def has_valid_key(request: Request) -> bool:
    """The request may see everything: it carries a valid key, or no keys are configured."""
    keys: list[bytes] = request.app.state.api_keys
    if not keys:
        return True
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode()
    # compare_digest against every key, no early exit: timing says nothing about which matched
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    return scheme.lower() == "bearer" and matched
