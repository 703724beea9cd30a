"""The model registry: signed, versioned model artifacts and their lifecycle.

- :mod:`core.registry.manifest`: the signed ``manifest.json`` beside each ``model.onnx``;
- :mod:`core.registry.store`: versions and status in MongoDB, files in the ``models`` bucket;
- :mod:`core.registry.verify`: fetch a published version and prove it is the publisher's;
- :mod:`core.registry.onnx_model`: load it into onnxruntime and check it fits its slot;
- :mod:`core.registry.active`: the snapshot of the versions serving now;
- :mod:`core.registry.canary`: golden pairs that a candidate must separate as well as the
  active version;
- :mod:`core.registry.settings`: ``KIBALOCK_MODELS__*`` (keys, tolerances, watch window).
"""

from core.registry.active import ActiveModels
from core.registry.canary import (
    Canary,
    CanaryMetrics,
    judge,
    load_canary,
    seed_canary,
    seed_golden,
)
from core.registry.errors import ModelRejected
from core.registry.manifest import Manifest
from core.registry.onnx_model import (
    OFFLINE_VERSION,
    SLOTS,
    LoadedModel,
    Slot,
    describe,
    io_spec_of,
    load_adapter,
    offline_default,
    slot_of,
)
from core.registry.settings import ModelsSettings, SigningKeyMissing
from core.registry.store import (
    ModelRecord,
    ModelRegistry,
    ModelStatus,
    NothingToRollBack,
    VersionExists,
)
from core.registry.verify import VerifiedArtifact, fetch_verified

__all__ = [
    "OFFLINE_VERSION",
    "SLOTS",
    "ActiveModels",
    "Canary",
    "CanaryMetrics",
    "LoadedModel",
    "Manifest",
    "ModelRecord",
    "ModelRegistry",
    "ModelRejected",
    "ModelStatus",
    "ModelsSettings",
    "NothingToRollBack",
    "SigningKeyMissing",
    "Slot",
    "VerifiedArtifact",
    "VersionExists",
    "describe",
    "fetch_verified",
    "io_spec_of",
    "judge",
    "load_adapter",
    "load_canary",
    "offline_default",
    "seed_canary",
    "seed_golden",
    "slot_of",
]
