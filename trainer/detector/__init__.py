"""The face detector LifeModo trains: YOLO (ultralytics, the optional ``yolo`` extra).

``trainer.py`` is the :class:`~trainer.pipeline.Trainer`; ``dataset.py`` writes the
auto-labelled YOLO dataset, ``yolo_run.py`` trains, exports and checks parity, ``evaluate.py``
scores a detector on held-back images, ``onnx_detector.py`` runs the exported graph without
ultralytics, and ``offline.py`` imports ultralytics lazily with its network access off.
"""

from trainer.detector.trainer import DetectorTrainer, ImageLoader

__all__ = ["DetectorTrainer", "ImageLoader"]
