"""A YOLO face detector exported to ONNX, run with onnxruntime: no ultralytics needed.

The graph takes one letterboxed ``[1, 3, S, S]`` float32 RGB image in 0..1 and returns
``[1, 4 + classes, K]`` candidates (centre x, centre y, width, height in input pixels, then
class scores), before non-maximum suppression. :func:`letterbox` prepares the input the way
ultralytics does (aspect kept, grey 114 padding, centred), so the exported graph sees what the
trained one saw; boxes are mapped back to the caller's pixels. It implements
:class:`~core.biometrics.face_detect.FaceDetector`, so ``FaceEngine(detector=...)`` accepts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from core.biometrics.face_detect import FaceBox

PAD_VALUE = 114
MIN_CONFIDENCE = 0.25
NMS_IOU = 0.45


@dataclass(frozen=True)
class Letterboxed:
    tensor: NDArray[np.float32]  # [1, 3, S, S]
    scale: float  # input pixels per image pixel
    pad_x: float
    pad_y: float


def letterbox(rgb: NDArray[np.uint8], side: int) -> Letterboxed:
    height, width = rgb.shape[:2]
    scale = min(side / height, side / width)
    new_w, new_h = round(width * scale), round(height * scale)
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_x, pad_y = (side - new_w) / 2, (side - new_h) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    canvas = np.full((side, side, 3), PAD_VALUE, dtype=np.uint8)
    canvas[top : top + new_h, left : left + new_w] = resized
    tensor = canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return Letterboxed(np.ascontiguousarray(tensor), scale, float(left), float(top))


class OnnxFaceDetector:
    name = "yolo-onnx"

    def __init__(
        self,
        data: bytes,
        *,
        min_confidence: float = MIN_CONFIDENCE,
        nms_iou: float = NMS_IOU,
        threads: int = 1,
    ) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
        (tin,) = self._session.get_inputs()
        self._input = tin.name
        self.side = int(tin.shape[2])
        self._min_confidence = min_confidence
        self._nms_iou = nms_iou

    def raw(self, tensor: NDArray[np.float32]) -> NDArray[np.float32]:
        """The graph's output for one letterboxed tensor."""
        (out, *_) = self._session.run(None, {self._input: tensor})
        return np.asarray(out, dtype=np.float32)

    def detect(self, rgb: NDArray[np.uint8]) -> list[FaceBox]:
        boxed = letterbox(rgb, self.side)
        candidates = self.raw(boxed.tensor)[0].T  # [K, 4 + classes]
        scores = candidates[:, 4:].max(axis=1)
        keep = scores >= self._min_confidence
        xywh, scores = candidates[keep, :4], scores[keep]
        if not len(scores):
            return []
        corners = np.column_stack(
            [xywh[:, 0] - xywh[:, 2] / 2, xywh[:, 1] - xywh[:, 3] / 2, xywh[:, 2], xywh[:, 3]]
        )
        chosen = cv2.dnn.NMSBoxes(
            corners.tolist(), scores.tolist(), self._min_confidence, self._nms_iou
        )
        height, width = rgb.shape[:2]
        faces = []
        for i in np.asarray(chosen, dtype=int).reshape(-1):
            x, y, w, h = corners[i]
            left = (x - boxed.pad_x) / boxed.scale
            top = (y - boxed.pad_y) / boxed.scale
            faces.append(
                FaceBox(
                    left=max(0, round(left)),
                    top=max(0, round(top)),
                    right=min(width, round(left + w / boxed.scale)),
                    bottom=min(height, round(top + h / boxed.scale)),
                    score=float(scores[i]),
                    detector=self.name,
                )
            )
        return faces
