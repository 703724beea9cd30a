"""The model registry: signed, versioned model artifacts and their lifecycle.

- :mod:`core.registry.publish`: the one publishing path, and unsigned imported candidates;
- :mod:`core.registry.store`: versions and status in MongoDB, files in the ``models`` bucket;
- :mod:`core.registry.verify`: fetch a published version and prove it is the publisher's;
- :mod:`core.registry.onnx_model`: load it into onnxruntime and check it fits its slot;
- :mod:`core.registry.active`: the snapshot of the versions serving now;
- :mod:`core.registry.canary`: golden pairs that a candidate must separate as well as the
  active version;
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
from core.registry.onnx_model import (
    SLOTS,
    LoadedModel,
    check_operating_point,
    describe,
    io_spec_of,
    load_adapter,
    offline_default,
    slot_of,
)
from core.registry.publish import check_publishable, publish, sign_candidate, store_candidate
from core.registry.store import (
    ModelRecord,
    ModelRegistry,
    ModelStatus,
    NothingToRollBack,
    VersionExists,
)
from core.registry.verify import VerifiedArtifact, fetch_verified
from core.settings import SigningKeyMissing

__all__ = [
    "SLOTS",
    "ActiveModels",
    "Canary",
    "CanaryMetrics",
    "LoadedModel",
    "ModelRecord",
    "ModelRegistry",
    "ModelRejected",
    "ModelStatus",
    "NothingToRollBack",
    "SigningKeyMissing",
    "VerifiedArtifact",
    "VersionExists",
    "check_operating_point",
    "check_publishable",
    "describe",
    "fetch_verified",
    "io_spec_of",
    "judge",
    "load_adapter",
    "load_canary",
    "offline_default",
    "publish",
    "seed_canary",
    "seed_golden",
    "sign_candidate",
    "slot_of",
    "store_candidate",
]
