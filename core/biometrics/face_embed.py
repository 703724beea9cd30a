"""The base face embedding: DeepFace's ``Dlib`` model, run through dlib directly.

DeepFace's ``Dlib`` client is ``dlib.face_recognition_model_v1(<this .dat>)`` called with
``compute_face_descriptor`` on a 150x150 RGB face; this module calls the same function with the
same weights, so the network and its 128-d output are identical. The 150x150 face handed to it
is dlib's canonical face chip (5-point landmarks, ``get_face_chip`` with dlib's default 0.25
padding), which is the alignment the ResNet was trained with; DeepFace instead rotates by the
eyes and pads a detector crop, which measured 4.4 % EER on the shared photos against 0.06 % here.

The embedding is the normalised mean of the descriptors of the chip and of its mirror image
(:func:`mirror_average`): a face and its mirror image are the same person, so averaging removes
the part of the descriptor that depends on which way the head is turned or lit. On data-large
(``kibalock eval --split half``, identity-disjoint halves, 586 / 611 genuine and 41,020 /
45,214 impostor trials) it took the face EER from 1.02 % to 0.68 % on one half and from 2.13 %
to 1.80 % on the other, for one more ResNet pass: ~85 ms of CPU, the HOG-path analysis going
from ~107 to ~189 ms of CPU per photo. dlib's own ``num_jitters`` was not used: its crops are
random, so the same photo would not give the same embedding twice. A 68-landmark alignment was
worse (2.62 % on the harder half): the ResNet was trained on 5-point chips.

Not thread-safe: dlib's network keeps per-call buffers; the engine serialises calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlib
import numpy as np
from numpy.typing import NDArray

from core.biometrics.face_detect import FaceBox
from core.biometrics.vectors import l2_normalise

CHIP_SIZE = 150  # the ResNet's input size
CHIP_PADDING = 0.25  # dlib's default, used when the ResNet was trained
EMBEDDING_DIM = 128


@dataclass(frozen=True)
class AlignedFace:
    chip: NDArray[np.uint8]  # RGB, CHIP_SIZE x CHIP_SIZE, the embedder's input
    # Same alignment without padding: the face alone, for quality measurements.
    tight: NDArray[np.uint8]


class DlibFaceEmbedder:
    def __init__(self, embedder_weights: Path, landmark_weights: Path, tight_size: int) -> None:
        self._net = dlib.face_recognition_model_v1(str(embedder_weights))
        self._landmarks = dlib.shape_predictor(str(landmark_weights))
        self._tight_size = tight_size

    def align(self, rgb: NDArray[np.uint8], box: FaceBox) -> AlignedFace:
        rect = dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        shape = self._landmarks(rgb, rect)
        return AlignedFace(
            chip=dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING),
            tight=dlib.get_face_chip(rgb, shape, size=self._tight_size, padding=0.0),
        )

    def embed(self, chip: NDArray[np.uint8]) -> NDArray[np.float32]:
        """128-d float32, unit length: :func:`mirror_average` of the descriptors of ``chip`` and
        of its mirror image, computed in one batch."""
        pair = [chip, np.ascontiguousarray(chip[:, ::-1])]
        return mirror_average(np.asarray(self._net.compute_face_descriptor(pair)))


def mirror_average(descriptors: NDArray[np.floating[Any]]) -> NDArray[np.float32]:
    """The unit-length mean of unit-length rows (a descriptor and its mirror image's).

    Each row is normalised first (dlib's raw output is close to, not exactly, unit norm) so
    that both views weigh the same.
    """
    return l2_normalise(l2_normalise(descriptors, np.float64).mean(axis=0), np.float32)
