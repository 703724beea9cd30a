"""The trained second stage of an embedder adapter: a residual MLP on the compensated rows.

``head(z) = z + W2 relu(W1 z + b1) + b2`` with ``W2`` and ``b2`` zero at the start, so the
untrained head is the identity and the adapter starts as its compensation stage alone. It is
trained on the compensated rows of the enrolled users with one objective or both
(:class:`HeadObjective`):

- **AAM-softmax** (additive angular margin softmax, ArcFace: the target class's angle is widened
  by ``margin`` before the scaled softmax), the loss WeSpeaker and SpeechBrain use for speaker
  embeddings: it learns to tell the enrolled users apart;
- **condition consistency**: every row of another condition than enrolment is pulled towards its
  user's enrolment centre, every enrolment row is kept where it is. It learns to undo what a
  terminal does to a sample, without learning the users: where a degradation *removes*
  identity information sample by sample (a blurred, recompressed photo) rather than moving
  everyone the same way, no projection can take it out, and a classifier over a few hundred
  rows of a hundred people mostly memorises their photos (trainer-research §3 suggests the
  term).

How long to train, and with which objective, is the caller's choice (:class:`HeadTraining` runs
one epoch at a time; :mod:`trainer.adapters.selection` picks on held-out rows), epoch 0 (the
identity head) included, so a head that does not help is trained away to nothing rather than
shipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn
from torch.nn import functional

from trainer.adapters.compensation import Compensation
from trainer.features import ENROLMENT, FeatureSet


class HeadObjective(StrEnum):
    """What the head learns (module docstring)."""

    AAM = "aam"
    CONSISTENCY = "consistency"
    BOTH = "aam+consistency"

    @property
    def uses_aam(self) -> bool:
        return self is not HeadObjective.CONSISTENCY

    @property
    def uses_consistency(self) -> bool:
        return self is not HeadObjective.AAM


@dataclass(frozen=True)
class HeadConfig:
    objective: HeadObjective = HeadObjective.AAM
    hidden: int = 256
    margin: float = 0.2  # radians added to the target angle
    scale: float = 30.0
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    seed: int = 0
    threads: int = 1  # the machine is shared: a second thread mostly waits


class ResidualHead(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.inner = nn.Linear(width, hidden)
        self.outer = nn.Linear(hidden, width)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = z + self.outer(functional.relu(self.inner(z)))
        return out


class Adapter(nn.Module):
    """The whole adapter, ``[N, width] -> [N, width]``: Sub, MatMul, L2, head, L2."""

    mean: torch.Tensor
    matrix: torch.Tensor

    def __init__(self, compensation: Compensation, head: ResidualHead) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(compensation.mean.copy()))
        self.register_buffer("matrix", torch.from_numpy(compensation.matrix.copy()))
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        compensated = functional.normalize((features - self.mean) @ self.matrix, dim=1)
        return functional.normalize(self.head(compensated), dim=1)

    def embed(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        self.eval()
        with torch.inference_mode():
            out = self(torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32)))
        return np.asarray(out.numpy(), dtype=np.float32)


class AamSoftmax(nn.Module):
    """Additive angular margin softmax over one learnt centre per class."""

    def __init__(self, width: int, classes: int, margin: float, scale: float) -> None:
        super().__init__()
        self.centres = nn.Parameter(torch.empty(classes, width))
        nn.init.xavier_uniform_(self.centres)
        self.scale = scale
        self.cos_m, self.sin_m = math.cos(margin), math.sin(margin)
        # Past this angle cos(θ + m) is no longer decreasing in θ: fall back to a linear penalty.
        self.threshold = math.cos(math.pi - margin)
        self.penalty = math.sin(math.pi - margin) * margin

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = functional.linear(embeddings, functional.normalize(self.centres, dim=1))
        sine = torch.sqrt((1.0 - cosine.square()).clamp(min=1e-7))
        widened = cosine * self.cos_m - sine * self.sin_m
        widened = torch.where(cosine > self.threshold, widened, cosine - self.penalty)
        target = functional.one_hot(labels, cosine.shape[1]).bool()
        logits = torch.where(target, widened, cosine) * self.scale
        return functional.cross_entropy(logits, labels)


def consistency_targets(compensated: torch.Tensor, train: FeatureSet) -> torch.Tensor:
    """Per row, where condition consistency pulls it: an enrolment row stays where it is, a
    row of another condition goes to its user's enrolment centre (its own place when the user
    has no enrolment row)."""
    users = np.asarray(train.user_ids)
    enrolment = np.asarray(train.conditions) == ENROLMENT
    targets = compensated.clone()
    for user in np.unique(users):
        mine = users == user
        if enrolment[mine].any() and not enrolment[mine].all():
            centre = functional.normalize(
                compensated[torch.from_numpy(mine & enrolment)].mean(dim=0), dim=0
            )
            targets[torch.from_numpy(mine & ~enrolment)] = centre
    return targets


class HeadTraining:
    """A head being trained on ``train`` (base rows), one epoch per :meth:`epoch` call: the
    caller scores :attr:`adapter` between epochs and decides when to stop."""

    def __init__(
        self, compensation: Compensation, train: FeatureSet, config: HeadConfig | None = None
    ) -> None:
        self.config = config or HeadConfig()
        torch.manual_seed(self.config.seed)
        torch.set_num_threads(self.config.threads)
        self._generator = torch.Generator().manual_seed(self.config.seed)
        _, labels = np.unique(np.asarray(train.user_ids), return_inverse=True)
        self._compensated = torch.from_numpy(compensation.apply(train.vectors))
        self._labels = torch.from_numpy(labels.astype(np.int64))
        self._targets = consistency_targets(self._compensated, train)
        self.head = ResidualHead(train.width, self.config.hidden)
        self.adapter = Adapter(compensation, self.head)
        self._aam = AamSoftmax(
            train.width, int(self._labels.max()) + 1, self.config.margin, self.config.scale
        )
        self._optimiser = torch.optim.AdamW(
            [*self.head.parameters(), *self._aam.parameters()],
            lr=self.config.learning_rate,
            weight_decay=self.config.weight_decay,
        )
        self.epochs = 0

    def epoch(self) -> None:
        objective = self.config.objective
        self.head.train()
        order = torch.randperm(self._labels.shape[0], generator=self._generator)
        for start in range(0, order.shape[0], self.config.batch_size):
            batch = order[start : start + self.config.batch_size]
            embeddings = functional.normalize(self.head(self._compensated[batch]), dim=1)
            loss: torch.Tensor = torch.zeros(())
            if objective.uses_aam:
                loss = loss + self._aam(embeddings, self._labels[batch])
            if objective.uses_consistency:
                loss = loss + (1.0 - (embeddings * self._targets[batch]).sum(dim=1)).mean()
            self._optimiser.zero_grad()
            torch.autograd.backward(loss)
            self._optimiser.step()
        self.adapter.eval()
        self.epochs += 1


def train_head(
    compensation: Compensation, train: FeatureSet, epochs: int, config: HeadConfig | None = None
) -> Adapter:
    """The adapter with a head trained for ``epochs`` epochs on ``train`` (0: the identity)."""
    training = HeadTraining(compensation, train, config)
    for _ in range(epochs):
        training.epoch()
    return training.adapter
