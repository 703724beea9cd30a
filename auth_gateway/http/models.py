"""The model registry (``X-API-Key``): its versions, what this instance serves, and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from auth_gateway.http.deps import ADMIN_ERRORS, Gw, require_admin
from core.http.errors import INVALID_REQUEST, ApiError, error_responses
from core.registry import ModelRecord, NothingToRollBack
from core.registry.store import StatusChange
from schemas import ModelActivation
from schemas.fields import ModelName
from schemas.model_catalog import FACE_EMBEDDER

router = APIRouter(
    prefix="/api/models",
    tags=["models"],
    dependencies=[Depends(require_admin)],
    responses=error_responses(ADMIN_ERRORS),
)


class RegistryVersion(ModelRecord):
    """A registry record without its status history."""

    history: list[StatusChange] = Field(default_factory=list, exclude=True)


class ModelsView(BaseModel):
    registry: list[RegistryVersion]
    serving: dict[str, str] = Field(description="model name → version serving on this instance")
    rollback_targets: dict[str, str] = Field(description="model name → version kept warm")
    instance_id: str


@router.get("")
async def list_models(gw: Gw) -> ModelsView:
    """The registry's versions, and what this instance serves and keeps warm."""
    records = await gw.swapper.registry.versions()
    return ModelsView(
        registry=[RegistryVersion.model_validate(dict(record)) for record in records],
        serving=gw.swapper.current().versions(),
        rollback_targets=gw.swapper.previous(),
        instance_id=gw.swapper.instance_id,
    )


@router.post(
    "/{name}/rollback",
    responses=error_responses(
        {
            404: "`unknown_model`: no such swappable model",
            409: "`nothing_to_roll_back`: the model serves its first version",
            422: INVALID_REQUEST,
        }
    ),
)
async def rollback(
    name: Annotated[ModelName, Path(examples=[FACE_EMBEDDER])], gw: Gw
) -> ModelActivation:
    """Back to the version the active one replaced; every instance follows."""
    if name not in gw.swapper.current().versions():
        raise ApiError(404, "unknown_model", f"{name} is not a swappable model")
    try:
        return await gw.swapper.rollback(name, "manual", "rolled back through the API")
    except NothingToRollBack as exc:
        raise ApiError(409, "nothing_to_roll_back", str(exc)) from exc
