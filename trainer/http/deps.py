"""What routes depend on: the trainer's runtime, and the admin key for job routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security

from core.http.admin_key import ADMIN_DISABLED, ADMIN_KEY, UNAUTHORIZED, check_admin_key
from trainer.bootstrap import TrainerRuntime

ADMIN_ERRORS = {401: UNAUTHORIZED, 503: ADMIN_DISABLED}


def current_runtime(request: Request) -> TrainerRuntime:
    runtime: TrainerRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[TrainerRuntime, Depends(current_runtime)]


def require_admin(runtime: Runtime, api_key: Annotated[str | None, Security(ADMIN_KEY)]) -> None:
    check_admin_key(runtime.admin_key, api_key)
