"""ultralytics, imported lazily and kept offline.

ultralytics is AGPL-3.0, so it lives in the optional extra ``kibalock[yolo]`` and is imported
only here, when a detector job runs. Left to its defaults it reaches for the network: DNS probes
at import (``YOLO_OFFLINE``), a ``pip install`` of any missing requirement
(``YOLO_AUTOINSTALL``), a download of ``Arial.ttf`` whenever a dataset is checked (a TTF of that
name in its config dir stops it; matplotlib ships DejaVuSans) and settings sync. With the four
set, training, validation and ONNX export make no network call (an audit hook checks it in
``tests/unit/test_trainer_detector_yolo.py``).
"""

from __future__ import annotations

import importlib
import os
import shutil
from pathlib import Path
from types import ModuleType

from trainer.pipeline import JobFailed

INSTALL_HINT = "pip install 'kibalock[yolo]' (ultralytics, AGPL-3.0) to train the face detector"


def _font_source() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def load_ultralytics(config_dir: Path) -> ModuleType:
    """The ``ultralytics`` module, offline; :class:`JobFailed` ``extra_missing`` without it.

    ``config_dir`` becomes ``YOLO_CONFIG_DIR`` unless one is set already; ultralytics reads it
    once, at its first import in the process.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    try:
        ultralytics = importlib.import_module("ultralytics")
        utils = importlib.import_module("ultralytics.utils")
    except ImportError as exc:
        raise JobFailed("extra_missing", INSTALL_HINT) from exc
    utils.SETTINGS.update({"sync": False})
    font = Path(utils.USER_CONFIG_DIR) / "Arial.ttf"
    if not font.exists():
        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_font_source(), font)
    return ultralytics
