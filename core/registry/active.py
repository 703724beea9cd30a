"""The versions serving now: one immutable snapshot, replaced whole by a swap.

An attempt takes the snapshot when it starts and uses it to the end, so a swap (one reference
assignment) never changes a version under an attempt in flight.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.registry.onnx_model import SLOTS, LoadedModel, offline_default
from schemas.manifest import OperatingPoint
from schemas.model_catalog import BASE_VERSION, ModelRef


@dataclass(frozen=True)
class ActiveModels:
    by_name: Mapping[str, LoadedModel]

    @classmethod
    def offline(cls, points: Mapping[str, OperatingPoint]) -> ActiveModels:
        """The packaged models, each with its operating point (by ``name@version``)."""
        return cls(
            {
                name: offline_default(
                    name, points.get(str(ModelRef(name=name, version=BASE_VERSION)))
                )
                for name in SLOTS
            }
        )

    def get(self, name: str) -> LoadedModel:
        return self.by_name[name]

    def for_modality(self, modality: str) -> LoadedModel | None:
        return next((m for m in self.by_name.values() if m.slot.modality == modality), None)

    def versions(self) -> dict[str, str]:
        return {name: model.version for name, model in self.by_name.items()}

    def replace(self, model: LoadedModel) -> ActiveModels:
        return ActiveModels({**self.by_name, model.name: model})
